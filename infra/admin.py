"""Admin commands for operators: tenants and their API keys, and reconciliation with Stripe over any window.

    python -m infra.admin create-tenant --name "Acme Cloud" [--number-format "INV-{yyyy}-{seq:06}"] [--reply-to …]
    python -m infra.admin add-key --tenant ten_…
    python -m infra.admin set-rate-limit --tenant ten_… --limit 500/1000   (or --limit default)
    python -m infra.admin reconcile --since 2026-11-01T00:00:00Z
    python -m infra.admin replay-outbox --since 2026-11-01T00:00:00Z --until 2026-11-01T06:00:00Z
    python -m infra.admin replay-outbox --from-dlq <OutboxRelayDLQUrl>
    python -m infra.admin backfill-customer-lists

It talks to the table named by ``TABLE_NAME`` through boto3's usual configuration (``AWS_PROFILE``/``AWS_REGION``,
and ``AWS_ENDPOINT_URL`` for the local stack: ``make serve`` writes all three into .local/stack.json). The API key
is printed once; only its SHA-256 is stored. ``reconcile`` also reads Stripe's key from the SSM parameter named by
``STRIPE_SECRET_KEY_PARAM`` (as the functions do) and prints what it repaired. ``replay-outbox`` hands the domain
events of a window (or of each stream batch the relay gave up on, from its DLQ, deleting each message once
replayed) to the queues again, named as the relay's environment names them (``NOTIFICATIONS_QUEUE_URL``,
``COLLECTIONS_QUEUE_URL``, ``DOCUMENTS_QUEUE_URL``, ``WEBHOOK_EVENTS_QUEUE_URL``, ``NUMBERING_QUEUE_URL``: the stack's
outputs), and puts the public ones on the event bus again when ``EVENT_BUS_NAME`` names it (the ``EventBusName``
output; consumers dedupe on the event id).
``backfill-customer-lists`` puts the customers saved before ``GET /v1/customers`` existed on its lists (a Scan; safe
to run again). What a command writes is on the audit trail as done by ``{"type": "admin_command", "id": <the
command>}``: ``add-key`` and ``create-tenant`` write ``api_key.created`` (the key's id, never the key).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from billing import bootstrap
from billing.actor import acting
from billing.domain.errors import DomainError
from billing.observability import logger
from billing.services import customers, outbox, reconciliation, settings, tenants
from billing.services.unit import Context


@contextlib.contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """The functions' log lines (written to stdout, for Lambda) go to stderr while a command prints its answer."""
    handlers = [h for h in logging.getLogger(logger.name).handlers if isinstance(h, logging.StreamHandler)]
    before = [h.setStream(sys.stderr) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, before, strict=True):
            handler.setStream(stream)


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError("give the instant with its UTC offset, e.g. 2026-11-01T00:00:00Z")
    return instant


def _replay(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    deps = bootstrap.deps()
    if args.since:
        until = args.until or ctx.clock.now()
        done = outbox.replay(ctx, args.since, until, dict(os.environ), deps.publisher, deps.event_bus)
        return {"since": args.since.isoformat(), "until": until.isoformat(), **done}
    sqs, batches, replayed = deps.client("sqs"), 0, {"events": 0, "messages": 0, "published": 0}
    while messages := sqs.receive_message(QueueUrl=args.from_dlq, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            since, until = outbox.failed_batch_window(json.loads(message["Body"]))
            done = outbox.replay(ctx, since, until, dict(os.environ), deps.publisher, deps.event_bus)
            replayed = {k: replayed[k] + done[k] for k in replayed}
            sqs.delete_message(QueueUrl=args.from_dlq, ReceiptHandle=message["ReceiptHandle"])
            batches += 1
    return {"failed_batches": batches, **replayed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant", help="create a tenant and its first API key")
    create.add_argument("--name", required=True)
    create.add_argument("--number-format", default="INV-{yyyy}-{seq:06}")
    create.add_argument("--reply-to", default=None)
    add_key = commands.add_parser("add-key", help="issue another API key for a tenant")
    add_key.add_argument("--tenant", required=True)
    rate = commands.add_parser("set-rate-limit", help="give a tenant its own API rate limit, or the stack's again")
    rate.add_argument("--tenant", required=True)
    rate.add_argument("--limit", required=True, help="<rate>/<burst> (requests a second, in one second), or default")
    reconcile = commands.add_parser("reconcile", help="repair payments, refunds and disputes from Stripe since …")
    reconcile.add_argument("--since", required=True, type=_instant, help="ISO 8601 instant with its offset")
    replay = commands.add_parser("replay-outbox", help="relay domain events again: a window, or the relay's DLQ")
    window = replay.add_mutually_exclusive_group(required=True)
    window.add_argument("--since", type=_instant, help="ISO 8601 instant with its offset (with --until)")
    window.add_argument("--from-dlq", metavar="QUEUE_URL", help="the relay's DLQ (the OutboxRelayDLQUrl output)")
    replay.add_argument("--until", type=_instant, help="ISO 8601 instant with its offset (default: now)")
    commands.add_parser("backfill-customer-lists", help="list the customers saved before GET /v1/customers existed")
    args = parser.parse_args(argv)
    if "TABLE_NAME" not in os.environ:
        parser.error("set TABLE_NAME (and AWS_ENDPOINT_URL for the local stack)")
    if args.command == "replay-outbox" and (missing := sorted(set(outbox.ROUTES) - set(os.environ))):
        parser.error(f"set {', '.join(missing)} (the stack's queue URLs)")
    ctx = bootstrap.deps().context
    try:
        with acting("admin_command", args.command):  # what an operator's command writes, the command did
            return _run(ctx, args)
    except DomainError as error:
        print(f"{error.code}: {error.detail}", file=sys.stderr)
        return 1


def _key_id(api_key: str) -> str:
    """The key's public id: how the audit trail names what was done with it."""
    return tenants.key_id(tenants.hash_key(api_key))


def _run(ctx: Context, args: argparse.Namespace) -> int:
    if args.command == "create-tenant":
        tenant, api_key = tenants.create_tenant(ctx, args.name, args.number_format, args.reply_to)
        named = {"tenant_id": tenant.id, "name": tenant.name, "api_key": api_key, "key_id": _key_id(api_key)}
        print(json.dumps(named, indent=2))
    elif args.command == "reconcile":
        with _logs_to_stderr():  # stdout is the report
            report = reconciliation.reconcile_since(ctx, bootstrap.deps().stripe, args.since)
        print(json.dumps({"since": args.since.isoformat(), **report}, indent=2))
    elif args.command == "set-rate-limit":
        limit = settings.set_rate_limit(ctx, args.tenant, None if args.limit == "default" else args.limit)
        print(json.dumps({"tenant_id": args.tenant, "rate_limit": limit or "default"}, indent=2))
    elif args.command == "backfill-customer-lists":
        print(json.dumps({"customers_listed": customers.backfill_lists(ctx)}, indent=2))
    elif args.command == "replay-outbox":
        with _logs_to_stderr():
            print(json.dumps(_replay(ctx, args), indent=2))
    else:
        if ctx.repo.tenant(args.tenant) is None:
            print(f"no tenant {args.tenant}", file=sys.stderr)
            return 1
        api_key = tenants.add_api_key(ctx, args.tenant)
        print(json.dumps({"tenant_id": args.tenant, "api_key": api_key, "key_id": _key_id(api_key)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
