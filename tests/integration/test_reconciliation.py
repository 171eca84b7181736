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

    def recent_payment_intents(self, since):
        return [dict(i) for i in sorted(self.intents.values(), key=lambda i: -i["created"]) if i["created"] >= since]


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
