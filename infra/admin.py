"""Admin commands for operators: tenants and their API keys.

    python -m infra.admin create-tenant --name "Acme Cloud" [--number-format "INV-{yyyy}-{seq:06}"] [--reply-to …]
    python -m infra.admin add-key --tenant ten_…

It talks to the table named by ``TABLE_NAME`` through boto3's usual configuration (``AWS_PROFILE``/``AWS_REGION``,
and ``AWS_ENDPOINT_URL`` for the local stack: ``make serve`` writes all three into .local/stack.json). The API key
is printed once; only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from billing import bootstrap
from billing.domain.errors import DomainError
from billing.services import tenants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant", help="create a tenant and its first API key")
    create.add_argument("--name", required=True)
    create.add_argument("--number-format", default="INV-{yyyy}-{seq:06}")
    create.add_argument("--reply-to", default=None)
    add_key = commands.add_parser("add-key", help="issue another API key for a tenant")
    add_key.add_argument("--tenant", required=True)
    args = parser.parse_args(argv)
    if "TABLE_NAME" not in os.environ:
        parser.error("set TABLE_NAME (and AWS_ENDPOINT_URL for the local stack)")
    ctx = bootstrap.deps().context
    try:
        if args.command == "create-tenant":
            tenant, api_key = tenants.create_tenant(ctx, args.name, args.number_format, args.reply_to)
            print(json.dumps({"tenant_id": tenant.id, "name": tenant.name, "api_key": api_key}, indent=2))
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
