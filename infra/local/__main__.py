"""The local stack, no Docker and no cloud account.

python -m infra.local demo    start everything, play the main job as a storefront would, print the emails
python -m infra.local serve   start everything on 127.0.0.1 and keep it running for a storefront under
                              development; writes .local/stack.json (API URL, API key, AWS and Stripe endpoints)

Both take --start 2026-12-31T23:58:00Z (or BILLING_LOCAL_START in the environment): the instant the stack's clock
starts at, which then runs on and moves forward on request. Without it, the stack starts at the real time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from billing import bootstrap
from billing.services import tenants
from infra.local.clock_moves import BadMove, instant
from infra.local.demo import play
from infra.local.stack import LocalStack
from infra.local.template import ROOT

STATE = ROOT / ".local"


def create_tenant(stack: LocalStack, name: str) -> tuple[str, str]:
    from billing.actor import acting
    from billing.services.unit import Context

    deps = stack.runtime.deps["ApiFunction"]
    bootstrap.use(deps)
    ctx: Context = deps.context
    with acting("admin_command", "create-tenant"):  # as `python -m infra.admin create-tenant` would
        tenant, api_key = tenants.create_tenant(ctx, name)
    return tenant.id, api_key


def demo(stack: LocalStack) -> int:
    tenant_id, api_key = create_tenant(stack, "Acme Cloud")
    print(f"● Local stack up: API {stack.api_url}, AWS (moto) {stack.runtime.aws_endpoint}, Stripe {stack.stripe_url}")
    print(f"● The stack's clock reads {stack.runtime.now():%Y-%m-%d %H:%M:%S} UTC")
    print(f"● Tenant 'Acme Cloud' created by the admin command: {tenant_id}")
    return 0 if play(stack.api_url, api_key, STATE / "demo" / "documents").ok else 1


def serve_forever(stack: LocalStack, out: Path) -> int:
    tenant_id, api_key = create_tenant(stack, "Local Tenant")
    description = stack.describe(tenant_id, api_key)
    stack.write_description(out, description)
    print(json.dumps(description, indent=2))
    print(f"\nLocal stack serving; description in {out}. Ctrl-C to stop.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    return 0


def start_instant(text: str) -> datetime:
    try:
        return instant(text, "--start")
    except BadMove as bad:
        raise argparse.ArgumentTypeError(bad.detail) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_command = commands.add_parser("demo", help="play the main job end to end and print what the customers receive")
    serve = commands.add_parser("serve", help="run the stack for a storefront under development")
    for command in (demo_command, serve):
        command.add_argument(
            "--start",
            type=start_instant,
            default=os.environ.get("BILLING_LOCAL_START") or None,
            help="the instant the stack's clock starts at, e.g. 2026-12-31T23:58:00Z (default: $BILLING_LOCAL_START, "
            "else now)",
        )
    serve.add_argument("--port", type=int, default=8710, help="API port on 127.0.0.1 (0: any free port)")
    serve.add_argument("--out", type=Path, default=STATE / "stack.json", help="where to write the description")
    serve.add_argument("--state-dir", type=Path, default=STATE / "serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.command == "demo":
        stack = LocalStack(STATE / "demo").start(background=False, at=args.start)
        try:
            return demo(stack)
        finally:
            stack.stop()
    stack = LocalStack(args.state_dir).start(api_port=args.port, at=args.start)
    try:
        return serve_forever(stack, args.out)
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
