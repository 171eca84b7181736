import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.errors import Conflict, IllegalTransition, ValidationFailed
from billing.domain.periods import local_days_after
from billing.domain.plans import Plan, PlanRequest, amount_for
from billing.domain.subscriptions import SUBSCRIPTION, Subscription, SubscriptionItem

NOW = datetime(2026, 3, 1, 0, 0, 0, 250_000, tzinfo=UTC)
NY = "America/New_York"


def plan(name, scheme="per_unit", amount=1500, usage="licensed", interval="month", currencies=("usd",), tiers=None):
    prices = [
        {"currency": c, "scheme": scheme, **({"tiers": tiers} if tiers else {"amount": amount})} for c in currencies
    ]
    body = {"name": name, "interval": {"unit": interval}, "usage": usage, "prices": prices}
    return Plan.create("ten_1", PlanRequest.model_validate(body), NOW)[0]


PRO = plan("Pro plan")
BASIC = plan("Basic", scheme="flat", amount=900)
API = plan("API calls", "tiered_graduated", usage="metered", tiers=[{"up_to": 1000}, {"up_to": None, "unit_amount": 2}])
YEARLY = plan("Pro yearly", amount=15000, interval="year")
EURO = plan("Euro plan", currencies=("eur",))


def item(p, quantity=1):
    return SubscriptionItem.of(p, "usd", quantity)


def subscribe(*items, now=NOW, **kwargs):
    sub, events = Subscription.create("ten_1", "cus_1", "usd", list(items), now, **kwargs)
    assert [e.type for e in events] == ["subscription.created"]
    return sub


def bill(sub, usage=None, now=None):
    """Run the billing run that is due, at its time."""
    sub, lines, _ = sub.bill_period(sub.current_period_index, usage or {}, now or sub.next_billing_at)
    return sub, lines


def local(instant, tz=NY):
    return instant.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


# --- the state table ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "after"),
    [
        ("pending_review", "approve", "trialing"),
        ("trialing", "start", "active"),
        ("trialing", "expire", "canceled"),
        ("active", "bill", "active"),
        ("active", "fall_past_due", "past_due"),
        ("past_due", "recover", "active"),
        ("past_due", "bill", "past_due"),
        ("active", "suspend", "suspended"),
        ("past_due", "suspend", "suspended"),
        ("suspended", "bill", "suspended"),
        ("suspended", "resume", "active"),
        ("active", "expire", "canceled"),
        ("canceled", "settle", "canceled"),
    ],
)
def test_the_state_table(state, action, after):
    assert SUBSCRIPTION.next_state(state, action) == after


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("pending_review", "bill"),  # unbillable until approved
        ("pending_review", "start"),
        ("trialing", "bill"),  # a trial ends by starting (or expiring)
        ("active", "approve"),
        ("active", "resume"),
        ("suspended", "change"),
        ("suspended", "recover"),
        ("canceled", "cancel"),
        ("canceled", "change"),
        ("canceled", "bill"),
        ("canceled", "resume"),
    ],
)
def test_illegal_actions_are_refused_with_their_code(state, action):
    with pytest.raises(IllegalTransition) as caught:
        SUBSCRIPTION.next_state(state, action)
    assert caught.value.code == f"subscription_{action}_not_allowed"


def test_every_state_can_be_canceled_and_canceled_only_settles():
    live = SUBSCRIPTION.states - {"canceled"}
    assert live == {"pending_review", "trialing", "active", "past_due", "suspended"}
    assert all(SUBSCRIPTION.next_state(s, "cancel") == "canceled" for s in live)
    assert SUBSCRIPTION.allowed_actions("canceled") == ["settle"]
    reached, todo = {"pending_review"}, ["pending_review"]
    while todo:
        state = todo.pop()
        for action in SUBSCRIPTION.allowed_actions(state):
            after = SUBSCRIPTION.next_state(state, action)
            if after not in reached:
                reached.add(after)
                todo.append(after)
    assert reached == SUBSCRIPTION.states


# --- creating ---------------------------------------------------------------------------------------------------------


