import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.errors import ValidationFailed
from billing.domain.periods import local_days_after, period_bounds, period_index_at, validate_timezone
from billing.domain.plans import Interval

MONTHLY = Interval(unit="month", count=1)
ZONES = ["UTC", "America/New_York", "Asia/Shanghai", "Europe/Moscow", "Australia/Lord_Howe", "America/Santiago"]


class NoOffset(tzinfo):
    """A time zone that does not know its offset: a datetime in it is naive, as Python defines it."""

    def utcoffset(self, dt):
        return None


def local(tz, *args):
    """An instant given as local wall-clock time in ``tz``."""
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_starts(anchor, tz, interval, n):
    zone = ZoneInfo(tz)
    return [period_bounds(anchor, tz, interval, k)[0].astimezone(zone).replace(tzinfo=None) for k in range(n)]


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Shanghai", "Europe/Moscow", "Australia/Lord_Howe"])
def test_a_leap_year_of_monthly_periods_from_jan_31(tz):
    anchor = local(tz, 2028, 1, 31)
    starts = local_starts(anchor, tz, MONTHLY, 13)
    days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert [s.date() for s in starts] == [date(2028, m, d) for m, d in enumerate(days, 1)] + [date(2029, 1, 31)]
    assert all(s.time() == time(0, 0) for s in starts)  # midnight local, across every DST change


def test_month_end_anchor_returns_to_its_day_after_a_short_month():
    anchor = local("UTC", 2027, 1, 30, 12)
    assert [s.day for s in local_starts(anchor, "UTC", MONTHLY, 4)] == [30, 28, 30, 30]


