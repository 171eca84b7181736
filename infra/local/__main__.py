"""The local stack, no Docker and no cloud account.

python -m infra.local demo    start everything, play the main job as a storefront would, print the emails
python -m infra.local serve   start everything on 127.0.0.1 and keep it running for a storefront under
                              development; writes .local/stack.json (API URL, API key, AWS and Stripe endpoints)

Both take --start 2026-12-31T23:58:00Z (or BILLING_LOCAL_START in the environment): the instant the stack's clock
starts at, which then runs on and moves forward on request. Without it, the stack starts at the real time.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import logging
import os
import re
import signal
import sys
import threading
import uuid
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import requests

from billing import bootstrap
from billing.services import tenants
from infra.local.clock_moves import BadMove, instant
from infra.local.stack import LocalStack
from infra.local.template import ROOT

STATE = ROOT / ".local"


class _Text(html.parser.HTMLParser):
    """HTML email -> readable terminal text."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "head", "title"):
            self.skip += 1
        if tag in ("br", "p", "tr", "h1", "h2", "h3", "li", "div", "table"):
            self.parts.append("\n")
        if tag == "a" and (href := dict(attrs).get("href")):
            self.parts.append(f" <{href}> ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "head", "title"):
            self.skip -= 1
        if tag in ("td", "th"):
            self.parts.append("  ")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data.replace("\n", " "))


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line)


def print_email(email: dict[str, Any]) -> None:
    print(f"  ┌─ To: {', '.join(email['to'])}   From: {email['from']}")
    print(f"  │  Subject: {email['subject']}")
    for line in html_to_text(email["html"]).splitlines():
        print(f"  │  {line}")
    print("  └─")


def create_tenant(stack: LocalStack, name: str) -> tuple[str, str]:
    from billing.services.unit import Context

    deps = stack.runtime.deps["ApiFunction"]
    bootstrap.use(deps)
    ctx: Context = deps.context
    tenant, api_key = tenants.create_tenant(ctx, name)
    return tenant.id, api_key


class Storefront:
    """What a tenant's shop does: plain HTTP with its API key."""

    def __init__(self, base: str, api_key: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_key}"

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.http.post(self.base + path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        if answer.status_code >= 400:
            raise SystemExit(f"POST {path} -> {answer.status_code} {answer.text}")
        return answer.json()

    def get(self, path: str) -> dict[str, Any]:
        answer = self.http.get(self.base + path)
        answer.raise_for_status()
        return answer.json()


def money(amount: int, currency: str) -> str:
    from billing.notifications.render import format_money

    return format_money(amount, currency, "en")


def demo(stack: LocalStack) -> int:
    tenant_id, api_key = create_tenant(stack, "Acme Cloud")
    print(f"● Local stack up: API {stack.api_url}, AWS (moto) {stack.runtime.aws_endpoint}, Stripe {stack.stripe_url}")
    print(f"● The stack's clock reads {stack.runtime.now():%Y-%m-%d %H:%M:%S} UTC")
    print(f"● Tenant 'Acme Cloud' created by the admin command: {tenant_id}")
    shop = Storefront(stack.api_url, api_key)
    buyers = [
        (
            {"email": "ana@example.com", "name": "Ana Lima", "locale": "en", "currency": "usd"},
            [
                {"description": "Pro plan, monthly", "quantity": 1, "unit_amount": 4900, "tax_rate_percent": "8.25"},
                {"description": "Extra seats", "quantity": 3, "unit_amount": 1200, "tax_rate_percent": "8.25"},
            ],
            {"percent_off": "10"},
        ),
        (
            {"email": "li.wei@example.com", "name": "李伟", "locale": "zh", "currency": "cny"},
            [{"description": "专业版年度订阅", "quantity": 1, "unit_amount": 298800, "tax_rate_percent": "6"}],
            None,
        ),
        (
            {"email": "olga@example.com", "name": "Ольга Иванова", "locale": "ru", "currency": "rub"},
            [{"description": "Тариф «Команда»", "quantity": 5, "unit_amount": 99000, "tax_rate_percent": "20"}],
            None,
        ),
    ]
    invoices = []
    for customer_body, lines, discount in buyers:
        customer = shop.post("/v1/customers", customer_body)
        order = shop.post(
            "/v1/orders",
            {
                "customer_id": customer["id"],
                "currency": customer_body["currency"],
                "lines": lines,
                "collection_method": "send_invoice",
                "days_until_due": 14,
                **({"discount": discount} if discount else {}),
            },
        )
        invoice = shop.get(f"/v1/invoices/{order['invoice_id']}")
        invoices.append(invoice)
        print(
            f"● {customer['name']} ({customer['locale']}): order {order['id']} → invoice {invoice['number']}, "
            f"{invoice['status']}, total {money(invoice['total'], invoice['currency'])} "
            f"(subtotal {invoice['subtotal']} − discount {invoice['discount']} + tax {invoice['tax']}), "
            f"due {invoice['due_date']}"
        )
    shop.http.post(f"{stack.api_url}/_local/drain")
    emails = shop.get("/_local/emails")["emails"]
    print(f"\n● The notifier sent {len(emails)} 'invoice issued' emails; read back from the local SES:\n")
    for email in emails:
        print_email(email)
    # Each invoice's dunning timeline says on which day its first step (a reminder) falls; the daily sweep that
    # runs on the last of those days finds all three.
    first_steps = [date.fromisoformat(shop.get(f"/v1/invoices/{i['id']}/dunning")["steps"][0]["on"]) for i in invoices]
    day = max(first_steps)
    print(f"\n● The invoices' first dunning step falls on {day}: moving the local clock to that day's dunning sweep …")
    after = datetime.combine(day, time(0), UTC).isoformat()
    advanced = shop.post("/_local/clock/advance", {"to_next": "dunning-sweep", "after": after})
    sweeps = [f["scheduled_time"] for f in advanced["fired"] if f["schedule"].endswith("dunning-sweep")]
    print(f"  now {advanced['now']}; {len(advanced['fired'])} schedule fires, the last sweep at {sweeps[-1]}")
    reminders = shop.get("/_local/emails")["emails"][len(emails) :]
    print(f"\n● {len(reminders)} payment reminders followed:\n")
    for email in reminders:
        print_email(email)
    overdue = [shop.get(f"/v1/invoices/{inv['id']}") for inv in invoices]
    ok = len(emails) == len(invoices) and len(reminders) == len(invoices) and all(i["past_due"] for i in overdue)
    numbers = [inv["number"] for inv in invoices]
    print(
        f"\n{'✔' if ok else '✘'} {len(invoices)} orders → invoices {', '.join(numbers)}; "
        f"{len(emails)} invoice emails and {len(reminders)} reminders delivered."
    )
    return 0 if ok else 1


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