def test_without_a_trial_billing_starts_now_with_period_zero_in_advance():
    sub = subscribe(item(PRO, 2), item(API))
    start = NOW.replace(microsecond=0)
    assert (sub.status, sub.billing_anchor, sub.next_billing_at, sub.current_period_index) == (
        "active",
        start,
        start,
        0,
    )
    sub, lines = bill(sub)
    assert [ln.description for ln in lines] == ["Pro plan × 2 (1 Mar 2026 – 1 Apr 2026)"]  # usage is in arrears
    assert sub.current_period_index == 1
    assert sub.next_billing_at == datetime(2026, 4, 1, tzinfo=UTC)


def test_a_trial_ends_with_the_first_invoice():
    sub = subscribe(item(PRO, 3), item(API), trial_days=14, timezone=NY)
    trial_end = local_days_after(NOW.replace(microsecond=0), NY, 14)
    assert (sub.status, sub.trial_end, sub.billing_anchor, sub.next_billing_at) == (
        "trialing",
        trial_end,
        trial_end,
        trial_end,
    )
    with pytest.raises(Conflict) as caught:
        sub.bill_period(0, {}, trial_end - timedelta(seconds=1))
    assert caught.value.code == "period_not_due"
    after, lines, events = sub.bill_period(0, {API.id: 5000}, trial_end)  # usage in the trial is free
    assert after.status == "active"
    assert [ln.description for ln in lines] == ["Pro plan × 3 (14 Mar 2026 – 14 Apr 2026)"]
    assert [ln.quantity * ln.unit_amount for ln in lines] == [4500]
    assert [e.type for e in events] == ["subscription.period_billed", "subscription.trial_ended"]
    assert after.next_billing_at == after.period(0)[1]
    assert local(after.next_billing_at) == local(trial_end) + timedelta(days=31)  # same wall-clock time


def test_a_trial_canceled_at_period_end_expires_without_an_invoice():
    sub = subscribe(item(PRO), trial_days=7)
    sub, _ = sub.cancel(at_period_end=True, now=NOW)
    assert sub.status == "trialing" and sub.cancel_at_period_end
    sub, lines = bill(sub)
    assert (sub.status, lines, sub.canceled_at, sub.next_billing_at) == ("canceled", [], sub.trial_end, None)


def test_held_for_review_nothing_is_billed_until_approval_starts_the_clock():
    sub = subscribe(item(PRO), trial_days=14, review_reason="order_type=enterprise")
    assert (sub.status, sub.next_billing_at) == ("pending_review", None)
    with pytest.raises(IllegalTransition) as caught:
        sub.bill_period(0, {}, NOW)
    assert caught.value.code == "subscription_bill_not_allowed"
    approved_at = NOW + timedelta(days=3)
    sub, events = sub.approve(approved_at)
    assert sub.status == "trialing"
    assert sub.trial_end == sub.next_billing_at == local_days_after(approved_at.replace(microsecond=0), "UTC", 14)
    assert [e.type for e in events] == ["subscription.approved"]
    with pytest.raises(IllegalTransition):
        sub.approve(approved_at)


def test_approving_a_subscription_without_a_trial_makes_it_active_from_then():
    sub = subscribe(item(PRO), review_reason="order_type=enterprise")
    sub, _ = sub.approve(NOW + timedelta(days=2))
    assert sub.status == "active"
    assert sub.billing_anchor == sub.next_billing_at == (NOW + timedelta(days=2)).replace(microsecond=0)


