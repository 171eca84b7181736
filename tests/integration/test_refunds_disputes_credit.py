"""Refunds as credit notes, refunds made in Stripe, disputes, and overpayments kept as customer credit."""

from __future__ import annotations

import json

import pytest

from billing.adapters import keys
from billing.services import notifications, outbox, payments, stripe_events
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event


class FakeStripe:
    """Stripe as far as these flows need it; refunds are idempotent on their key, as Stripe's are."""

    def __init__(self):
        self.refunds: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}

    def refund(self, payment_intent_id, amount, reason, key, metadata=None, *, currency):
        return self.refunds.setdefault(
            key,
            {
                "id": f"re_{len(self.refunds) + 1}",
                "object": "refund",
                "status": "succeeded",
                "amount": amount,
                "payment_intent": payment_intent_id,
                "reason": reason,
                "metadata": metadata or {},
            },
        )

    def payment_intent(self, payment_intent_id):
        return self.intents[payment_intent_id]

    def charge(self, charge_id):
        return self.charges[charge_id]

    def dispute(self, dispute_id):
        return self.disputes[dispute_id]


@pytest.fixture
def stripe_fake(deps):
    fake = FakeStripe()
    deps.__dict__["stripe"] = fake
    return fake


def call(method, path, key, body=None, headers=None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def open_invoice(key, customer_id, amount=5304):
    """An open send_invoice invoice of ``amount`` for the customer, as the API answers it."""
    order = call(
        "POST",
        "/v1/orders",
        key,
        {
            "customer_id": customer_id,
            "currency": "usd",
            "collection_method": "send_invoice",
            "lines": [{"description": "Plan", "quantity": 1, "unit_amount": amount}],
        },
    )[1]
    return call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]


def paid_invoice(deps, key, stripe_fake, amount=5000, received=None, customer_id=None):
    if customer_id is None:
        customer_id = call(
            "POST", "/v1/customers", key, {"email": "p@example.com", "name": "P", "locale": "en", "currency": "usd"}
        )[1]["id"]
    invoice = open_invoice(key, customer_id, amount)
    tenant_id = invoice["tenant_id"]
    pi_id = f"pi_{len(stripe_fake.intents) + 1}"
    pay_id = payments.payment_id(invoice["id"], f"pi-{pi_id}")
    intent = {
        "id": pi_id,
        "status": "succeeded",
        "amount": received or invoice["amount_due"],
        "amount_received": received or invoice["amount_due"],
        "currency": "usd",
        "metadata": {"tenant_id": tenant_id, "invoice_id": invoice["id"], "payment_id": pay_id},
    }
    stripe_fake.intents[pi_id] = intent
    payments.apply_payment_intent(deps.context, tenant_id, invoice["id"], pay_id, intent)
    return call("GET", f"/v1/invoices/{invoice['id']}", key)[1], pi_id, pay_id, customer_id


def deliver(deps, stripe_fake, tenant_id, event_type, obj, event_id):
    from billing.services import stripe_webhooks

    event = {"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}
    received = stripe_webhooks.receive(deps.context, event)
    return stripe_events.process(deps.context, stripe_fake, received.tenant_id, event_id)


def test_partial_refunds_are_numbered_credit_notes_and_cannot_exceed_what_was_paid(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, pi_id, pay_id, _ = paid_invoice(deps, key, stripe_fake)
    assert invoice["status"] == "paid"
    status, note = call(
        "POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1500, "reason": "requested_by_customer"}
    )
    assert status == 201 and note["number"] == "CN-2026-000001" and note["amount"] == 1500
    assert note["refunds"][0]["payment_id"] == pay_id and note["refunds"][0]["stripe_refund_id"] == "re_1"
    status, problem = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 3501, "reason": "other"})
    assert status == 422 and problem["code"] == "refund_exceeds_refundable"
    status, rest = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"reason": "duplicate"})
    assert status == 201 and rest["amount"] == 3500 and rest["number"] == "CN-2026-000002"
    after = call("GET", f"/v1/invoices/{invoice['id']}", key)[1]
    assert after["amount_refunded"] == 5000 and after["status"] == "paid"
    assert [p["amount_refunded"] for p in call("GET", f"/v1/invoices/{invoice['id']}/payments", key)[1]["data"]] == [
        5000
    ]
    assert len(stripe_fake.refunds) == 2
    notes = call("GET", f"/v1/invoices/{invoice['id']}/credit_notes", key)[1]["data"]
    assert sorted(n["number"] for n in notes) == ["CN-2026-000001", "CN-2026-000002"]


def test_a_retried_refund_with_its_idempotency_key_refunds_once(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, *_ = paid_invoice(deps, key, stripe_fake)
    headers = {"Idempotency-Key": "refund-1"}
    first = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 700, "reason": "other"}, headers)
    again = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 700, "reason": "other"}, headers)
    assert first == again and len(stripe_fake.refunds) == 1
    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[1]["amount_refunded"] == 700


