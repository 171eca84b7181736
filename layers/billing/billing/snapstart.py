"""Lambda SnapStart runtime hooks, one set for every function that enables SnapStart (template.yaml: the API and the
Stripe webhook receiver; docs/benchmarks.md, section 1, says why those two).

With SnapStart, Lambda runs a function's INIT once per published version, snapshots the microVM, and restores every
new execution environment from that snapshot. So whatever INIT leaves in memory is shared by all of them:

- **before the snapshot** (``before_snapshot``) we warm only what is the same for every environment and holds no
  secret: the imports the handler defers to first use (boto3, the DynamoDB attribute codec), the botocore models
  and endpoint rules of the services the function calls (loaded by clients made with throw-away credentials, then
  dropped: only the loader with its parsed JSON is kept), and the function's own warmers (the API's OpenAPI
  document, which also builds the pydantic schemas behind it);
- **after a restore** (``after_restore``) we drop everything that must be unique or fresh: ``random``'s state is
  re-seeded from the OS (the backoff jitter would otherwise repeat in every restored environment), every boto3
  client, session and resolved credential (``bootstrap.reset``: Lambda hands SnapStart functions their credentials
  through the container endpoint, and what was resolved before the snapshot may have expired), and Powertools'
  parameter cache (``secrets.forget``: a secret read before the snapshot, or a rotated one, must not be served).
  Ids need nothing: billing.domain.ids draws from ``os.urandom`` and ``secrets``, which the kernel keeps unique
  after a restore.

``snapshot_restore_py`` exists only in Lambda's managed Python runtimes: ``enable`` registers the hooks where it is
importable and does nothing elsewhere (tests call the hooks as plain functions).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from billing import bootstrap
from billing.adapters import secrets

_loader: Any = None  # botocore's data loader, warmed before the snapshot: parsed service models, no credentials


def enable(services: Iterable[str], warmers: Iterable[Callable[[], Any]] = ()) -> bool:
    """Register this module's hooks with Lambda's runtime for a function calling ``services`` (boto3 names) and
    with its own ``warmers``; False where there is no SnapStart runtime (locally, in tests)."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, tuple(services), tuple(warmers))
    register_after_restore(after_restore)
    return True


def before_snapshot(services: Iterable[str], warmers: Iterable[Callable[[], Any]] = ()) -> None:
    """Warm what every restored environment may share: deferred imports, botocore models, the function's own."""
    global _loader
    import botocore.session

    from billing.adapters import dynamodb

    dynamodb.to_item({"warm": 1})  # imports boto3 and builds the attribute codec
    session = botocore.session.get_session()
    for service in services:
        # throw-away credentials: the client is made (model, endpoint rules, client class) and never called
        session.create_client(
            service,
            region_name=session.get_config_variable("region") or "us-east-1",
            aws_access_key_id="snapshot",
            aws_secret_access_key="snapshot",  # noqa: S106 - not a secret: never sent
        )
    _loader = session.get_component("data_loader")
    for warm in warmers:
        warm()
    bootstrap.reset()  # whatever a warmer built (a client, a session) does not cross the snapshot


def after_restore() -> None:
    """Make this environment its own: fresh randomness, no client, session, credential or secret from before."""
    random.seed()  # from os.urandom
    bootstrap.reset()
    secrets.forget()
    if _loader is not None:
        import boto3
        import botocore.session

        session = botocore.session.get_session()
        session.register_component("data_loader", _loader)  # the models parsed before the snapshot, nothing else
        boto3.setup_default_session(botocore_session=session)
