"""The demo's main job, played over HTTP as a storefront would: three customers (en, zh, ru) order, their invoices
are numbered and emailed, and the clock moves to the daily dunning sweep of the invoices' first dunning step, which
reminds each customer. Everything is read back over HTTP and from the local SES; nothing assumes a date or an hour:
the day comes from the invoices' own dunning timelines, the moment from the sweep's schedule.

``make demo`` plays it against a fresh stack (infra/local/__main__.py); the tests play it from start instants that
break naive code (tests/e2e/test_start_instants.py)."""

from __future__ import annotations

import html.parser
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import requests


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

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.put(self.base + path, json=body)
        if answer.status_code >= 400:
            raise SystemExit(f"PUT {path} -> {answer.status_code} {answer.text}")
        return answer.json()

    def get(self, path: str) -> dict[str, Any]:
        answer = self.http.get(self.base + path)
        answer.raise_for_status()
        return answer.json()


def save_pdf(shop: Storefront, invoice: dict[str, Any], directory: Path) -> Path:
    """The invoice's PDF, fetched as a storefront would (the API's redirect to a short-lived link), saved."""
    answer = shop.http.get(f"{shop.base}/v1/invoices/{invoice['id']}/pdf")
    if answer.status_code == 409:  # still being rendered: let the local queues run, then ask again
        shop.post("/_local/drain")
        answer = shop.http.get(f"{shop.base}/v1/invoices/{invoice['id']}/pdf")
    if answer.status_code != 200 or not answer.content.startswith(b"%PDF"):
        raise SystemExit(f"GET /v1/invoices/{invoice['id']}/pdf -> {answer.status_code} {answer.text[:200]}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{invoice['number']}-{invoice['customer_locale']}.pdf"
    path.write_bytes(answer.content)
    return path


def money(amount: int, currency: str) -> str:
    from billing.i18n import format_money

    return format_money(amount, currency, "en")


BUYERS: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, str] | None]] = [
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


SELLER = {
    "legal_name": "Acme Cloud Inc.",
    "address": {
        "line1": "500 Market Street",
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94105",
        "country": "US",
    },
    "tax_id": "US 12-3456789",
    "support_email": "billing@acme-cloud.example",
    "footer": "Acme Cloud Inc. · Thank you for your business.",
}


@dataclass
class Played:
    invoices: list[dict[str, Any]]  # as read back at the end
    invoice_emails: list[dict[str, Any]]
    reminders: list[dict[str, Any]]
    pdfs: list[Path]
    portal_ok: bool
    dashboard_ok: bool

    @property
    def ok(self) -> bool:
        n = len(BUYERS)
        return (
            len(self.invoices) == len(self.invoice_emails) == len(self.reminders) == len(self.pdfs) == n
            and all(i["past_due"] for i in self.invoices)
            and self.portal_ok
            and self.dashboard_ok
        )


def play(api_url: str, api_key: str, documents_dir: Path) -> Played:
    """Play the main job against the stack at ``api_url`` as the tenant of ``api_key``, printing what happens; the
    invoices' PDFs are saved in ``documents_dir``."""
    shop = Storefront(api_url, api_key)
    shop.put("/v1/settings/profile", SELLER)
    addresses = {customer["email"] for customer, _, _ in BUYERS}

    def emails(kind: str) -> list[dict[str, Any]]:
        """The emails of ``kind`` the local SES sent to the demo's customers (the log knows each one's kind)."""
        sent = shop.get("/_local/emails")["emails"]
        return [e for e in sent if addresses & set(e["to"]) and e["kind"] == kind]

    invoices = []
    for customer_body, lines, discount in BUYERS:
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
    shop.post("/_local/drain")
    issued = emails("invoice_issued")
    print(f"\n● The notifier sent {len(issued)} 'invoice issued' emails; read back from the local SES:\n")
    for email in issued:
        print_email(email)
    # Each invoice's dunning timeline says on which day its first step (a reminder) falls; the daily sweep that
    # runs on the last of those days finds all three.
    day = max(date.fromisoformat(shop.get(f"/v1/invoices/{i['id']}/dunning")["steps"][0]["on"]) for i in invoices)
    print(f"\n● The invoices' first dunning step falls on {day}: moving the local clock to that day's dunning sweep …")
    after = datetime.combine(day, time(0), UTC).isoformat()
    advanced = shop.post("/_local/clock/advance", {"to_next": "dunning-sweep", "after": after})
    [sweeps] = [s for name, s in advanced["schedules"].items() if name.endswith("dunning-sweep")]
    print(f"  now {advanced['now']}; {advanced['fires']} schedule fires, the last sweep at {sweeps['last']}")
    reminders = emails("dunning_reminder")
    print(f"\n● {len(reminders)} payment reminders followed:\n")
    for email in reminders:
        print_email(email)
    pdfs = [save_pdf(shop, invoice, documents_dir) for invoice in invoices]
    print("\n● Each invoice's PDF, the legal document as issued (GET /v1/invoices/{id}/pdf):")
    for invoice, path in zip(invoices, pdfs, strict=True):
        print(f"  {invoice['customer_locale']}: {path}")
    first = invoices[0]
    portal = shop.post(f"/v1/customers/{first['customer_id']}/portal_sessions", {"return_url": "https://shop.example/"})
    portal_ok = first["number"] in shop.http.get(portal["url"]).text
    print(
        f"\n● {first['customer_name']}'s billing portal (all their bills, PDFs, paying, their card), open for an hour "
        f"while the stack runs:\n  {portal['url']}"
    )
    dashboard = shop.post("/v1/dashboard_sessions", {"locale": "en"})
    print(
        "\n● The finance dashboard (receivables aging, MRR, invoiced and collected, dunning, each with its CSV), open "
        f"for 30 minutes; its figures are the analytics export's (it says how fresh):\n  {dashboard['url']}"
    )
    aging = shop.get("/v1/reports/aging")  # what its aging table shows, from the same report
    owing = sorted(row["customer_name"] for row in aging["customers"])
    print(f"  its receivables aging, data through {aging['data_through']}: {', '.join(owing) or 'nobody'} owing")
    played = Played(
        [shop.get(f"/v1/invoices/{i['id']}") for i in invoices],
        issued,
        reminders,
        pdfs,
        portal_ok,
        dashboard_ok=len(owing) == len(BUYERS),
    )
    numbers = [inv["number"] for inv in played.invoices]
    print(
        f"\n{'✔' if played.ok else '✘'} {len(invoices)} orders → invoices {', '.join(numbers)}; "
        f"{len(issued)} invoice emails and {len(reminders)} reminders delivered."
    )
    return played