def test_a_later_anchor_delays_the_first_invoice():
    anchor = datetime(2026, 3, 15, tzinfo=UTC)
    sub = subscribe(item(PRO), billing_anchor=anchor)
    assert (sub.status, sub.next_billing_at) == ("active", anchor)
    with pytest.raises(Conflict):
        sub.bill_period(0, {}, NOW)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: subscribe(item(PRO), item(YEARLY)), "mixed_intervals"),
        (lambda: subscribe(item(PRO), item(PRO, 2)), "duplicate_plan"),
        (lambda: item(EURO), "no_price_for_currency"),
        (lambda: subscribe(SubscriptionItem.of(EURO, "eur")), "no_price_for_currency"),
        (lambda: item(BASIC, 2), "quantity_not_applicable"),
        (lambda: item(API, 2), "quantity_not_applicable"),
        (lambda: item(PRO, 0), "invalid_quantity"),
        (lambda: subscribe(), "invalid_items"),
        (lambda: subscribe(*(item(plan(f"P{n}")) for n in range(21))), "invalid_items"),
        (lambda: subscribe(item(PRO), timezone="Europe/Atlantis"), "unknown_timezone"),
        (lambda: subscribe(item(PRO), billing_anchor=NOW - timedelta(days=1)), "anchor_in_past"),
        (lambda: subscribe(item(PRO), billing_anchor=NOW + timedelta(days=1), trial_days=3), "anchor_with_trial"),
        (lambda: subscribe(item(PRO), billing_anchor=datetime(2026, 4, 1)), "naive_datetime"),
        (lambda: subscribe(item(PRO), trial_days=731), "invalid_trial_days"),
        (lambda: subscribe(item(PRO), trial_days=-1), "invalid_trial_days"),
        (lambda: subscribe(item(PRO), days_until_due=10), "days_until_due_not_applicable"),
        (lambda: subscribe(item(PRO), days_until_due=1), "days_until_due_not_applicable"),
    ],
)
def test_bad_subscriptions_are_refused(make, code):
    with pytest.raises(ValidationFailed) as caught:
        make()
    assert caught.value.code == code
    assert re.fullmatch(DETAILS[code], caught.value.detail), caught.value.detail


DETAILS = {
    "mixed_intervals": "every plan of a subscription bills on the same interval",
    "duplicate_plan": "a plan appears once in a subscription; use its quantity",
    "quantity_not_applicable": r"plan plan_\w+ is billed without a quantity",
    "no_price_for_currency": r"plan plan_\w+ has no price in (usd|eur)",
    "invalid_quantity": "a quantity is at least 1",
    "invalid_items": "a subscription has 1 to 20 items",
    "unknown_timezone": "'Europe/Atlantis' is not an IANA time zone",
    "anchor_in_past": "the billing anchor may not be in the past",
    "anchor_with_trial": "a trial's end is the billing anchor",
    "naive_datetime": "give billing_anchor with its UTC offset",
    "invalid_trial_days": "a trial lasts 0 to 730 days",
    "days_until_due_not_applicable": "days_until_due applies to send_invoice",
}


def test_the_limits_themselves_are_accepted():
    assert subscribe(item(PRO), trial_days=730).trial_days == 730
    assert subscribe(item(PRO), days_until_due=0).days_until_due == 0  # charged at once: due the day it is issued
    at_start = subscribe(item(PRO), billing_anchor=NOW.replace(microsecond=0))
    assert at_start.next_billing_at == NOW.replace(microsecond=0)
    assert len(subscribe(*(item(plan(f"P{n}")) for n in range(20))).items) == 20


def test_an_item_of_a_plan_billed_without_a_quantity_is_made_without_one():
    assert [SubscriptionItem.of(p, "usd").quantity for p in (PRO, BASIC, API)] == [1, 1, 1]


def test_send_invoice_defaults_to_30_days_and_a_subscription_reloads_from_json():
    sub = subscribe(item(PRO, 2), item(API), collection_method="send_invoice", timezone=NY)
    assert (sub.collection_method, sub.days_until_due) == ("send_invoice", 30)
    sub, _ = bill(sub)
    sub, _ = sub.change([item(PRO, 4)], NOW + timedelta(days=9))
    assert Subscription.model_validate_json(sub.model_dump_json()) == sub


# --- billing runs --------------------------------------------------------------------------------------------------


def test_a_billing_run_is_deterministic_for_its_index():
    sub, _ = bill(subscribe(item(PRO, 2), item(API), timezone=NY))
    sub, _ = sub.change([item(PRO, 5), item(API)], NOW + timedelta(days=10))
    due = sub.next_billing_at
    first = sub.bill_period(1, {API.id: 1200}, due)
    again = sub.bill_period(1, {API.id: 1200}, due)
    retried = sub.bill_period(1, {API.id: 1200}, due + timedelta(hours=3))  # the worker retried later
    assert first[0] == again[0]
    assert first[1] == again[1] == retried[1]
    assert retried[0].model_copy(update={"updated_at": due}) == first[0]
    assert [ln.description for ln in first[1]] == [
        "API calls – 1200 units, graduated tiers (28 Feb 2026 – 28 Mar 2026)",  # 19:00 in New York
        "Unused time on Pro plan × 2 from 10 Mar 2026",
        "Remaining time on Pro plan × 5 from 10 Mar 2026",
        "Pro plan × 5 (28 Mar 2026 – 28 Apr 2026)",
    ]
    assert first[1][0].unit_amount == 400  # 200 units above the free 1000, at 2


