"""Admin commands for operators: tenants and their API keys, and reconciliation with Stripe over any window.

    python -m infra.admin create-tenant --name "Acme Cloud" [--number-format "INV-{yyyy}-{seq:06}"] [--reply-to …]
    python -m infra.admin add-key --tenant ten_…
    python -m infra.admin reconcile --since 2026-11-01T00:00:00Z

It talks to the table named by ``TABLE_NAME`` through boto3's usual configuration (``AWS_PROFILE``/``AWS_REGION``,
and ``AWS_ENDPOINT_URL`` for the local stack: ``make serve`` writes all three into .local/stack.json). The API key
is printed once; only its SHA-256 is stored. ``reconcile`` also reads Stripe's key from the SSM parameter named by
``STRIPE_SECRET_KEY_PARAM`` (as the functions do) and prints what it repaired.
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

from billing import bootstrap
from billing.domain.errors import DomainError
from billing.observability import logger
from billing.services import reconciliation, tenants


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant", help="create a tenant and its first API key")
    create.add_argument("--name", required=True)
    create.add_argument("--number-format", default="INV-{yyyy}-{seq:06}")
    create.add_argument("--reply-to", default=None)
    add_key = commands.add_parser("add-key", help="issue another API key for a tenant")
    add_key.add_argument("--tenant", required=True)
    reconcile = commands.add_parser("reconcile", help="repair payments, refunds and disputes from Stripe since …")
    reconcile.add_argument("--since", required=True, type=_instant, help="ISO 8601 instant with its offset")
    args = parser.parse_args(argv)
    if "TABLE_NAME" not in os.environ:
        parser.error("set TABLE_NAME (and AWS_ENDPOINT_URL for the local stack)")
    ctx = bootstrap.deps().context
    try:
        if args.command == "create-tenant":
            tenant, api_key = tenants.create_tenant(ctx, args.name, args.number_format, args.reply_to)
            print(json.dumps({"tenant_id": tenant.id, "name": tenant.name, "api_key": api_key}, indent=2))
        elif args.command == "reconcile":
            with _logs_to_stderr():  # stdout is the report
                report = reconciliation.reconcile_since(ctx, bootstrap.deps().stripe, args.since)
            print(json.dumps({"since": args.since.isoformat(), **report}, indent=2))
        else:
            if ctx.repo.tenant(args.tenant) is None:
                print(f"no tenant {args.tenant}", file=sys.stderr)
                return 1
            print(json.dumps({"tenant_id": args.tenant, "api_key": tenants.add_api_key(ctx, args.tenant)}, indent=2))
    except DomainError as error:
        print(f"{error.code}: {error.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