def test_a_feb_29_yearly_anchor_falls_back_to_feb_28_and_returns_in_leap_years():
    yearly = Interval(unit="year", count=1)
    starts = local_starts(local("Europe/Moscow", 2028, 2, 29, 8), "Europe/Moscow", yearly, 5)
    assert [s.date() for s in starts] == [date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28)] + [
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_quarterly_and_biweekly_counts():
    anchor = local("UTC", 2026, 11, 30)
    quarterly = [s.date() for s in local_starts(anchor, "UTC", Interval(unit="month", count=3), 3)]
    assert quarterly == [date(2026, 11, 30), date(2027, 2, 28), date(2027, 5, 30)]
    biweekly = [s.date() for s in local_starts(anchor, "UTC", Interval(unit="week", count=2), 3)]
    assert biweekly == [date(2026, 11, 30), date(2026, 12, 14), date(2026, 12, 28)]


def test_local_wall_clock_time_is_kept_across_dst():
    tz = "America/New_York"
    start, end = period_bounds(local(tz, 2026, 3, 1), tz, MONTHLY, 0)
    assert end - start == timedelta(days=31) - timedelta(hours=1)  # clocks went forward on 8 March
    start, end = period_bounds(local(tz, 2026, 10, 15, 9), tz, MONTHLY, 0)
    assert end - start == timedelta(days=31) + timedelta(hours=1)  # and back on 1 November


def test_a_boundary_in_a_spring_forward_gap_moves_forward_by_the_gap():
    tz = "America/New_York"  # 8 March 2026: 02:00 -> 03:00
    anchor = local(tz, 2026, 2, 8, 2, 30)
    start, _ = period_bounds(anchor, tz, MONTHLY, 1)
    assert start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert start.astimezone(ZoneInfo(tz)).time() == time(3, 30)
    back, _ = period_bounds(anchor, tz, MONTHLY, 2)
    assert back.astimezone(ZoneInfo(tz)).time() == time(2, 30)  # and back to 02:30 in April


def test_an_ambiguous_boundary_is_the_earlier_instant():
    tz = "America/New_York"  # 1 November 2026: 01:00-02:00 happens twice
    anchor = local(tz, 2026, 10, 1, 1, 30)
    start, _ = period_bounds(anchor, tz, MONTHLY, 1)
    assert start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST (06:30 UTC)


def test_the_anchor_itself_starts_period_zero_even_in_a_repeated_hour():
    tz = "America/New_York"
    anchor = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # the second 01:30
    assert period_bounds(anchor, tz, MONTHLY, 0)[0] == anchor
    assert period_index_at(anchor, tz, MONTHLY, anchor) == 0


def test_a_later_boundary_in_a_repeated_hour_is_the_earlier_instant_even_when_the_anchor_was_the_later_one():
    tz = "America/New_York"  # 1 November is the first Sunday of November again in 2037
    anchor = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # the second 01:30
    yearly = Interval(unit="year", count=1)
    assert period_bounds(anchor, tz, yearly, 11)[0] == datetime(2037, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert period_bounds(anchor, tz, MONTHLY, 132)[0] == datetime(2037, 11, 1, 5, 30, tzinfo=UTC)


def test_a_wall_clock_going_back_across_midnight_does_not_move_an_instant_to_an_earlier_period():
    tz = "America/St_Johns"  # until 2011 its clocks went back at 00:01, to 23:01 the day before
    anchor = local(tz, 2009, 9, 1)  # monthly, at local midnight
    assert period_bounds(anchor, tz, MONTHLY, 2)[0] == datetime(2009, 11, 1, 2, 30, tzinfo=UTC)  # 00:00 NDT
    after = datetime(2009, 11, 1, 3, 0, tzinfo=UTC)  # half an hour into period 2, and 23:30 on 31 October again
    assert after.astimezone(ZoneInfo(tz)).replace(tzinfo=None) == datetime(2009, 10, 31, 23, 30)
    assert period_index_at(anchor, tz, MONTHLY, after) == 2
    on_the_first = local(tz, 2009, 11, 1)  # an anchor at that midnight: the instant is after it, in period 0
    assert period_index_at(on_the_first, tz, MONTHLY, after) == 0


def test_midnight_in_a_zone_that_skips_midnight():
    tz = "America/Santiago"  # 6 September 2026: 00:00 -> 01:00
    anchor = local(tz, 2026, 8, 6)
    start, _ = period_bounds(anchor, tz, MONTHLY, 1)
    assert start.astimezone(ZoneInfo(tz)).replace(tzinfo=None) == datetime(2026, 9, 6, 1, 0)


def test_bounds_and_trial_ends_are_utc():
    start, end = period_bounds(local("Asia/Shanghai", 2026, 1, 1), "Asia/Shanghai", MONTHLY, 0)
    assert start == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    shanghai = datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    for days in (0, 14):  # a trial of no days ends as it starts, still in UTC
        assert local_days_after(shanghai, "Asia/Shanghai", days).tzinfo is UTC


def test_bad_inputs_are_refused():
    with pytest.raises(ValidationFailed) as caught:
        validate_timezone("Mars/Olympus_Mons")
    assert caught.value.code == "unknown_timezone"
    for bad in ("", "../etc/passwd", "/etc/passwd"):  # hostile path, on purpose
        with pytest.raises(ValidationFailed):
            validate_timezone(bad)
    with pytest.raises(ValueError):
        period_bounds(datetime(2026, 1, 1), "UTC", MONTHLY, 0)  # naive
    with pytest.raises(ValueError):
        period_bounds(datetime(2026, 1, 1, tzinfo=NoOffset()), "UTC", MONTHLY, 0)  # a zone that gives no offset
    with pytest.raises(ValueError):
        period_bounds(datetime(2026, 1, 1, tzinfo=UTC), "UTC", MONTHLY, -1)
    with pytest.raises(ValueError):
        period_index_at(datetime(2026, 1, 2, tzinfo=UTC), "UTC", MONTHLY, datetime(2026, 1, 1, tzinfo=UTC))


def test_local_days_after_keeps_the_wall_clock():
    tz = "America/New_York"
    assert local_days_after(local(tz, 2026, 3, 1, 9), tz, 14) == local(tz, 2026, 3, 15, 9)
    assert local_days_after(local(tz, 2026, 3, 1, 9), tz, 0) == local(tz, 2026, 3, 1, 9)
    assert local_days_after(local(tz, 2026, 3, 1, 9), tz, 1) == local(tz, 2026, 3, 2, 9)  # a 1-day trial ends a day on
    assert local_days_after(local(tz, 2026, 3, 7, 9), tz, 1) == local(tz, 2026, 3, 8, 9)  # across the DST change


# --- properties ----------------------------------------------------------------------------------------------------

anchors = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0)
)
intervals = st.builds(Interval, unit=st.sampled_from(["week", "month", "year"]), count=st.integers(1, 36))