def test_a_run_for_another_period_is_refused():
    sub, _ = bill(subscribe(item(PRO)))
    for index, code in ((0, "period_already_billed"), (2, "period_not_current")):
        with pytest.raises(Conflict) as caught:
            sub.bill_period(index, {}, sub.next_billing_at)
        assert caught.value.code == code
        assert caught.value.extra["expected_index"] == 1


def test_usage_for_a_plan_without_a_metered_item_is_refused():
    sub, _ = bill(subscribe(item(PRO), item(API)))
    with pytest.raises(ValidationFailed) as caught:
        sub.bill_period(1, {PRO.id: 3}, sub.next_billing_at)
    assert caught.value.code == "unknown_usage_plan"


def test_a_leap_year_of_monthly_billing_from_jan_31():
    anchor = datetime(2028, 1, 31, tzinfo=ZoneInfo(NY)).astimezone(UTC)
    sub = subscribe(item(PRO, 2), item(API), timezone=NY, billing_anchor=anchor, now=anchor - timedelta(days=1))
    advance, arrears = [], []
    for k in range(13):
        assert sub.current_period_index == k
        sub, lines = bill(sub, {API.id: 10 * k} if k else {})
        advance.append(lines[-1].description)
        arrears += [ln.description for ln in lines if ln.description.startswith("API")]
        assert local(sub.next_billing_at).time() == local(anchor).time()  # midnight in New York, DST or not
    days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec Jan".split()
    dates = [f"{d} {m} {2028 if i < 12 else 2029}" for i, (d, m) in enumerate(zip(days, months, strict=True))]
    assert advance[:12] == [f"Pro plan × 2 ({a} – {b})" for a, b in zip(dates, dates[1:], strict=False)]
    assert arrears == [
        f"API calls – {10 * k} units, graduated tiers ({dates[k - 1]} – {dates[k]})" for k in range(1, 13)
    ]


def test_a_suspended_subscription_is_not_charged_for_periods_it_is_suspended_and_cannot_change():
    sub, _ = bill(subscribe(item(PRO)))
    sub, events = sub.mark_past_due(NOW + timedelta(days=5))
    assert (sub.status, events[0].type) == ("past_due", "subscription.past_due")
    sub, _ = sub.suspend(NOW + timedelta(days=10))
    with pytest.raises(IllegalTransition) as caught:
        sub.change([item(PRO, 2)], NOW + timedelta(days=11))
    assert caught.value.code == "subscription_change_not_allowed"
    sub, lines, events = sub.bill_period(sub.current_period_index, {}, sub.next_billing_at)
    # no service, no charge in advance: the period moves on without a licensed line (issue 11, item 6)
    assert sub.status == "suspended" and lines == []
    assert events[0].type == "subscription.period_billed" and events[0].data["suspended"] is True
    sub, _ = sub.resume(sub.next_billing_at)
    assert sub.status == "active"
    with pytest.raises(IllegalTransition):
        sub.recover(sub.next_billing_at)


# --- changes and cancellation ----------------------------------------------------------------------------------------


def proration_by_plan(lines):
    credited, charged = defaultdict(int), defaultdict(int)
    for line in lines:
        if line.kind == "credit":
            credited[line.key] -= line.amount
        else:
            charged[line.key] += line.amount
    return credited, charged


