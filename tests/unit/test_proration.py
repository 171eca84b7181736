from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.plans import PlanPrice, amount_for
from billing.domain.proration import (
    ProrationItem,
    cancellation_credits,
    carried,
    change,
    prorate,
    remaining_fraction,
)

# 1 March to 31 March 2026 in UTC: 30 days.
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 31, tzinfo=UTC)
MID = datetime(2026, 3, 16, tzinfo=UTC)


def item(key, amount, description=None, basis=None):
    return ProrationItem(key=key, description=description or f"Plan {key}", amount=amount, basis=basis)


# --- remaining_fraction and prorate ------------------------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["second", "day"])
def test_half_the_period_left_is_half_the_amount(granularity):
    assert remaining_fraction(START, END, MID, granularity) == Fraction(1, 2)
    assert prorate(3000, START, END, MID, granularity) == 1500


@pytest.mark.parametrize("granularity", ["second", "day"])
def test_the_whole_period_at_its_start_and_nothing_at_its_end(granularity):
    assert remaining_fraction(START, END, START, granularity) == 1
    assert remaining_fraction(START, END, END, granularity) == 0
    assert prorate(4999, START, END, START, granularity) == 4999
    assert prorate(4999, START, END, END, granularity) == 0


def test_seconds_count_whole_seconds_left():
    at = START + timedelta(days=10, seconds=1, microseconds=500_000)
    total = 30 * 86_400
    assert remaining_fraction(START, END, at, "second") == Fraction(total - 10 * 86_400 - 2, total)


def test_days_count_whole_local_days_and_the_day_of_the_change_is_left():
    tz = "America/New_York"
    start = datetime(2026, 3, 1, 5, tzinfo=UTC)  # 1 March 00:00 local
    end = datetime(2026, 4, 1, 4, tzinfo=UTC)  # 1 April 00:00 local: 31 local days, 743 hours
    late = datetime(2026, 3, 16, 3, 59, tzinfo=UTC)  # 15 March 23:59 local, 16 March in UTC
    assert remaining_fraction(start, end, late, "day", tz=tz) == Fraction(17, 31)  # 15 March to 31 March
    assert remaining_fraction(start, end, late, "day") == Fraction(16, 31)  # the UTC dates say 16 March


@pytest.mark.parametrize(
    ("amount", "at", "expected"),
    [
        (1, MID, 1),  # 0.5 rounds up
        (3, MID, 2),  # 1.5 -> 2
        (5, START + timedelta(days=27), 1),  # 5 x 3/30 = 0.5 -> 1
        (29, START + timedelta(days=29), 1),  # 29/30 = 0.97 -> 1
        (14, START + timedelta(days=29), 0),  # 14/30 = 0.47 -> 0
    ],
)
def test_prorating_rounds_half_up_once(amount, at, expected):
    assert prorate(amount, START, END, at, "day") == expected


def test_times_outside_the_period_are_refused():
    for at in (START - timedelta(seconds=1), END + timedelta(seconds=1)):
        with pytest.raises(ValueError):
            remaining_fraction(START, END, at, "second")
    with pytest.raises(ValueError):
        remaining_fraction(END, START, MID, "second")


period_offsets = st.integers(min_value=0, max_value=30 * 86_400)


@settings(max_examples=200)
@given(
    amount=st.integers(min_value=0, max_value=99_999_999_999),
    a=period_offsets,
    b=period_offsets,
    granularity=st.sampled_from(["second", "day"]),
)
def test_prorating_is_monotone_bounded_and_within_half_a_unit(amount, a, b, granularity):
    early, late = START + timedelta(seconds=min(a, b)), START + timedelta(seconds=max(a, b))
    assert prorate(amount, START, END, late, granularity) <= prorate(amount, START, END, early, granularity)
    exact = amount * remaining_fraction(START, END, early, granularity)
    assert 0 <= prorate(amount, START, END, early, granularity) <= amount
    assert abs(prorate(amount, START, END, early, granularity) - exact) <= Fraction(1, 2)


# --- change -------------------------------------------------------------------------------------------------------


def test_an_upgrade_mid_period_credits_the_unused_old_and_charges_the_remaining_new():
    lines = change([item("pro", 3000, "Pro × 3")], [item("pro", 5000, "Pro × 5")], START, END, MID, "second")
    assert [(ln.kind, ln.amount) for ln in lines] == [("credit", -1500), ("charge", 2500)]
    assert lines[0].description == "Unused time on Pro × 3 from 16 Mar 2026"
    assert lines[1].description == "Remaining time on Pro × 5 from 16 Mar 2026"


