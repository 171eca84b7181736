"""Issue 12: what a new aggregate starts as, and the limits and allowed values its fields keep. A new aggregate
is at version 0 (the repository writes it only if nothing is there), owes and has paid nothing beyond its lines,
and every enumerated field takes exactly its values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from billing.domain import plans, subscriptions
from billing.domain.dunning import DEFAULT_POLICY, DunningProgress, Instalment, PaymentPlan
from billing.domain.errors import DomainError, IllegalTransition, Unauthorized, ValidationFailed
from billing.domain.models import Customer, Invoice, ReviewRule, Tenant
from billing.domain.money import accepted_currencies
from billing.domain.stripe_money import NotChargeable
from billing.domain.subscriptions import Subscription, SubscriptionItem
from tests.unit.test_invoice_lifecycle import issued, order
from tests.unit.test_payment_states import payment
from tests.unit.test_subscriptions import PRO, item, subscribe

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def test_new_aggregates_start_at_version_zero_with_nothing_paid_or_owed_beyond_their_lines():
    tenant = Tenant(id="ten_1", name="Acme", created_at=NOW)
    assert (tenant.version, tenant.invoice_number_format, tenant.credit_note_number_format) == (
        0,
        "INV-{yyyy}-{seq:06}",
        "CN-{yyyy}-{seq:06}",
    )
    assert tenant.dunning_policy == DEFAULT_POLICY and tenant.reply_to is None
    customer = Customer(id="c", tenant_id="t", email="e@x.io", name="N", locale="en", currency="usd", created_at=NOW)
    assert (customer.version, customer.timezone, customer.credit_balance) == (0, "UTC", 0)
    new_order = order()
    assert (new_order.version, new_order.status, new_order.metadata) == (0, "new", {})
    invoice = issued()
    assert (invoice.version, invoice.series, invoice.amount_paid, invoice.amount_refunded) == (0, "default", 0, 0)
    assert (invoice.credit_applied, invoice.dispute_open, invoice.past_due) == (0, False, False)
    fresh = payment("pending")
    assert (fresh.version, fresh.amount_refunded, fresh.amount_unapplied, fresh.amount_disputed_lost) == (0, 0, 0, 0)
    sub = subscribe(item(PRO))
    assert (sub.version, sub.trial_days, sub.collection_method, sub.timezone) == (0, 0, "charge_automatically", "UTC")
    plan = PRO
    assert (plan.version, plan.trial_days) == (0, 0)


def test_an_invoice_made_from_its_required_fields_has_nothing_paid_applied_or_refunded():
    invoice = Invoice(
        id="in_1",
        tenant_id="t",
        customer_id="c",
        currency="usd",
        collection_method="send_invoice",
        lines=[],
        subtotal=0,
        discount=0,
        tax=0,
        total=0,
        amount_due=0,
        customer_email="e@x.io",
        customer_name="N",
        customer_locale="en",
        created_at=NOW,
        updated_at=NOW,
    )
    assert (invoice.status, invoice.series, invoice.number, invoice.version) == ("draft", "default", None, 0)
    assert (invoice.amount_paid, invoice.amount_refunded, invoice.credit_applied) == (0, 0, 0)
    assert (invoice.past_due, invoice.dispute_open, invoice.customer_address, invoice.pdf_key) == (
        False,
        False,
        None,
        None,
    )


def test_a_subscription_made_from_its_required_fields_is_billed_in_utc_automatically_without_a_trial():
    without_quantity = item(PRO, 3).model_dump(exclude={"quantity"})
    sub = Subscription(
        id="sub_1",
        tenant_id="t",
        customer_id="c",
        currency="usd",
        items=[SubscriptionItem.model_validate(without_quantity)],
        billing_anchor=NOW,
        status="active",
        created_at=NOW,
        updated_at=NOW,
    )
    assert (sub.timezone, sub.trial_days, sub.collection_method, sub.days_until_due) == (
        "UTC",
        0,
        "charge_automatically",
        None,
    )
    assert (sub.current_period_index, sub.cancel_at_period_end, sub.pending_proration, sub.version) == (0, False, [], 0)
    assert sub.items[0].quantity == 1  # an item without a quantity is one of its plan


def test_a_plan_made_from_its_required_fields_has_no_trial():
    made = plans.Plan(
        id="plan_1",
        tenant_id="t",
        name="Pro",
        interval=PRO.interval,
        usage="licensed",
        prices=PRO.prices,
        created_at=NOW,
    )
    assert (made.trial_days, made.version) == (0, 0)


def test_a_payment_starts_pending():
    from billing.domain.payments import Payment

    made = Payment(
        id="p",
        tenant_id="t",
        invoice_id="i",
        customer_id="c",
        amount=1,
        currency="usd",
        method="payment_link",
        created_at=NOW,
        updated_at=NOW,
    )
    assert made.status == "pending" and made.version == 0


def test_the_review_rule_holds_trials_and_enterprise_orders_by_default():
    rule = ReviewRule()
    assert rule.reason({"order_type": "trial"}) == "order_type=trial"
    assert rule.reason({"order_type": "enterprise"}) == "order_type=enterprise"
    assert rule.reason({"order_type": "standard"}) is None and rule.reason({}) is None
    custom = ReviewRule(metadata_key="segment", values=["vip"])
    assert custom.reason({"segment": "vip"}) == "segment=vip" and custom.reason({"order_type": "trial"}) is None


def test_error_classes_have_their_codes():
    assert [c().code for c in (DomainError, ValidationFailed, IllegalTransition, Unauthorized, NotChargeable)] == [
        "domain_error",
        "validation_failed",
        "illegal_transition",
        "unauthorized",
        "not_chargeable_at_stripe",
    ]
    from billing.domain.errors import Conflict

    assert Conflict().code == "conflict"


@pytest.mark.parametrize("reason", ["dispute", "payment_plan"])
def test_dunning_pauses_for_exactly_these_reasons(reason):
    assert DunningProgress.model_validate({"paused": reason}).paused == reason


def test_dunning_pauses_for_nothing_else():
    with pytest.raises(ValidationError):
        DunningProgress.model_validate({"paused": "holiday"})


@pytest.mark.parametrize("status", ["active", "kept", "missed"])
def test_a_payment_plan_is_in_exactly_these_states(status):
    made = PaymentPlan.model_validate(
        {
            "id": "p",
            "created_at": NOW,
            "paid_before": 0,
            "status": status,
            "instalments": [{"due_on": "2026-12-10", "amount": 1}],
        }
    )
    assert made.status == status
    assert PaymentPlan(id="p", created_at=NOW, paid_before=0, instalments=[]).status == "active"


def test_an_instalment_is_strictly_a_positive_integer():
    assert Instalment.model_validate({"due_on": "2026-12-10", "amount": 1}).amount == 1
    for bad in (0, -1, "5", 1.0, True):
        with pytest.raises(ValidationError):
            Instalment.model_validate({"due_on": "2026-12-10", "amount": bad})


def test_plan_limits():
    body = {
        "name": "x" * 200,
        "interval": {"unit": "month"},
        "prices": [{"currency": "usd", "scheme": "flat", "amount": 1}],
    }
    assert plans.PlanRequest.model_validate(body).trial_days == 0
    for bad in ({"name": "x" * 201}, {"trial_days": 731}, {"trial_days": "3"}, {"unexpected": 1}):
        with pytest.raises(ValidationError):
            plans.PlanRequest.model_validate({**body, **bad})
    assert plans.PlanRequest.model_validate({**body, "trial_days": 730}).trial_days == 730
    assert plans.PlanRequest.model_validate({**body, "trial_days": 0}).trial_days == 0
    assert plans.PlanRequest.model_validate({**body, "name": "  Pro  "}).name == "Pro"  # kept without the spaces
    with pytest.raises(ValidationError):
        plans.PlanRequest.model_validate({**body, "name": "   "})  # a blank name is no name
    many = [{"currency": c, "scheme": "flat", "amount": 1} for c in sorted(accepted_currencies())[:51]]
    with pytest.raises(ValidationError):
        plans.PlanRequest.model_validate({**body, "prices": many})
    assert len(plans.PlanRequest.model_validate({**body, "prices": many[:50]}).prices) == 50
    assert plans.MAX_TIERS == 25
    tiers = [{"up_to": n + 1, "unit_amount": 1} for n in range(24)] + [{"up_to": None, "unit_amount": 1}]
    assert len(plans.PlanPrice(currency="usd", scheme="tiered_graduated", tiers=tiers).tiers) == 25
    with pytest.raises(ValidationError):
        plans.PlanPrice(currency="usd", scheme="tiered_graduated", tiers=[{"up_to": 0, "unit_amount": 1}, *tiers])
    with pytest.raises(ValidationError):
        plans.Tier.model_validate({"up_to": 10**12 + 1})
    assert plans.Tier.model_validate({"up_to": 10**12}).up_to == 10**12
    with pytest.raises(ValidationError):
        plans.Tier.model_validate({"up_to": "5"})


def test_subscription_limits():
    assert subscriptions.MAX_ITEMS == 20 and subscriptions.MAX_TRIAL_DAYS == 730
    with pytest.raises(ValidationError):
        subscriptions.SubscriptionItem.model_validate({**item(PRO).model_dump(), "quantity": 0})
    assert subscriptions.SubscriptionItem.model_validate({**item(PRO).model_dump(), "quantity": 1}).quantity == 1