def test_chained_changes_never_credit_more_than_was_charged():
    sub, first = bill(subscribe(item(PRO, 2)))  # 2 x 1500 for 1 March to 1 April: 31 days
    assert sum(ln.quantity * ln.unit_amount for ln in first) == 3000
    for days, qty in ((4, 5), (9, 8), (20, 3)):  # upgrade, upgrade, downgrade
        sub, events = sub.change([item(PRO, qty)], NOW + timedelta(days=days, hours=7))
        assert events[0].type == "subscription.changed"
    lines = sub.pending_proration
    assert [ln.kind for ln in lines] == ["credit", "charge"] * 3
    charges = [3000] + [ln.amount for ln in lines if ln.kind == "charge"]
    credits = [-ln.amount for ln in lines if ln.kind == "credit"]
    assert all(credit <= charge for credit, charge in zip(credits, charges, strict=False))
    assert credits[0] == 2585  # 3000 x 2,307,599 s left of 2,678,400 = 2584.68 -> 2585
    sub, lines = bill(sub)
    assert lines[-1].description == "Pro plan × 3 (1 Apr 2026 – 1 May 2026)"
    assert len(lines) == 7 and sub.pending_proration == []
    assert all(i.basis is None for i in sub.items)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 1000),  # per mille of the period
            st.sampled_from(["second", "day"]),
            st.lists(st.sampled_from(["pro", "basic", "api"]), unique=True, min_size=1),
            st.integers(1, 20),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_chain_of_changes_credits_each_plan_at_most_what_it_was_charged(steps):
    plans = {"pro": PRO, "basic": BASIC, "api": API}
    sub, lines = bill(subscribe(item(PRO, 2), item(BASIC), timezone=NY))
    start, end = sub.period(0)
    charged = {PRO.id: 3000, BASIC.id: 900}
    for offset, granularity, names, qty in sorted(steps, key=lambda s: s[0]):
        items = [item(plans[n], qty if n == "pro" else 1) for n in names]
        sub, _ = sub.change(items, start + (end - start) * offset / 1000, granularity)
    credited, extra = proration_by_plan(sub.pending_proration)
    for plan_id, amount in credited.items():
        assert amount <= charged[plan_id] + extra.get(plan_id, 0)
    sub, lines = bill(sub)
    assert sum(ln.quantity * ln.unit_amount for ln in lines) == sum(
        amount_for(i.price, i.quantity) for i in sub.items if i.usage == "licensed"
    ) + sum(extra.values()) - sum(credited.values())


def test_a_credit_is_measured_like_the_charge_it_returns_even_when_the_next_change_counts_days():
    sub, _ = bill(subscribe(item(PRO), timezone=NY))  # 28 Feb 19:00 to 28 Mar 19:00, New York
    late = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)  # 23:00 on 10 March, local
    sub, _ = sub.change([item(PRO, 2)], late, "second")
    assert sub.items[0].basis == "second"
    sub, _ = sub.change([item(PRO)], late + timedelta(minutes=30), "day")
    assert sub.items[0].basis == "day"
    charge, credit = sub.pending_proration[1], sub.pending_proration[2]
    assert (charge.kind, credit.kind) == ("charge", "credit")
    assert charge.amount == 1914  # 3000 x 428 h left of 671 h
    assert -credit.amount <= charge.amount  # counted in days it would be 3000 x 18 / 28 = 1929


def test_a_change_in_a_trial_replaces_the_items_without_proration():
    sub = subscribe(item(PRO, 2), trial_days=14)
    sub, _ = sub.change([item(PRO, 9)], NOW + timedelta(days=3))
    assert sub.pending_proration == [] and sub.items[0].quantity == 9
    sub, lines = bill(sub)
    assert [ln.quantity for ln in lines] == [9]


def test_a_change_after_the_period_ended_waits_for_its_run():
    sub, _ = bill(subscribe(item(PRO)))
    with pytest.raises(Conflict) as caught:
        sub.change([item(PRO, 2)], sub.next_billing_at + timedelta(seconds=1))
    assert caught.value.code == "change_outside_period"
    with pytest.raises(ValidationFailed) as caught:
        sub.change([item(YEARLY)], NOW + timedelta(days=1))
    assert caught.value.code == "interval_change"