@settings(max_examples=120)
@given(anchor=anchors, tz=st.sampled_from(ZONES), interval=intervals, k=st.integers(0, 40))
def test_periods_tile_time_without_gap_or_overlap(anchor, tz, interval, k):
    start, end = period_bounds(anchor, tz, interval, k)
    next_start, next_end = period_bounds(anchor, tz, interval, k + 1)
    assert start < end == next_start < next_end
    if k == 0:
        assert start == anchor


@settings(max_examples=120)
@given(anchor=anchors, tz=st.sampled_from(ZONES), k=st.integers(1, 60), count=st.integers(1, 12))
def test_a_monthly_boundary_is_the_anchor_day_or_the_months_last_day_at_the_anchors_wall_time(anchor, tz, k, count):
    zone = ZoneInfo(tz)
    start = period_bounds(anchor, tz, Interval(unit="month", count=count), k)[0]
    first = anchor.astimezone(zone).replace(tzinfo=None)
    year, month0 = divmod(first.year * 12 + first.month - 1 + k * count, 12)
    day = min(first.day, calendar.monthrange(year, month0 + 1)[1])
    wall = datetime.combine(date(year, month0 + 1, day), first.time())
    earlier = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if earlier.astimezone(zone).replace(tzinfo=None) == wall:  # the wall time exists: its earlier instant
        assert start == earlier
    else:  # a gap: the boundary moves forward by the gap, the same day in these zones
        local_start = start.astimezone(zone).replace(tzinfo=None)
        assert wall < local_start < wall + timedelta(hours=2)
        assert local_start.date() == wall.date()


@settings(max_examples=120)
@given(anchor=anchors, tz=st.sampled_from(ZONES), interval=intervals, offset=st.integers(0, 10**9))
def test_the_index_at_an_instant_is_the_period_containing_it(anchor, tz, interval, offset):
    instant = anchor + timedelta(seconds=offset)
    k = period_index_at(anchor, tz, interval, instant)
    start, end = period_bounds(anchor, tz, interval, k)
    assert start <= instant < end


@settings(max_examples=60)
@given(anchor=anchors, tz=st.sampled_from(ZONES), interval=intervals, k=st.integers(1, 40))
def test_a_period_boundary_belongs_to_the_period_it_starts(anchor, tz, interval, k):
    start, _ = period_bounds(anchor, tz, interval, k)
    assert period_index_at(anchor, tz, interval, start) == k
    assert period_index_at(anchor, tz, interval, start - timedelta(microseconds=1)) == k - 1


def test_the_index_is_computed_not_searched(monkeypatch):
    """``period_index_at`` estimates the index from the calendar and corrects it by at most a period each way:
    a century of monthly periods costs a few boundary computations, not a thousand."""
    from billing.domain import periods

    calls = []
    real = periods.boundary
    monkeypatch.setattr(periods, "boundary", lambda *a: calls.append(a[-1]) or real(*a))
    anchor = datetime(2000, 1, 31, 9, 30, tzinfo=UTC)
    cases = [
        (anchor, "America/New_York", Interval(unit=unit, count=count), instant)
        for unit, count in (("month", 1), ("week", 2), ("year", 1), ("month", 3))
        for instant in (anchor, anchor + timedelta(days=36525), datetime(2042, 7, 1, tzinfo=UTC))
    ]
    # the calendar is the customer's: late in the evening in New York, early in the morning in Auckland, the day
    # (and the month) in UTC is another one. A minute before a period ends, on its last local day:
    for tz, wall, k in (("America/New_York", (2026, 1, 30, 22), 3), ("Pacific/Auckland", (2026, 3, 1, 5), 2)):
        start = local(tz, *wall)
        cases.append((start, tz, MONTHLY, periods.boundary(start, tz, MONTHLY, k) - timedelta(minutes=1)))
    for start, tz, interval, instant in cases:
        calls.clear()
        k = periods.period_index_at(start, tz, interval, instant)
        assert len(calls) <= 3, (tz, interval, instant, calls)
        begin, end = periods.period_bounds(start, tz, interval, k)
        assert begin <= instant < end
