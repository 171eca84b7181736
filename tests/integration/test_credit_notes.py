"""Credit notes without refund on moto, through the API handler: a credit lowers what an open invoice owes (in
full: paid by it, no longer chased), or credits the customer's balance (a paid invoice's, taken off the next
invoice); numbered in the credit note series; a taxed invoice's credit split into net and tax; every refusal a
problem that writes nothing; the credit note's e-mail and PDF say which."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing.adapters import keys
from billing.services import documents
from tests.integration.conftest import DOCUMENTS_BUCKET
from tests.integration.test_invoice_items import balance_of, get, ledger, order, table_size
from tests.integration.test_workers import call, outbox

pytestmark = pytest.mark.usefixtures("deps")
CUSTOMER = {"email": "ana@example.com", "name": "Ana", "locale": "en", "currency": "usd"}


@pytest.fixture
def cus(key: str) -> str:
    status, body = call("POST", "/v1/customers", key, CUSTOMER)
    assert status == 201, body
    return body["id"]


def credit(key: str, invoice_id: str, **body: Any) -> tuple[int, Any]:
    return call("POST", f"/v1/invoices/{invoice_id}/credit_notes", key, {"reason": "order_change", **body})


def paid_invoice(key: str, cus: str, amount: int = 10_000) -> dict[str, Any]:
    invoice = order(key, cus, amount)
    wire = {
        "amount": amount,
        "method": "bank_transfer",
        "reference": f"W-{invoice['id']}",
        "received_at": "2026-11-23T11:00:00Z",
    }
    status, body = call("POST", f"/v1/invoices/{invoice['id']}/payments", key, wire)
    assert status == 201, body
    return get(key, f"/v1/invoices/{invoice['id']}")[1]


def test_credit_notes_lower_an_open_invoice_until_it_is_paid_by_them(key, tenant_id, cus):
    invoice = order(key, cus)
    assert invoice["dunning"]["attention_on"] is not None
    status, first = credit(key, invoice["id"], amount=4_000, credit_to="invoice", memo="Two seats never used")
    assert status == 201, first
    assert (first["kind"], first["credit_to"], first["number"], first["refunds"]) == (
        "credit",
        "invoice",
        "CN-2026-000001",
        [],
    )
    after = get(key, f"/v1/invoices/{invoice['id']}")[1]
    assert (after["status"], after["amount_due"], after["amount_credited"]) == ("open", 6_000, 4_000)
    status, second = credit(
        key, invoice["id"], lines=[{"description": "Setup not needed", "amount": 6_000}], credit_to="invoice"
    )
    assert status == 201, second
    assert second["number"] == "CN-2026-000002" and second["amount"] == 6_000
    assert second["lines"] == [{"description": "Setup not needed", "amount": 6_000}]
    paid = get(key, f"/v1/invoices/{invoice['id']}")[1]
    assert (paid["status"], paid["amount_due"], paid["amount_paid"]) == ("paid", 0, 0)
    assert outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.paid")  # paid by credit note: dunning stops
    notes = get(key, f"/v1/invoices/{invoice['id']}/credit_notes")[1]["data"]
    assert sorted(n["number"] for n in notes) == ["CN-2026-000001", "CN-2026-000002"]
    assert balance_of(key, cus) == 0  # nothing went to the balance
    status, refused = credit(key, invoice["id"], amount=1, credit_to="balance")
    assert (status, refused["code"]) == (422, "credit_exceeds_invoice_total")


def test_a_credit_to_the_balance_of_a_paid_invoice_is_taken_off_the_next_invoice(clock, key, cus):
    invoice = paid_invoice(key, cus)
    status, note = credit(key, invoice["id"], amount=2_500, credit_to="balance", reason="product_unsatisfactory")
    assert status == 201, note
    assert (note["credit_to"], note["reason"]) == ("balance", "product_unsatisfactory")
    assert get(key, f"/v1/invoices/{invoice['id']}")[1]["status"] == "paid"  # what it owed is as it was
    assert balance_of(key, cus) == 2_500
    clock.advance(timedelta(seconds=1))  # the ledger lists by time: a later millisecond
    following = order(key, cus, 4_000)
    assert (following["credit_applied"], following["amount_due"]) == (2_500, 1_500)
    entries = ledger(key, cus)
    assert [(e["type"], e["amount"]) for e in entries] == [("applied_to_invoice", -2_500), ("credit_note", 2_500)]
    assert entries[-1]["credit_note_id"] == note["id"]
    assert sum(e["amount"] for e in entries) == balance_of(key, cus) == 0


def test_a_taxed_invoices_credit_is_split_into_net_and_tax_in_its_proportions(key, cus):
    body = {
        "customer_id": cus,
        "currency": "usd",
        "lines": [{"description": "Licence", "quantity": 1, "unit_amount": 10_000, "tax_rate_percent": "20"}],
        "collection_method": "send_invoice",
    }
    status, placed = call("POST", "/v1/orders", key, body)
    assert status == 201, placed
    invoice = get(key, f"/v1/invoices/{placed['invoice_id']}")[1]
    assert (invoice["total"], invoice["tax"]) == (12_000, 2_000)
    status, note = credit(key, invoice["id"], amount=5_000, credit_to="invoice")
    assert status == 201, note
    # 5,000 x 10,000/12,000 = 4,166.67 and 5,000 x 2,000/12,000 = 833.33: the largest remainder gets the unit
    assert (note["net_amount"], note["tax_amount"]) == (4_167, 833)
    status, rest = credit(key, invoice["id"], amount=7_000, credit_to="invoice")
    assert (rest["net_amount"] + note["net_amount"], rest["tax_amount"] + note["tax_amount"]) == (10_000, 2_000)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 10_001, "credit_to": "invoice"}, 422, "credit_exceeds_amount_due"),
        ({"amount": 0, "credit_to": "invoice"}, 422, "invalid_request"),
        ({"amount": 100, "credit_to": "card"}, 422, "invalid_request"),
        (
            {"amount": 100, "lines": [{"description": "x", "amount": 100}], "credit_to": "invoice"},
            422,
            "invalid_request",
        ),
        ({"credit_to": "invoice"}, 422, "invalid_request"),
        ({"amount": 100, "credit_to": "invoice", "reason": "fraudulent"}, 422, "invalid_request"),
        ({"lines": [{"description": "x", "amount": -5}], "credit_to": "balance"}, 422, "invalid_request"),
        ({"amount": 10_001, "credit_to": "balance"}, 422, "credit_exceeds_invoice_total"),
    ],
)
def test_a_bad_credit_note_is_refused_and_writes_nothing(key, cus, body, status, code):
    invoice = order(key, cus)
    before = table_size()
    answer = credit(key, invoice["id"], **body)
    assert answer[0] == status and answer[1]["code"] == code, answer
    assert table_size() == before


def test_a_paid_or_void_invoice_takes_no_credit_against_what_it_owes(key, cus):
    paid = paid_invoice(key, cus)
    status, refused = credit(key, paid["id"], amount=100, credit_to="invoice")
    assert (status, refused["code"]) == (409, "invoice_not_open")
    voided = order(key, cus)
    assert call("POST", f"/v1/invoices/{voided['id']}/void", key)[0] == 200
    status, refused = credit(key, voided["id"], amount=100, credit_to="balance")
    assert (status, refused["code"]) == (409, "invoice_not_creditable")
    assert credit(key, "in_nope", amount=100, credit_to="balance")[1]["code"] == "invoice_not_found"


def test_the_credit_notes_pdf_says_it_credited_without_refund(deps, key, tenant_id, cus):
    invoice = order(key, cus)
    status, note = credit(key, invoice["id"], amount=2_000, credit_to="balance", memo="Sorry for the outage")
    assert status == 201, note
    (issued,) = [
        e for e in deps.context.repo.events(keys.invoice(tenant_id, invoice["id"])) if e.type == "credit_note.issued"
    ]
    documents.render_for(deps.context, deps.documents, issued, None)
    pdf_key = deps.context.repo.credit_note_by_id(tenant_id, note["id"]).pdf_key
    body = boto3.client("s3").get_object(Bucket=DOCUMENTS_BUCKET, Key=pdf_key)["Body"].read()
    assert body.startswith(b"%PDF")
