"""The local stack over HTTP: a B2B customer kept in sync with a CRM, a send_invoice order paid by wire in two parts,
one of them a check that bounced (the reversal entry reopens the invoice, dunning starts over), then paid again."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.clock import advance, now, through_dunning_day
from tests.e2e.test_storefront import emails_to

BUYER = {"email": "ap@kunde.example", "name": "Kunde GmbH", "locale": "en", "currency": "eur", "external_id": "crm-77"}


def test_a_send_invoice_order_paid_by_wire_in_two_parts_and_one_bounced_check(shop):
    customer = shop.post("/v1/customers", BUYER).json()
    # the CRM renames the account and tags it; the change is found by the CRM's own id
    patched = shop.http.patch(
        f"{shop.base}/v1/customers/{customer['id']}",
        json={"name": "Kunde Holding GmbH", "metadata": {"segment": "enterprise"}},
        timeout=30,
    )
    assert patched.status_code == 200, patched.text
    [found] = shop.get("/v1/customers", external_id="crm-77").json()["data"]
    assert (found["id"], found["name"], found["metadata"]) == (
        customer["id"],
        "Kunde Holding GmbH",
        {"segment": "enterprise"},
    )

    order = {
        "customer_id": customer["id"],
        "currency": "eur",
        "lines": [{"description": "Implementation", "quantity": 1, "unit_amount": 1_200_000, "tax_rate_percent": "19"}],
        "collection_method": "send_invoice",
        "days_until_due": 30,
    }
    placed = shop.post("/v1/orders", order)
    assert placed.status_code == 201, placed.text
    invoice_id = placed.json()["invoice_id"]
    total = shop.get(f"/v1/invoices/{invoice_id}").json()["total"]
    assert total == 1_428_000
    assert [e["kind"] for e in emails_to(shop, "ap@kunde.example")] == ["invoice_issued"]

    # a first wire, three days later: part of it
    advance(shop, days=3)
    wire = {
        "amount": 428_000,
        "method": "bank_transfer",
        "reference": "SEPA-2026-0001",
        "received_at": now(shop).isoformat(),
    }
    first = shop.post(f"/v1/invoices/{invoice_id}/payments", wire)
    assert first.status_code == 201, first.text
    assert shop.post(f"/v1/invoices/{invoice_id}/payments", wire).json() == first.json()  # the ERP sent it twice
    partly = shop.get(f"/v1/invoices/{invoice_id}").json()
    assert (partly["status"], partly["amount_due"]) == ("open", 1_000_000)

    # the rest by check, which bounces two days later
    check = {"amount": 1_000_000, "method": "check", "reference": "CHK-000123", "received_at": now(shop).isoformat()}
    paid_by_check = shop.post(f"/v1/invoices/{invoice_id}/payments", check)
    assert paid_by_check.status_code == 201, paid_by_check.text
    assert shop.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid"
    receipts = [e for e in emails_to(shop, "ap@kunde.example", at_least=3) if e["kind"] == "payment_receipt"]
    assert len(receipts) == 2

    advance(shop, days=2)
    bounced = shop.post(
        f"/v1/invoices/{invoice_id}/payments/{paid_by_check.json()['id']}/reverse", {"reason": "check returned unpaid"}
    )
    assert bounced.status_code == 200, bounced.text
    assert bounced.json()["status"] == "reversed"
    reopened = shop.get(f"/v1/invoices/{invoice_id}").json()
    today = now(shop).date().isoformat()
    assert (reopened["status"], reopened["amount_paid"], reopened["amount_due"]) == ("open", 428_000, 1_000_000)
    assert reopened["due_date"] == today
    statuses = {p["reference"]: p["status"] for p in shop.get(f"/v1/invoices/{invoice_id}/payments").json()["data"]}
    assert statuses == {"SEPA-2026-0001": "succeeded", "CHK-000123": "reversed"}

    # dunning starts over from the bounce: its first step's e-mail goes out on its day
    first_step = shop.get(f"/v1/invoices/{invoice_id}/dunning").json()["steps"][0]
    assert first_step["on"] >= today
    through_dunning_day(shop, first_step["on"])
    kinds = [e["kind"] for e in emails_to(shop, "ap@kunde.example", at_least=4)]
    assert len(kinds) >= 4 and kinds[-1] != "payment_receipt", kinds

    # the customer wires the rest: paid again, and the bounced check's reference stays used
    wire2 = {
        "amount": 1_000_000,
        "method": "bank_transfer",
        "reference": "SEPA-2026-0002",
        "received_at": now(shop).isoformat(),
    }
    assert shop.post(f"/v1/invoices/{invoice_id}/payments", wire2).status_code == 201
    assert shop.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid"
    again = shop.post(
        f"/v1/invoices/{invoice_id}/payments", {**check, "received_at": (now(shop) - timedelta(hours=1)).isoformat()}
    )
    assert again.status_code == 409 and again.json()["code"] == "payment_reference_used"