def test_an_item_whose_amount_does_not_change_is_not_prorated():
    before = [item("a", 1000), item("b", 2000)]
    after = [item("a", 1000, "Plan a renamed"), item("c", 600)]
    lines = change(before, after, START, END, MID, "second")
    assert [(ln.key, ln.amount) for ln in lines] == [("b", -1000), ("c", 300)]


def test_a_change_at_the_start_credits_everything_and_at_the_end_nothing():
    before, after = [item("a", 999), item("b", 1)], [item("c", 777)]
    at_start = change(before, after, START, END, START, "second")
    assert sum(ln.amount for ln in at_start if ln.kind == "credit") == -1000
    assert sum(ln.amount for ln in at_start if ln.kind == "charge") == 777
    assert all(ln.amount == 0 for ln in change(before, after, START, END, END, "day"))


def test_a_credit_is_measured_like_the_charge_it_returns():
    tz = "America/New_York"
    start, end = datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC)
    at = datetime(2026, 3, 16, 3, 59, tzinfo=UTC)  # late on 15 March, local
    [charge] = [ln for ln in change([], [item("a", 3100)], start, end, at, "day", tz=tz)]
    assert charge.amount == 1700  # 17 local days of 31
    now = carried([], [item("a", 3100)], "day")
    assert now[0].basis == "day"
    # A second later, by the second, there is more left than 17 days; the credit still follows the day count.
    [credit] = change(now, [], start, end, at + timedelta(seconds=1), "second", tz=tz)
    assert credit.amount == -1700


def test_an_untouched_item_keeps_the_measure_of_its_charge():
    tz = "America/New_York"
    start, end = datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC)
    at = datetime(2026, 3, 16, 3, 0, tzinfo=UTC)  # 23:00 on 15 March, local
    [charge] = change([], [item("a", 3100)], start, end, at, "second", tz=tz)
    items = carried([], [item("a", 3100)], "second")
    later = at + timedelta(minutes=30)
    assert change(items, [*items, item("b", 10)], start, end, later, "day", tz=tz)[0].key == "b"
    items = carried(items, [*items, item("b", 10)], "day")
    assert [i.basis for i in items] == ["second", "day"]
    [credit, _] = change(items, [], start, end, later, "day", tz=tz)
    assert 0 < -credit.amount < charge.amount  # by the day count it would be 17/31 of 3100 = 1700, more than charged


def test_cancellation_credits_are_the_credit_half_of_a_change_to_nothing():
    before = [item("a", 3000), item("b", 1000, basis="day")]
    assert cancellation_credits(before, START, END, MID, "second") == change(before, [], START, END, MID, "second")
    assert [ln.amount for ln in cancellation_credits(before, START, END, MID, "second")] == [-1500, -500]


def test_duplicate_keys_are_refused():
    with pytest.raises(ValueError):
        change([item("a", 1), item("a", 2)], [], START, END, MID, "second")


# --- chained changes over a period ----------------------------------------------------------------------------------

PERIODS = [  # (start, end, tz): a 30-day UTC month, a New York March with its DST change, a Lord Howe year
    (START, END, "UTC"),
    (datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC), "America/New_York"),
    (datetime(2025, 12, 31, 13, tzinfo=UTC), datetime(2026, 12, 31, 13, tzinfo=UTC), "Australia/Lord_Howe"),
]
KEYS = ["basic", "pro", "seats"]
GRANULARITIES = st.sampled_from(["second", "day"])

prices = st.one_of(
    st.builds(lambda a: PlanPrice(currency="usd", scheme="flat", amount=a), st.integers(0, 10**7)),
    st.builds(lambda a: PlanPrice(currency="usd", scheme="per_unit", amount=a), st.integers(0, 10**6)),
)
item_sets = st.dictionaries(
    st.sampled_from(KEYS), st.tuples(prices, st.integers(min_value=1, max_value=50)), max_size=len(KEYS)
)


def items_of(state):
    return [item(key, amount_for(price, qty), f"{key} × {qty}") for key, (price, qty) in state.items()]


