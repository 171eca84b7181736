"""infra/local/schedules.py: which fire times of an EventBridge Scheduler expression fall in a window of the local
clock. Windows are ``after < t <= until``; a rate counts from its anchor; cron fields are AWS's six (SUN=1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local import template as tpl
from infra.local.schedules import Schedule, utc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


ANCHOR = at(2026, 11, 23, 10, 30)  # a Monday


def fires(expression: str, after: datetime, until: datetime, anchor: datetime = ANCHOR) -> list[datetime]:
    return list(Schedule(expression).fire_times(after, until, anchor))


# --- cron ------------------------------------------------------------------------------------------------------------
def test_the_due_sweep_fires_once_a_day_at_0005_over_three_days():
    assert fires("cron(5 0 * * ? *)", at(2026, 12, 7), at(2026, 12, 10)) == [
        at(2026, 12, 7, 0, 5),
        at(2026, 12, 8, 0, 5),
        at(2026, 12, 9, 0, 5),
    ]


def test_the_templates_dunning_sweep_schedule_runs_daily_at_0905():
    functions = tpl.load()["Resources"]
    (expression,) = [
        event["Properties"]["ScheduleExpression"]
        for event in functions["DunningSweepFunction"]["Properties"]["Events"].values()
        if event["Type"] == "ScheduleV2"
    ]
    december = fires(expression, at(2026, 11, 30, 23, 59), at(2026, 12, 31, 23, 59))
    assert len(december) == 31
    assert all((t.hour, t.minute, t.second) == (9, 5, 0) for t in december)
    assert [t.day for t in december] == list(range(1, 32))


def test_after_is_exclusive_and_until_is_inclusive():
    daily = "cron(5 0 * * ? *)"
    fire = at(2026, 12, 8, 0, 5)
    assert fires(daily, fire, fire + timedelta(hours=23)) == []  # the window starts at the fire time: excluded
    assert fires(daily, fire - timedelta(hours=23), fire) == [fire]  # ... and ends at it: included
    assert fires(daily, fire - timedelta(microseconds=1), fire) == [fire]
    assert fires(daily, fire, fire) == []  # an empty window
    assert fires(daily, fire + timedelta(seconds=30), fire + timedelta(days=1)) == [fire + timedelta(days=1)]


def test_a_window_that_starts_mid_minute_still_sees_the_next_minute():
    every_minute = "cron(* * * * ? *)"
    assert fires(every_minute, at(2026, 1, 1, 0, 0, 30), at(2026, 1, 1, 0, 3)) == [
        at(2026, 1, 1, 0, 1),
        at(2026, 1, 1, 0, 2),
        at(2026, 1, 1, 0, 3),
    ]


def test_weekday_names_and_numbers_sunday_is_one():
    week = (at(2026, 11, 22, 23), at(2026, 11, 29, 23))  # Mon 23 Nov .. Sun 29 Nov 2026, 09:00 each
    weekdays = fires("cron(0 9 ? * MON-FRI *)", *week)
    assert [t.strftime("%a %d") for t in weekdays] == ["Mon 23", "Tue 24", "Wed 25", "Thu 26", "Fri 27"]
    assert fires("cron(0 9 ? * 2-6 *)", *week) == weekdays
    assert fires("cron(0 9 ? * mon-fri *)", *week) == weekdays
    assert [t.strftime("%a") for t in fires("cron(0 9 ? * 1 *)", *week)] == ["Sun"]
    assert [t.strftime("%a") for t in fires("cron(0 9 ? * SAT *)", *week)] == ["Sat"]
    assert [t.strftime("%a") for t in fires("cron(0 9 ? * MON,WED,FRI *)", *week)] == ["Mon", "Wed", "Fri"]


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        ("1/3", [1, 4, 7, 10]),  # from January, every third month
        ("*/4", [1, 5, 9]),
        ("JAN-MAR", [1, 2, 3]),
        ("2-12/5", [2, 7, 12]),
    ],
)
def test_month_steps_ranges_and_names(months, expected):
    year = fires(f"cron(0 0 1 {months} ? *)", at(2025, 12, 31), at(2026, 12, 31))
    assert [t.month for t in year] == expected
    assert all((t.day, t.hour, t.minute) == (1, 0, 0) for t in year)


def test_minute_and_hour_steps_and_lists():
    assert [t.minute for t in fires("cron(0/15 * * * ? *)", at(2026, 1, 1, 9, 59), at(2026, 1, 1, 10, 59))] == [
        0,
        15,
        30,
        45,
    ]
    assert [t.minute for t in fires("cron(10/20 8 * * ? *)", at(2026, 1, 1), at(2026, 1, 2))] == [10, 30, 50]
    assert [t.hour for t in fires("cron(0 0-23/6 * * ? *)", at(2026, 1, 1), at(2026, 1, 1, 23, 59))] == [6, 12, 18]
    assert [t.hour for t in fires("cron(30 8,17 * * ? *)", at(2026, 1, 1), at(2026, 1, 2))] == [8, 17]


def test_day_of_month_and_year_fields():
    assert fires("cron(0 12 15 * ? *)", at(2026, 1, 1), at(2026, 3, 31)) == [
        at(2026, 1, 15, 12),
        at(2026, 2, 15, 12),
        at(2026, 3, 15, 12),
    ]
    leap_day = "cron(0 0 29 2 ? *)"
    assert fires(leap_day, at(2026, 2, 1), at(2026, 3, 2)) == []
    assert fires(leap_day, at(2028, 2, 1), at(2028, 3, 2)) == [at(2028, 2, 29)]
    new_year_2027 = "cron(0 0 1 1 ? 2027)"
    assert fires(new_year_2027, at(2025, 12, 31), at(2026, 1, 2)) == []
    assert fires(new_year_2027, at(2026, 12, 31), at(2027, 1, 2)) == [at(2027, 1, 1)]


# --- rate ------------------------------------------------------------------------------------------------------------
def test_rate_one_hour_counts_from_its_anchor():
    hourly = "rate(1 hour)"
    assert fires(hourly, at(2026, 11, 23, 11), at(2026, 11, 23, 14)) == [
        at(2026, 11, 23, 11, 30),
        at(2026, 11, 23, 12, 30),
        at(2026, 11, 23, 13, 30),
    ]
    # Days later it is still on the anchor's half hour, not on the window's start.
    assert fires(hourly, at(2026, 12, 1, 7, 45), at(2026, 12, 1, 9, 45)) == [
        at(2026, 12, 1, 8, 30),
        at(2026, 12, 1, 9, 30),
    ]


def test_rate_windows_are_exclusive_after_and_inclusive_until():
    hourly = "rate(1 hour)"
    assert fires(hourly, ANCHOR, ANCHOR + timedelta(hours=1)) == [ANCHOR + timedelta(hours=1)]
    assert fires(hourly, ANCHOR + timedelta(hours=1), ANCHOR + timedelta(hours=1, minutes=59)) == []
    assert fires(hourly, ANCHOR - timedelta(days=1), ANCHOR - timedelta(hours=1)) == []  # before it existed


@pytest.mark.parametrize(
    ("expression", "step"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(3 days)", timedelta(days=3)),
    ],
)
def test_rate_units(expression, step):
    got = fires(expression, ANCHOR, ANCHOR + 4 * step)
    assert got == [ANCHOR + k * step for k in range(1, 5)]


# --- expressions it refuses ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 week)",
        "rate(1.5 hours)",
        "rate(hour)",
        "rate(-1 hours)",
        "at(2026-12-08T00:05:00)",  # one-time schedules: valid in Scheduler, not supported locally
        "cron(5 0 * * ?)",  # five fields: Unix cron, not AWS's six
        "cron(5 0 * * ? * *)",
        "cron(0 0 L * ? *)",
        "cron(0 0 ? * 6#3 *)",
        "every day at 00:05",
        "",
    ],
)
def test_unsupported_expressions_raise(expression):
    with pytest.raises(ValueError):
        list(Schedule(expression).fire_times(at(2026, 1, 1), at(2026, 1, 2), ANCHOR))


def test_a_zero_rate_is_refused_when_parsed():
    """EventBridge refuses a rate below 1; accepting it would fail later, in fire_times, on every clock tick."""
    with pytest.raises(ValueError):
        Schedule("rate(0 minutes)")


def test_utc_normalises_an_offset():
    assert utc("2026-12-08T01:05:00+01:00") == at(2026, 12, 8, 0, 5)
    assert utc("2026-12-08T00:05:00Z") == at(2026, 12, 8, 0, 5)


# --- a clock that moves in steps sees every fire time exactly once ---------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    expression=st.sampled_from(
        ["cron(5 0 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(0 9 1 1/2 ? *)", "rate(1 hour)", "rate(7 minutes)"]
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=3 * 24 * 3600 * 1000), max_size=8),
)
def test_consecutive_windows_partition_the_fire_times(expression, cuts):
    """The local runtime asks for (last, now] on every tick: the ticks together must see what one window sees."""
    start, end = at(2026, 12, 31, 22), at(2027, 1, 3, 22)
    bounds = [start, *sorted(start + timedelta(milliseconds=c) for c in cuts), end]
    stepped = [t for a, b in zip(bounds, bounds[1:], strict=False) for t in fires(expression, a, b)]
    assert stepped == fires(expression, start, end)
    assert all(start < t <= end for t in stepped)
