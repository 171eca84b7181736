"""The pure parts of the demo's main job and of the e2e month, over any start instant: the rules that decide which
scheduled run picks up an invoice's dunning step or a subscription's period, and which counter numbers an invoice.
The real stack plays both stories from a handful of these instants (tests/e2e/test_start_instants_*.py); here every
instant hypothesis can find, and the ones named in FRAGILE always.

What each named instant is for: midnight UTC and a second either side, the minute before and after each schedule's
fire time (the daily dunning sweep at 09:05, the hourly billing run at :10, reconciliation at :15 every third hour),
the 31st of a month, 28 and 29 February (2028 is a leap year), the last minutes of a year (numbers restart), and a
New York customer across both DST changes of 2027 (14 March, 7 November)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.adapters import keys
from billing.domain.dunning import DEFAULT_POLICY, STEP_TIME, timeline
from billing.domain.models import Customer, Invoice
from billing.domain.numbering import DEFAULT_FORMAT, period_key, render
from billing.domain.periods import boundary, period_index_at
from billing.domain.pricing import LineInput
from billing.domain.subscriptions import Subscription
from billing.services.dunning import LOOKBACK_DAYS
from billing.services.subscriptions import RUN_DELAY
from infra.local import template as tpl
from infra.local.schedules import Schedule
from tests.unit.test_subscriptions import PRO, item


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


FRAGILE = [
    at(t)
    for t in (
        "2026-12-02T03:20:00Z",  # the hour the demo first failed (before the sweep's 09:05)
        "2027-06-15T00:00:00Z",
        "2027-06-15T00:00:30Z",
        "2027-06-14T23:59:30Z",
        "2027-06-15T09:04:30Z",
        "2027-06-15T09:05:30Z",
        "2027-06-15T10:09:30Z",
        "2027-06-15T10:10:30Z",
        "2027-06-15T09:05:00Z",  # + RUN_DELAY (1 h 5 min) lands exactly on a billing run's fire time
        "2027-06-15T12:14:30Z",
        "2027-06-15T12:15:30Z",
        "2027-01-31T09:04:30Z",
        "2027-01-31T23:59:30Z",
        "2027-02-28T12:00:00Z",
        "2028-02-28T23:59:30Z",
        "2028-02-29T00:00:30Z",
        "2028-02-29T23:59:30Z",
        "2026-12-31T23:58:00Z",
        "2026-12-31T23:59:59Z",
        "2027-03-14T06:59:30Z",  # New York: 01:59:30 EST, just before the clocks go forward
        "2027-03-14T07:00:30Z",
        "2027-11-07T05:59:30Z",  # New York: 01:59:30 EDT, just before the clocks go back
        "2027-11-07T06:00:30Z",
    )
]
ZONES = ["UTC", "America/New_York", "Europe/Moscow", "Asia/Shanghai"]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


def template_schedule(name: str) -> Schedule:
    """The schedule the template gives the function of ``name`` (its event's Input names it)."""
    for function in tpl.functions(tpl.load()):
        for event in function.events.values():
            props = event.get("Properties", {})
            if event["Type"] == "ScheduleV2" and f'"schedule": "{name}"' in props.get("Input", ""):
                return Schedule(props["ScheduleExpression"])
    raise KeyError(name)


SWEEP = template_schedule("dunning-sweep")
BILLING_RUN = template_schedule("billing-run")


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    return next(schedule.fire_times(after, after + timedelta(days=2), after))


def with_examples(*more):
    """Every FRAGILE instant as an explicit example (with each of ``more`` as the other argument, if any)."""

    def decorate(test):
        for instant in FRAGILE:
            for other in more or [None]:
                test = example(instant, other)(test) if more else example(instant)(test)
        return test

    return decorate


# --- the demo: an invoice, its due date, the sweep that sends its first reminder -------------------------------------


def send_invoice_issued_at(now: datetime, days_until_due: int = 14) -> Invoice:
    customer = Customer(
        id="cus_1", tenant_id="ten_1", email="a@example.com", name="A", locale="en", currency="usd", created_at=now
    )
    lines = [LineInput(description="Pro plan", quantity=1, unit_amount=4900, tax_rate_percent="8.25")]
    draft = Invoice.draft(customer, lines, now, collection_method="send_invoice", days_until_due=days_until_due)
    return draft.finalize("INV-2026-000001", now)[0]


@with_examples()
@given(instants)
@settings(max_examples=300)
def test_the_sweeps_of_the_due_day_and_of_the_first_step_day_find_the_invoice(start):
    invoice = send_invoice_issued_at(start)
    assert invoice.due_date == start.date() + timedelta(days=14)
    assert invoice.dunning.attention_on == invoice.due_date  # the worker looks at it on its due date first
    first = timeline(DEFAULT_POLICY, invoice.due_date, None)[0]
    assert first.at == datetime.combine(invoice.due_date + timedelta(days=1), STEP_TIME, UTC)
    for day in (invoice.due_date, first.at.date()):
        # the demo moves to "the first sweep after that day's midnight": it is that day's, after the step's time
        sweep = next_fire(SWEEP, datetime.combine(day, time(0), UTC))
        assert sweep.date() == day and sweep >= datetime.combine(day, STEP_TIME, UTC)
        assert sweep > start  # still ahead of the stack's clock: moving to it fires it
        looked_at = {sweep.date() - timedelta(days=back) for back in range(LOOKBACK_DAYS + 1)}
        assert day in looked_at


def test_a_fixed_fifteen_day_move_is_what_failed_before_the_sweeps_hour():
    """Why the demo no longer moves by a duration: from 03:20 UTC, 15 days stop short of the first step's sweep."""
    start = at("2026-12-02T03:20:00Z")
    step_day = timeline(DEFAULT_POLICY, send_invoice_issued_at(start).due_date, None)[0].at.date()
    assert start + timedelta(days=15) < next_fire(SWEEP, datetime.combine(step_day, time(0), UTC))


# --- the month: each period billed once, by the first billing run after it is due ------------------------------------


@with_examples("UTC", "America/New_York")
@given(instants, st.sampled_from(ZONES))
@settings(max_examples=300)
def test_each_period_is_billed_by_the_first_billing_run_after_it_is_due_and_within_it(start, zone):
    sub, _ = Subscription.create("ten_1", "cus_1", "usd", [item(PRO, 3)], start, timezone=zone)
    anchor = sub.billing_anchor
    for k in range(3):
        due = sub.next_billing_at
        assert due == boundary(anchor, zone, sub.interval, k)
        # the billing index holds the subscription at due + RUN_DELAY; a run's Query reads the keys up to its time:
        # the run that bills it is the first at or after that instant (one exactly at it included), not one before
        run = next_fire(BILLING_RUN, due + RUN_DELAY - timedelta(microseconds=1))
        assert keys.instant(due + RUN_DELAY) <= keys.instant(run)
        assert keys.instant(run - timedelta(hours=1)) < keys.instant(due + RUN_DELAY)
        assert run < boundary(anchor, zone, sub.interval, k + 1)  # billed inside its own period
        assert period_index_at(anchor, zone, sub.interval, run) == k
        sub, lines, _ = sub.bill_period(k, {}, run)
        assert sub.current_period_index == k + 1 and [line.quantity for line in lines] == [3]


@pytest.mark.parametrize(
    ("start", "wall_clock"),
    [
        (at("2027-02-14T06:30:00Z"), "01:30"),  # EST; period 1 on 14 March at 01:30 EST, before the jump
        (at("2027-10-07T05:30:00Z"), "01:30"),  # EDT; period 1 on 7 November at 01:30, the first (EDT) one
        (at("2027-01-31T04:59:30Z"), "23:59"),  # the 30th in New York, 23:59:30: month ends and both changes
    ],
)
def test_a_new_york_subscriber_keeps_its_wall_clock_across_both_dst_changes(start, wall_clock):
    zone = "America/New_York"
    sub, _ = Subscription.create("ten_1", "cus_1", "usd", [item(PRO)], start, timezone=zone)
    for k in range(12):
        boundary_k = boundary(sub.billing_anchor, zone, sub.interval, k)
        assert boundary_k.astimezone(ZoneInfo(zone)).strftime("%H:%M") == wall_clock
        run = next_fire(BILLING_RUN, boundary_k + RUN_DELAY)
        assert run < boundary(sub.billing_anchor, zone, sub.interval, k + 1)


# --- numbers: the counter of the year the invoice is issued in -------------------------------------------------------


@with_examples()
@given(instants)
def test_a_number_draws_from_the_counter_of_the_utc_year_it_is_issued_in(issued):
    assert period_key(DEFAULT_FORMAT, issued) == str(issued.year)
    assert render(DEFAULT_FORMAT, issued, 1) == f"INV-{issued.year}-000001"


def test_the_first_invoice_of_a_new_year_restarts_at_one():
    last, first = at("2026-12-31T23:59:59.999999Z"), at("2027-01-01T00:00:00Z")
    assert (period_key(DEFAULT_FORMAT, last), period_key(DEFAULT_FORMAT, first)) == ("2026", "2027")
    # an instant given in another zone is numbered by its UTC year
    moscow_new_year = datetime.fromisoformat("2027-01-01T02:00:00+03:00")
    assert period_key(DEFAULT_FORMAT, moscow_new_year.astimezone(UTC)) == "2026"