@st.composite
def histories(draw, granularities=GRANULARITIES):
    start, end, tz = draw(st.sampled_from(PERIODS))
    seconds = int((end - start).total_seconds())
    offsets = sorted(draw(st.lists(st.integers(0, seconds), min_size=1, max_size=6)))
    states = [draw(item_sets) for _ in range(len(offsets) + 1)]
    changes = [(start + timedelta(seconds=o), draw(granularities)) for o in offsets]
    return start, end, tz, states, changes


def replay(start, end, tz, states, changes):
    """Bill the first state in full at the start, then apply each change; check every credit against its charge."""
    items = items_of(states[0])
    last_charge = {i.key: i.amount for i in items}
    charged, credited = defaultdict(int), defaultdict(int)
    for i in items:
        charged[i.key] += i.amount
    net, count = sum(i.amount for i in items), 0
    for (at, granularity), state in zip(changes, states[1:], strict=True):
        after = items_of(state)
        lines = change(items, after, start, end, at, granularity, tz=tz)
        for line in sorted(lines, key=lambda ln: ln.kind != "credit"):  # a key's credit, then its new charge
            if line.kind == "credit":
                assert line.amount <= 0
                assert -line.amount <= last_charge.pop(line.key)  # never more back than that charge
                credited[line.key] -= line.amount
            else:
                assert line.amount >= 0
                last_charge[line.key] = line.amount
                charged[line.key] += line.amount
        net += sum(line.amount for line in lines)
        count += len(lines)
        items = carried(items, after, granularity)
    for key in credited:
        assert credited[key] <= charged[key]
    return net, count


def left(start, end, at, granularity, tz):
    """The share of the period left at ``at``: seconds, or local calendar days with the day of ``at`` counted."""
    if granularity == "second":
        return Fraction(int((end - at).total_seconds()), int((end - start).total_seconds()))
    zone = ZoneInfo(tz)
    day = lambda t: t.astimezone(zone).date()  # noqa: E731
    return Fraction((day(end) - day(at)).days, (day(end) - day(start)).days)


@settings(max_examples=150, deadline=None)
@given(history=histories(granularities=st.just("second")) | histories(granularities=st.just("day")))
def test_chained_changes_lose_nothing_but_rounding(history):
    start, end, tz, states, changes = history
    granularity = changes[0][1]
    net, count = replay(start, end, tz, states, changes)
    times = [start] + [at for at, _ in changes] + [end]
    exact = sum(  # each state's items, for the share of the period they were in force
        sum(i.amount for i in items_of(state))
        * (left(start, end, t0, granularity, tz) - left(start, end, t1, granularity, tz))
        for state, t0, t1 in zip(states, times[:-1], times[1:], strict=True)
    )
    assert abs(net - exact) <= Fraction(count, 2)  # half a minor unit per proration line, at most


@settings(max_examples=150, deadline=None)
@given(history=histories())
def test_mixed_granularities_never_credit_more_than_was_charged(history):
    replay(*history)


def test_an_untouched_item_given_afresh_keeps_the_measure_of_its_charge():
    """The service hands ``carried`` the new items as the plan makes them (no basis): an item whose amount stays
    keeps the basis of its charge, or a later credit is measured otherwise and exceeds what was charged."""
    tz = "America/New_York"
    start, end = datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC)
    at = datetime(2026, 3, 16, 3, 0, tzinfo=UTC)  # 23:00 on 15 March, local
    [charge] = change([], [item("a", 3100)], start, end, at, "second", tz=tz)
    assert charge.amount == 1606  # by the second: 1606 of 3100
    charged = carried([], [item("a", 3100)], "second")
    fresh = [item("a", 3100), item("b", 10)]  # "a" again, as the plan gives it: no basis
    kept = carried(charged, fresh, "day")
    assert [(i.key, i.basis) for i in kept] == [("a", "second"), ("b", "day")]
    [credit, _] = cancellation_credits(kept, start, end, at + timedelta(minutes=30), "day", tz=tz)
    assert -credit.amount <= charge.amount  # by the day count it would be 1700: more than was charged


def test_cancellation_credits_count_days_in_the_customers_time_zone():
    tz = "America/New_York"
    start, end = datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC)  # 31 local days
    late = datetime(2026, 3, 16, 3, 59, tzinfo=UTC)  # 15 March 23:59 in New York, 16 March in UTC
    [credit] = cancellation_credits([item("a", 3100, basis="day")], start, end, late, "day", tz=tz)
    assert credit.amount == -1700  # 17 local days of 31 (by UTC dates it would be 16: 1600)
    assert credit.description == "Unused time on Plan a from 15 Mar 2026"
