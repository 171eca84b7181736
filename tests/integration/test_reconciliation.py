"""The scheduled reconciliation repairs what a lost webhook left behind, and reports it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from billing.services import customers, orders, payments, reconciliation
from billing.services.commands import CreateCustomer, PlaceOrder
from functions.reconciliation import app
from tests.integration.conftest import FakeLambdaContext


class StripeWhoseWebhooksGotLost:
    """Charges go to 'processing'; later Stripe settles them, but no webhook ever arrives."""

    def __init__(self, clock):
        self.clock = clock
        self.intents: dict[str, dict] = {}

    def charge_off_session(self, payment, stripe_customer_id, payment_method):
        intent = {
            "id": f"pi_{len(self.intents) + 1}",
            "object": "payment_intent",
            "status": "processing",
            "amount": payment.amount,
            "amount_received": 0,
            "currency": payment.currency,
            "created": int(self.clock.now().timestamp()),
            "metadata": {"tenant_id": payment.tenant_id, "invoice_id": payment.invoice_id, "payment_id": payment.id},
        }
        self.intents.setdefault(payment.id, intent)
        return dict(self.intents[payment.id])

    def settle(self):
        for intent in self.intents.values():
            intent.update(status="succeeded", amount_received=intent.get("amount", 0))

    refunds: list[dict] = []
    disputes: list[dict] = []

    def recent_payment_intents(self, since):
        return [dict(i) for i in sorted(self.intents.values(), key=lambda i: -i["created"]) if i["created"] >= since]

    def recent_refunds(self, since):
        return [dict(r) for r in self.refunds if r["created"] >= since]

    def recent_disputes(self, since):
        return [dict(d) for d in self.disputes if d["created"] >= since]

    def payment_intent(self, payment_intent_id):
        return dict(next(i for i in self.intents.values() if i["id"] == payment_intent_id))

    def dispute(self, dispute_id):
        return dict(next(d for d in self.disputes if d["id"] == dispute_id))


@pytest.fixture
def stripe_lost(deps, clock):
    fake = StripeWhoseWebhooksGotLost(clock)
    deps.__dict__["stripe"] = fake
    return fake


def charged_invoice(deps, tenant_id):
    ctx = deps.context
    customer = customers.create_customer(
        ctx, tenant_id, CreateCustomer(email="r@example.com", name="R", locale="en", currency="usd")
    )
    tx = ctx.repo.transaction()
    ctx.repo.save_customer(
        tx, customer.model_copy(update={"stripe_customer_id": "cus_s", "default_payment_method": "pm_card_visa"})
    )
    ctx.repo.commit(tx)
    order = orders.place_order(
        ctx,
        tenant_id,
        PlaceOrder(
            customer_id=customer.id,
            currency="usd",
            collection_method="charge_automatically",
            lines=[{"description": "Seat", "quantity": 3, "unit_amount": 1000}],
        ),
    )
    payment = payments.collect(ctx, deps.stripe, tenant_id, order.invoice_id, "finalized")
    assert payment.status == "processing"
    return order.invoice_id


def run(clock):
    event = {"schedule": "stripe-reconciliation", "scheduled_time": clock.now().isoformat()}
    return app.lambda_handler(event, FakeLambdaContext())


def test_a_settled_payment_whose_webhook_was_lost_is_repaired_and_reported(deps, tenant, clock, stripe_lost):
    tenant_id = tenant[0]
    invoice_id = charged_invoice(deps, tenant_id)
    clock.advance(timedelta(hours=1))
    assert run(clock)["repaired"] == 0  # nothing to repair yet: Stripe says processing too
    stripe_lost.settle()
    clock.advance(timedelta(hours=3))
    report = run(clock)
    assert report["checked"] == 1 and report["repaired"] == 1
    assert report["repairs"][0]["from"] == "processing" and report["repairs"][0]["to"] == "succeeded"
    invoice = deps.context.repo.invoice(tenant_id, invoice_id)
    assert invoice.status == "paid" and invoice.amount_paid == 3000
    assert run(clock)["duplicate"] is True  # the same scheduled time again does nothing
    clock.advance(timedelta(hours=3))
    again = run(clock)
    assert again["repaired"] == 0 and deps.context.repo.invoice(tenant_id, invoice_id).amount_paid == 3000


def test_payment_intents_that_are_not_ours_or_too_old_are_left_alone(deps, tenant, clock, stripe_lost):
    invoice_id = charged_invoice(deps, tenant[0])
    stripe_lost.intents["foreign"] = {
        "id": "pi_x",
        "status": "succeeded",
        "created": int(clock.now().timestamp()),
        "metadata": {},
    }
    stripe_lost.settle()
    clock.advance(reconciliation.LOOKBACK + timedelta(hours=1))
    report = run(clock)
    assert report["checked"] == 0 and report["repaired"] == 0
    assert deps.context.repo.invoice(tenant[0], invoice_id).status == "open"
    assert json.dumps(report)  # the report is plain data, for the log line and the run record


# --- refunds and disputes whose webhooks were lost; a longer window on demand (issue 11, item 16) ----------------
def paid_and_then(deps, clock, stripe_lost, tenant_id):
    invoice_id = charged_invoice(deps, tenant_id)
    stripe_lost.settle()
    run(clock)  # the payment itself is repaired first
    [intent] = stripe_lost.intents.values()
    return invoice_id, intent


def test_a_refund_and_a_dispute_whose_webhooks_were_lost_are_repaired(deps, tenant, clock, stripe_lost):
    tenant_id = tenant[0]
    invoice_id, intent = paid_and_then(deps, clock, stripe_lost, tenant_id)
    now = int(clock.now().timestamp())
    stripe_lost.refunds = [
        {
            "id": "re_dash",
            "object": "refund",
            "amount": 1000,
            "status": "succeeded",
            "payment_intent": intent["id"],
            "created": now,
            "metadata": {},
        }
    ]
    stripe_lost.disputes = [
        {
            "id": "dp_1",
            "object": "dispute",
            "amount": 2000,
            "status": "needs_response",
            "payment_intent": intent["id"],
            "created": now,
        }
    ]
    clock.advance(timedelta(hours=3))
    report = run(clock)
    assert (report["refunds_repaired"], report["disputes_repaired"]) == (1, 1)
    invoice = deps.context.repo.invoice(tenant_id, invoice_id)
    assert (invoice.amount_refunded, invoice.dispute_open) == (1000, True)
    assert [n.amount for n in deps.context.repo.credit_notes(tenant_id, invoice_id)] == [1000]
    clock.advance(timedelta(hours=3))
    again = run(clock)
    assert (again["refunds_repaired"], again["disputes_repaired"]) == (0, 0)  # nothing twice


def test_the_admin_command_reconciles_a_longer_window(deps, tenant, clock, stripe_lost, monkeypatch, capsys):
    from infra import admin

    tenant_id = tenant[0]
    invoice_id = charged_invoice(deps, tenant_id)
    stripe_lost.settle()
    clock.advance(timedelta(days=10))  # far outside the scheduled run's window
    assert run(clock)["repaired"] == 0
    monkeypatch.setenv("TABLE_NAME", deps.env["TABLE_NAME"])
    since = (clock.now() - timedelta(days=11)).isoformat()
    assert admin.main(["reconcile", "--since", since]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{\n") :])  # the report, indented (under pytest a log line may come first)
    assert printed["repaired"] == 1 and printed["since"] == since
    assert deps.context.repo.invoice(tenant_id, invoice_id).status == "paid"
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal: usage on stderr, exit status 2
        admin.main(["reconcile", "--since", "yesterday"])
    assert refused.value.code == 2 and "not an ISO 8601 instant" in capsys.readouterr().err