def test_a_metered_item_removed_mid_period_is_billed_for_the_periods_usage():
    sub, _ = bill(subscribe(item(PRO), item(API)))
    sub, _ = sub.change([item(PRO)], NOW + timedelta(days=12))
    assert sub.pending_proration == []  # the licensed part did not change
    sub, lines = bill(sub, {API.id: 1500})
    assert [ln.description for ln in lines] == [
        "API calls – 1500 units, graduated tiers (1 Mar 2026 – 1 Apr 2026)",
        "Pro plan × 1 (1 Apr 2026 – 1 May 2026)",
    ]
    assert sub.retired_items == []
    sub, lines = bill(sub)
    assert len(lines) == 1  # and only once


def test_cancel_now_credits_the_unused_time_and_a_last_run_settles_it():
    sub, _ = bill(subscribe(item(PRO, 2), item(API)))
    when = NOW.replace(microsecond=0) + timedelta(days=15, hours=12)  # half of March's 31 days are left
    sub, events = sub.cancel(at_period_end=False, now=when)
    assert (sub.status, sub.canceled_at, sub.next_billing_at) == ("canceled", when, when)
    assert [(ln.kind, ln.amount) for ln in sub.pending_proration] == [("credit", -1500)]
    assert [e.type for e in events] == ["subscription.canceled"]
    sub, lines = bill(sub, {API.id: 10})
    assert [(ln.description, ln.quantity * ln.unit_amount) for ln in lines] == [
        ("API calls – 10 units, graduated tiers (1 Mar 2026 – 16 Mar 2026)", 0),
        ("Unused time on Pro plan × 2 from 16 Mar 2026", -1500),
    ]
    with pytest.raises(Conflict) as caught:
        bill(sub, now=when + timedelta(days=40))
    assert caught.value.code == "nothing_to_bill"
    with pytest.raises(IllegalTransition):
        sub.cancel(at_period_end=False, now=when)


def test_cancel_at_period_end_bills_the_arrears_and_stops():
    sub, _ = bill(subscribe(item(PRO), item(API)))
    sub, _ = sub.change([item(PRO, 3), item(API)], NOW + timedelta(days=30))
    sub, events = sub.cancel(at_period_end=True, now=NOW + timedelta(days=30, hours=1))
    assert sub.status == "active" and events[0].type == "subscription.cancel_scheduled"
    sub, lines, events = sub.bill_period(1, {API.id: 2000}, sub.next_billing_at + timedelta(hours=2))  # a late run
    assert [ln.description.split(" (")[0].split(" from")[0] for ln in lines] == [
        "API calls – 2000 units, graduated tiers",
        "Unused time on Pro plan × 1",
        "Remaining time on Pro plan × 3",
    ]
    assert (sub.status, sub.next_billing_at, sub.canceled_at) == ("canceled", None, datetime(2026, 4, 1, tzinfo=UTC))
    assert [e.type for e in events] == ["subscription.period_billed", "subscription.canceled"]


def test_cancel_now_during_a_trial_credits_nothing():
    sub = subscribe(item(PRO), trial_days=14)
    sub, _ = sub.cancel(at_period_end=False, now=NOW + timedelta(days=2))
    assert (sub.status, sub.pending_proration, sub.next_billing_at) == ("canceled", [], None)


SMS = plan("SMS", amount=5, usage="metered")


def test_each_metered_item_is_billed_for_its_own_usage():
    sub, _ = bill(subscribe(item(PRO), item(API), item(SMS)))
    _, lines = bill(sub, {API.id: 1500, SMS.id: 40})
    assert [(ln.description.split(" (")[0], ln.quantity * ln.unit_amount) for ln in lines] == [
        ("API calls – 1500 units, graduated tiers", 1000),
        ("SMS × 40", 200),
        ("Pro plan × 1", 1500),
    ]


def test_every_line_is_dated_in_the_customers_time_zone():
    sub, lines = bill(subscribe(item(PRO), timezone=NY))  # 1 March 00:00 UTC is 28 February, 19:00 in New York
    assert [ln.description for ln in lines] == ["Pro plan × 1 (28 Feb 2026 – 28 Mar 2026)"]
    late = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)  # 23:00 on 10 March in New York
    canceled, _ = sub.cancel(False, late)
    assert [ln.description for ln in canceled.pending_proration] == ["Unused time on Pro plan × 1 from 10 Mar 2026"]


