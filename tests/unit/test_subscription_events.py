"""Issue 12: what a subscription says at each step (its events are what webhooks and the audit carry) and how its
billing runs refuse, pinned per step."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.subscriptions import Subscription
from tests.unit.test_subscriptions import API, NOW, PRO, YEARLY, bill, item, subscribe


def data(events):
    return [(e.type, e.data) for e in events]


def test_a_trial_ends_with_its_first_run_and_says_so():
    sub = subscribe(item(PRO), trial_days=7)
    sub, _, events = sub.bill_period(0, {}, sub.next_billing_at)
    trial_end = NOW.replace(microsecond=0) + timedelta(days=7)
    assert data(events) == [
        ("subscription.period_billed", {"index": 0, "lines": 1, "suspended": False}),
        ("subscription.trial_ended", {"trial_end": trial_end.isoformat()}),
    ]


def test_a_run_says_what_it_billed_and_refuses_the_wrong_period():
    sub = subscribe(item(PRO, 2), item(API))
    billed, lines, events = sub.bill_period(0, {}, sub.next_billing_at)
    assert [(ln.description, ln.quantity, ln.unit_amount) for ln in lines] == [
        ("Pro plan × 2 (1 Mar 2026 – 1 Apr 2026)", 2, 1500)  # licensed in advance; metered usage comes in arrears
    ]
    assert data(events) == [("subscription.period_billed", {"index": 0, "lines": len(lines), "suspended": False})]
    with pytest.raises(Conflict) as refused:
        billed.bill_period(0, {}, billed.next_billing_at)
    assert (refused.value.code, refused.value.detail, refused.value.extra) == (
        "period_already_billed",
        "period 0 is not the one due: the next run bills period 1",
        {"expected_index": 1},
    )
    with pytest.raises(Conflict) as refused:
        billed.bill_period(2, {}, billed.next_billing_at)
    assert refused.value.code == "period_not_current"
    early = billed.next_billing_at - timedelta(seconds=1)
    with pytest.raises(Conflict) as refused:
        billed.bill_period(1, {}, early)
    assert (refused.value.code, refused.value.detail) == (
        "period_not_due",
        f"period 1 is billed from {billed.next_billing_at.isoformat()}",
    )
    with pytest.raises(ValidationFailed) as refused:
        billed.bill_period(1, {"plan_zzz": 3, "plan_aaa": 1}, billed.next_billing_at)
    assert (refused.value.code, refused.value.detail) == (
        "unknown_usage_plan",
        "no metered item for plan(s) plan_aaa, plan_zzz",
    )
    usage = billed.bill_period(1, {API.id: 1500}, billed.next_billing_at)[1]
    missing = billed.bill_period(1, {}, billed.next_billing_at)[1]
    assert len(usage) == len(missing)  # a metered plan left out used nothing: billed at 0 units
    assert [(ln.description, ln.unit_amount * ln.quantity) for ln in missing if "API" in ln.description] == [
        ("API calls – 0 units, graduated tiers (1 Mar 2026 – 1 Apr 2026)", 0)
    ]


def test_canceling_says_how():
    sub, _ = bill(subscribe(item(PRO)))
    scheduled, events = sub.cancel(True, NOW)
    assert scheduled.cancel_at_period_end and scheduled.updated_at == NOW
    assert data(events) == [("subscription.cancel_scheduled", {"at": sub.next_billing_at.isoformat()})]
    expired, _, events = scheduled.bill_period(1, {}, scheduled.next_billing_at)
    assert expired.status == "canceled" and expired.canceled_at == scheduled.next_billing_at
    assert data(events)[1] == ("subscription.canceled", {"at_period_end": True})
    now_canceled, events = sub.cancel(False, NOW + timedelta(days=3))
    assert data(events) == [("subscription.canceled", {"at_period_end": False})]
    assert now_canceled.next_billing_at == now_canceled.canceled_at  # a last run settles the credit


def test_a_canceled_subscription_with_nothing_left_has_no_run():
    trial = subscribe(item(PRO), trial_days=7)
    canceled, _ = trial.cancel(False, NOW)
    assert canceled.next_billing_at is None
    with pytest.raises(Conflict) as refused:
        canceled.bill_period(0, {}, NOW)
    assert (refused.value.code, refused.value.detail) == ("nothing_to_bill", "this subscription has no billing run due")


def test_moves_say_what_they_are():
    sub, _ = bill(subscribe(item(PRO)))
    late, events = sub.mark_past_due(NOW)
    assert (late.status, data(events)) == ("past_due", [("subscription.past_due", {})])
    back, events = late.recover(NOW)
    assert (back.status, data(events), back.updated_at) == ("active", [("subscription.recovered", {})], NOW)
    off, events = late.suspend(NOW)
    assert (off.status, data(events)) == ("suspended", [("subscription.suspended", {})])
    on, events = off.resume(NOW)
    assert (on.status, data(events)) == ("active", [("subscription.resumed", {})])


def test_a_change_says_its_proration_and_keeps_the_interval():
    sub, _ = bill(subscribe(item(PRO)))
    start, end = sub.period(0)
    mid = start + (end - start) / 2
    changed, events = sub.change([item(PRO, 3)], mid)
    [(kind, payload)] = data(events)
    assert kind == "subscription.changed" and payload["proration"] == sum(ln.amount for ln in changed.pending_proration)
    assert payload["proration"] > 0 and all(i.basis == "second" for i in changed.items)
    with pytest.raises(ValidationFailed) as refused:
        sub.change([item(YEARLY)], mid)
    assert (refused.value.code, refused.value.detail) == (
        "interval_change",
        "a subscription keeps its interval once billed",
    )
    with pytest.raises(Conflict) as refused:
        sub.change([item(PRO, 2)], end + timedelta(seconds=1))
    assert refused.value.code == "change_outside_period"
    assert refused.value.detail.endswith("(after its end, the billing run for the next one comes first)")


def test_creating_says_the_status_and_why_it_is_held():
    held, events = Subscription.create("ten_1", "cus_1", "usd", [item(PRO)], NOW, review_reason="order_type=trial")
    assert (held.status, held.review_reason) == ("pending_review", "order_type=trial")
    assert data(events) == [("subscription.created", {"status": "pending_review", "review_reason": "order_type=trial"})]
    live, events = Subscription.create("ten_1", "cus_1", "usd", [item(PRO)], NOW, trial_days=7)
    assert (live.status, live.review_reason) == ("trialing", None)
    assert data(events) == [("subscription.created", {"status": "trialing", "review_reason": None})]


def test_a_subscription_keeps_what_it_was_created_with():
    sub = subscribe(
        item(PRO), collection_method="send_invoice", days_until_due=10, metadata={"crm": "42"}, timezone="Asia/Tokyo"
    )
    assert (sub.collection_method, sub.days_until_due, sub.metadata, sub.timezone) == (
        "send_invoice",
        10,
        {"crm": "42"},
        "Asia/Tokyo",
    )
    assert (sub.tenant_id, sub.customer_id, sub.created_at, sub.updated_at) == ("ten_1", "cus_1", NOW, NOW)
    assert re.fullmatch(r"sub_[0-9A-HJKMNP-TV-Z]{26}", sub.id)


def test_approving_is_stamped_and_says_the_status_it_leads_to():
    held = subscribe(item(PRO), review_reason="order_type=enterprise")
    later = NOW + timedelta(days=2)
    approved, events = held.approve(later)
    assert (approved.status, approved.updated_at) == ("active", later)
    assert data(events) == [("subscription.approved", {"status": "active"})]
    _, events = subscribe(item(PRO), trial_days=7, review_reason="order_type=trial").approve(later)
    assert data(events) == [("subscription.approved", {"status": "trialing"})]


def test_every_change_is_stamped_and_every_event_names_its_subscription():
    later = NOW + timedelta(days=3)
    sub, _ = bill(subscribe(item(PRO)))
    steps = [
        sub.change([item(PRO, 2)], later),
        sub.cancel(False, later),
        sub.cancel(True, later),
        sub.mark_past_due(later),
        subscribe(item(PRO), review_reason="order_type=trial").approve(later),
    ]
    for changed, events in steps:
        assert changed.updated_at == later
        for event in events:
            assert (event.aggregate, event.aggregate_id, event.tenant_id, event.occurred_at) == (
                "subscription",
                changed.id,
                "ten_1",
                later,
            )
    _, _, events = sub.bill_period(1, {}, sub.next_billing_at)
    assert [e.aggregate for e in events] == ["subscription"]
