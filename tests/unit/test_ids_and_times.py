"""Issue 12: ids are ULIDs (time first, then randomness) and every time the domain takes is refused unless aware;
each refusal says which time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain import ids, periods, proration
from billing.domain.errors import ValidationFailed
from billing.domain.plans import Interval
from billing.domain.proration import ProrationItem
from billing.domain.subscriptions import Subscription, SubscriptionItem
from tests.unit.test_subscriptions import PRO

T = datetime(2026, 12, 2, 10, 30, 15, 123_000, tzinfo=UTC)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decode(ulid: str) -> int:
    value = 0
    for char in ulid:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_an_id_is_a_prefix_and_a_ulid_whose_first_48_bits_are_its_millisecond():
    made = ids.new_id("in", T)
    assert re.fullmatch(r"in_[0-9A-HJKMNP-TV-Z]{26}", made)
    value = decode(made.removeprefix("in_"))
    assert value >> 80 == int(T.timestamp() * 1000)
    assert value & ((1 << 80) - 1) != 0  # the random part (zero once in 2**80)


def test_ids_sort_by_time_and_never_repeat():
    earlier, later = ids.new_id("in", T), ids.new_id("in", T + timedelta(milliseconds=1))
    assert earlier < later
    same_ms = {ids.new_id("in", T) for _ in range(200)}
    assert len(same_ms) == 200  # 80 random bits each
    randoms = [decode(i.removeprefix("in_")) & ((1 << 80) - 1) for i in same_ms]
    assert max(randoms).bit_length() > 72  # the whole 80 bits are used, not a few


def test_a_pay_link_secret_is_192_random_bits_url_safe():
    secret = ids.new_secret()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", secret) and secret != ids.new_secret()


MONTH = Interval(unit="month")


def test_period_functions_say_which_time_is_naive_or_out_of_range():
    naive = datetime(2026, 12, 2)
    with pytest.raises(ValueError, match="^the anchor must be timezone-aware$"):
        periods.boundary(naive, "UTC", MONTH, 1)
    with pytest.raises(ValueError, match="^period indexes start at 0$"):
        periods.boundary(T, "UTC", MONTH, -1)
    with pytest.raises(ValueError, match="^the anchor must be timezone-aware$"):
        periods.period_index_at(naive, "UTC", MONTH, T)
    with pytest.raises(ValueError, match="^the instant must be timezone-aware$"):
        periods.period_index_at(T, "UTC", MONTH, naive)
    with pytest.raises(ValueError, match="^an instant before the anchor is in no period$"):
        periods.period_index_at(T, "UTC", MONTH, T - timedelta(seconds=1))
    with pytest.raises(ValueError, match="^the instant must be timezone-aware$"):
        periods.local_days_after(naive, "UTC", 3)


def test_proration_says_what_is_wrong():
    with pytest.raises(ValueError, match="^a period ends after it starts$"):
        proration.remaining_fraction(T, T, T, "second")
    with pytest.raises(ValueError, match="^a proration falls within its period$"):
        proration.remaining_fraction(T, T + timedelta(days=1), T + timedelta(days=2), "day")
    item = ProrationItem(key="a", description="A", amount=1)
    with pytest.raises(ValueError, match="^one proration item per key$"):
        proration.change([item, item], [], T, T + timedelta(days=1), T, "day")


def test_a_subscription_keeps_utc_seconds_whatever_the_machine_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        sub, _ = Subscription.create("ten_1", "cus_1", "usd", [SubscriptionItem.of(PRO, "usd")], T)
        assert sub.next_billing_at == T.replace(microsecond=0) and sub.next_billing_at.tzinfo is UTC
        with pytest.raises(ValidationFailed) as refused:
            Subscription.create("ten_1", "cus_1", "usd", [SubscriptionItem.of(PRO, "usd")], datetime(2026, 12, 2))
        assert (refused.value.code, refused.value.detail) == ("naive_datetime", "times carry their UTC offset")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# --- an order id carries its customer's (an approval reads both in one round trip) ---------------------------------
def test_an_order_id_carries_its_customers_id_and_still_sorts_by_time():
    customer = ids.new_id("cus", T)
    first, later = ids.order_id(T, customer), ids.order_id(T + timedelta(milliseconds=1), customer)
    assert re.fullmatch(r"ord_[0-9A-Z]{26}_[0-9A-Z]{26}", first) and len(first) == 57  # a path id: <= 64, [A-Za-z0-9_]
    assert ids.customer_of_order(first) == customer
    assert first < later and decode(first[4:30]) >> 80 == int(T.timestamp() * 1000)


@pytest.mark.parametrize("customer", ["cus_1", "acme-customer", "cus_" + "I" * 26, "cus_" + "0" * 27])
def test_a_customer_id_of_another_shape_makes_a_plain_order_id(customer):
    made = ids.order_id(T, customer)
    assert re.fullmatch(r"ord_[0-9A-Z]{26}", made) and ids.customer_of_order(made) is None


@pytest.mark.parametrize(
    "order_id", ["ord_1", "ord_" + "0" * 26, "ord_" + "0" * 26 + "_", "ord_" + "0" * 26 + "_" + "0" * 27, "in_x_y"]
)
def test_an_order_id_without_a_customer_names_none(order_id):
    assert ids.customer_of_order(order_id) is None
