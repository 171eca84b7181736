"""Issue 14: what a subscription brings in a month (its MRR), the figure the MRR report adds up. Pinned per interval,
per status and per kind of item: the report's worked examples in docs/reports.md rest on these."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.domain.subscriptions import Subscription
from tests.unit.test_subscriptions import API, BASIC, PRO, YEARLY, bill, item, plan, subscribe

WEEKLY = plan("Weekly", amount=1200, interval="week")
QUARTERLY = plan("Quarterly", scheme="flat", amount=9000)
QUARTERLY.interval.count = 3
TWO_YEARS = plan("Two years", amount=100, interval="year")
TWO_YEARS.interval.count = 2


def active(*items) -> Subscription:
    sub, _ = bill(subscribe(*items))
    assert sub.status == "active"
    return sub


@pytest.mark.parametrize(
    ("items", "mrr"),
    [
        ([item(PRO)], 1500),  # monthly: as is
        ([item(PRO, 3)], 4500),  # per unit: times the quantity
        ([item(BASIC)], 900),  # flat
        ([item(YEARLY)], 1250),  # yearly: 15000 / 12
        ([item(WEEKLY)], 5200),  # weekly: 1200 x 52 / 12
        ([item(QUARTERLY)], 3000),  # every 3 months: 9000 / 3
        ([item(TWO_YEARS)], 4),  # 100 / 24 = 4.1666…, rounded half up once
        ([item(PRO, 2), item(API)], 3000),  # metered usage is no recurring revenue
    ],
)
def test_an_active_subscription_brings_its_licensed_items_normalized_to_a_month(items, mrr):
    assert active(*items).monthly_recurring == mrr


def test_half_a_minor_unit_rounds_up_and_the_sum_is_rounded_once():
    odd = plan("Odd yearly", amount=18, interval="year")  # 18 / 12 = 1.5
    other = plan("Other yearly", amount=18, interval="year")
    assert active(item(odd)).monthly_recurring == 2
    assert active(item(odd), item(other)).monthly_recurring == 3  # 36 / 12, not 2 + 2
    weekly = plan("Odd weekly", amount=3, interval="week")  # 3 x 52 / 12 = 13 exactly: no rounding on the way
    assert active(item(weekly)).monthly_recurring == 13


def test_a_trial_a_review_and_a_cancellation_bring_nothing():
    trialing = subscribe(item(PRO), trial_days=14)
    assert (trialing.status, trialing.monthly_recurring) == ("trialing", 0)
    started, _ = bill(trialing)
    assert (started.status, started.monthly_recurring) == ("active", 1500)
    held = subscribe(item(PRO), review_reason="order_type=enterprise")
    assert (held.status, held.monthly_recurring) == ("pending_review", 0)
    canceled, _ = started.cancel(False, started.next_billing_at - timedelta(days=1))
    assert (canceled.status, canceled.monthly_recurring) == ("canceled", 0)


def test_a_subscription_behind_on_payment_or_suspended_still_counts_until_it_is_canceled():
    sub = active(item(PRO))
    past_due, _ = sub.mark_past_due(sub.updated_at)
    suspended, _ = past_due.suspend(sub.updated_at)
    assert (past_due.monthly_recurring, suspended.monthly_recurring) == (1500, 1500)


def test_a_change_moves_it_at_once():
    sub = active(item(PRO))
    upgraded, _ = sub.change([item(PRO, 4)], sub.updated_at + timedelta(days=3))
    assert upgraded.monthly_recurring == 6000