def test_a_refund_made_in_the_stripe_dashboard_gets_its_credit_note_once(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, pi_id, *_ = paid_invoice(deps, key, stripe_fake)
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": pi_id,
        "amount_refunded": 2000,
        "metadata": {},
        "refunds": {"data": [{"id": "re_dash", "object": "refund", "amount": 2000, "status": "succeeded"}]},
    }
    stripe_fake.charges["ch_1"] = charge
    assert deliver(deps, stripe_fake, None, "charge.refunded", charge, "evt_r1") == "processed"
    assert deliver(deps, stripe_fake, None, "charge.refunded", charge, "evt_r2") == "processed"  # same total again
    notes = call("GET", f"/v1/invoices/{invoice['id']}/credit_notes", key)[1]["data"]
    assert [(n["amount"], n["reason"]) for n in notes] == [(2000, "refunded_in_stripe")]
    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[1]["amount_refunded"] == 2000


def test_a_dispute_marks_the_invoice_until_it_closes(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, pi_id, pay_id, _ = paid_invoice(deps, key, stripe_fake)
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "payment_intent": pi_id,
        "status": "needs_response",
        "amount": 5000,
        "metadata": {},
    }
    stripe_fake.disputes["dp_1"] = dispute
    deliver(deps, stripe_fake, None, "charge.dispute.created", dispute, "evt_d1")
    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[1]["dispute_open"] is True
    stripe_fake.disputes["dp_1"] = {**dispute, "status": "won"}
    deliver(deps, stripe_fake, None, "charge.dispute.closed", {**dispute, "status": "won"}, "evt_d2")
    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[1]["dispute_open"] is False
    [payment] = call("GET", f"/v1/invoices/{invoice['id']}/payments", key)[1]["data"]
    assert payment["dispute_status"] == "won"


def test_an_overpayment_becomes_credit_applied_to_the_next_invoice(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, _, _, customer_id = paid_invoice(deps, key, stripe_fake, amount=5000, received=6200)
    assert invoice["status"] == "paid" and invoice["amount_due"] == 0 and invoice["amount_paid"] == 6200
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 1200
    order = call(
        "POST",
        "/v1/orders",
        key,
        {
            "customer_id": customer_id,
            "currency": "usd",
            "collection_method": "send_invoice",
            "lines": [{"description": "Next month", "quantity": 1, "unit_amount": 5000}],
        },
    )[1]
    following = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    assert (following["total"], following["credit_applied"], following["amount_due"]) == (5000, 1200, 3800)
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 0


class FakeMailer:
    def __init__(self):
        self.sent = []

    def send(self, to, subject, text, html, sender_name, reply_to, tags=None):
        self.sent.append({"to": to, "subject": subject, "text": text, "html": html})
        return f"msg-{len(self.sent)}"


def test_each_refund_emails_the_customer_once_with_its_credit_note(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, *_ = paid_invoice(deps, key, stripe_fake)
    for amount in (1500, 1000):
        refunded = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": amount, "reason": "other"})
        assert refunded[0] == 201
    every = deps.context.repo.events(keys.invoice(invoice["tenant_id"], invoice["id"]))
    events = sorted((e for e in every if e.type == "credit_note.issued"), key=lambda e: e.data["number"])
    # the relay hands it to the notifier (and to the renderer of its PDF)
    assert outbox.route(events[0]) == ["NOTIFICATIONS_QUEUE_URL", "DOCUMENTS_QUEUE_URL", "WEBHOOK_EVENTS_QUEUE_URL"]
    mailer = FakeMailer()
    for event in events * 2:  # each event delivered twice: one email each
        notifications.notify(deps.context, mailer, event)
    assert len(mailer.sent) == 2
    first, second = mailer.sent
    assert first["subject"].startswith("Refund of $15.00") and "CN-2026-000001" in first["subject"]
    assert "Refunded in all: $15.00" in first["text"] and "Refunded in all: $25.00" in second["text"]
    assert invoice["number"] in second["subject"] and "CN-2026-000002" in second["subject"]
    logged = deps.context.repo.mail_log(keys.invoice(invoice["tenant_id"], invoice["id"]))
    assert sorted(m["kind"] for m in logged if m["kind"] == "refund_issued") == ["refund_issued"] * 2


def test_the_notifier_is_routed_every_event_it_emails_about():
    assert outbox.ROUTES["NOTIFICATIONS_QUEUE_URL"] == set(notifications.KIND_OF_EVENT) | {
        "invoice.dunning_step",
        notifications.SIGN_IN_REQUESTED,
    } | set(notifications.TENANT_KINDS)