def test_a_new_subscription_or_a_change_before_billing_charges_whole_periods_whatever_its_items_carried():
    measured = item(PRO).model_copy(update={"basis": "day"})  # as an item of a prorated period would be
    sub = subscribe(measured, trial_days=14)
    assert [i.basis for i in sub.items] == [None]
    sub, _ = sub.change([measured, item(API)], NOW + timedelta(days=1))
    assert [i.basis for i in sub.items] == [None, None]


def test_only_metered_items_removed_mid_period_wait_for_its_run():
    sub, _ = bill(subscribe(item(PRO), item(BASIC), item(API)))
    changed, _ = sub.change([item(PRO)], NOW + timedelta(days=12))  # the flat Basic and the metered API go
    assert [i.plan_id for i in changed.retired_items] == [API.id]  # Basic was credited, API is billed in arrears


def test_a_change_is_prorated_while_a_period_is_paid_for_even_if_payment_is_late():
    sub, _ = bill(subscribe(item(PRO)))
    late, _ = sub.mark_past_due(NOW + timedelta(days=5))
    assert late.open_period() == sub.period(0)
    changed, events = late.change([item(PRO, 2)], NOW + timedelta(days=10))
    assert (changed.status, [ln.kind for ln in changed.pending_proration]) == ("past_due", ["credit", "charge"])
    assert events[0].data["proration"] > 0


def test_canceling_a_suspended_subscription_credits_the_unused_time():
    sub, _ = bill(subscribe(item(PRO)))
    suspended, _ = sub.suspend(NOW + timedelta(days=5))
    assert suspended.open_period() == sub.period(0)
    canceled, _ = suspended.cancel(False, NOW + timedelta(days=10))
    assert [ln.kind for ln in canceled.pending_proration] == ["credit"]
    assert canceled.open_period() is None  # a canceled subscription has no period to prorate in


def test_canceled_in_a_trial_it_ends_then():
    when = NOW + timedelta(days=2)
    canceled, _ = subscribe(item(PRO), trial_days=14).cancel(False, when)
    assert (canceled.status, canceled.canceled_at, canceled.updated_at) == ("canceled", when, when)


def test_canceled_after_its_paid_period_ended_but_before_the_run_it_ends_with_that_period():
    sub, _ = bill(subscribe(item(PRO)))
    _, end = sub.period(0)
    late = end + timedelta(hours=6)  # the run for the next period has not happened yet
    canceled, _ = sub.cancel(False, late)
    assert (canceled.canceled_at, canceled.pending_proration, canceled.next_billing_at) == (end, [], None)
    with_usage, _ = bill(subscribe(item(PRO), item(API)))
    canceled, _ = with_usage.cancel(False, late)
    assert (canceled.canceled_at, canceled.next_billing_at) == (end, end)  # a last run bills the period's usage
    _, lines = bill(canceled, {API.id: 1200})
    assert [ln.description for ln in lines] == ["API calls – 1200 units, graduated tiers (1 Mar 2026 – 1 Apr 2026)"]


def test_a_last_run_after_canceling_now_only_when_there_is_something_to_settle():
    metered_only, _ = bill(subscribe(item(API)))
    when = NOW + timedelta(days=10)
    canceled, _ = metered_only.cancel(False, when)
    assert (canceled.pending_proration, canceled.next_billing_at) == ([], when)  # usage up to now is owed
    licensed, _ = bill(subscribe(item(PRO)))
    _, end = licensed.period(0)
    canceled, _ = licensed.cancel(False, end)  # at the very end: no unused time, no usage
    assert (canceled.pending_proration, canceled.next_billing_at) == ([], None)


def test_a_change_at_the_very_end_of_the_period_is_taken_and_prorates_nothing():
    sub, _ = bill(subscribe(item(PRO)))
    start, end = sub.open_period()
    changed, _ = sub.change([item(PRO, 4)], end, "second")
    assert [i.quantity for i in changed.items] == [4] and changed.pending_proration == []
    with pytest.raises(Conflict) as late:
        sub.change([item(PRO, 4)], end + timedelta(seconds=1))
    assert late.value.code == "change_outside_period"
