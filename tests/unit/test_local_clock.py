"""The local stack's clock: where a move asks it to go (infra/local/clock_moves.py), and the runtime firing each
schedule fire time exactly once, in order, whether the clock is moved or time passes (infra/local/runtime.py)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.adapters.clock import FixedClock, OffsetFileClock
from infra.local.clock_moves import BadMove, summary, target_of
from infra.local.runtime import LocalRuntime, ScheduledTarget
from infra.local.schedules import Schedule

NOW = datetime(2026, 12, 2, 3, 20, 0, tzinfo=UTC)
SWEEP_AT = datetime(2026, 12, 2, 9, 5, tzinfo=UTC)


def next_fire(name: str, after: datetime) -> datetime:
    if name != "dunning-sweep":
        raise KeyError(name)
    return next(Schedule("cron(5 9 * * ? *)").fire_times(after, after + timedelta(days=2), after))


def target(spec):
    return target_of(spec, NOW, next_fire, max_days=800)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"days": 30}, NOW + timedelta(days=30)),
        ({"hours": 6}, NOW + timedelta(hours=6)),
        (
            {"days": 1, "hours": 2, "minutes": 3, "seconds": 4.5},
            NOW + timedelta(days=1, hours=2, minutes=3, seconds=4.5),
        ),
        ({"days": 0.5}, NOW + timedelta(hours=12)),
        ({"to": "2026-12-31T23:58:00Z"}, datetime(2026, 12, 31, 23, 58, tzinfo=UTC)),
        ({"to": "2026-12-03T00:00:00+03:00"}, datetime(2026, 12, 2, 21, 0, tzinfo=UTC)),
        ({"to_next": "dunning-sweep"}, SWEEP_AT),
        ({"to_next": "dunning-sweep", "after": "2026-12-17T00:00:00Z"}, datetime(2026, 12, 17, 9, 5, tzinfo=UTC)),
        ({"to_next": "dunning-sweep", "after": "2026-12-02T09:05:00Z"}, SWEEP_AT + timedelta(days=1)),
        ({"to_next": "dunning-sweep", "after": "2026-12-01T00:00:00Z"}, None),  # that sweep has fired already
    ],
)
def test_a_move_goes_where_it_says(spec, expected):
    assert target(spec) == expected


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({}, "invalid_advance"),
        ([30], "invalid_advance"),
        ("30 days", "invalid_advance"),
        ({"weeks": 1}, "invalid_advance"),
        ({"days": 1, "to": "2027-01-01T00:00:00Z"}, "invalid_advance"),
        ({"to": "2027-01-01T00:00:00Z", "after": "2027-01-01T00:00:00Z"}, "invalid_advance"),
        ({"days": -1}, "invalid_duration"),
        ({"days": 0}, "invalid_duration"),
        ({"days": True}, "invalid_duration"),
        ({"days": "3"}, "invalid_duration"),
        ({"days": 801}, "too_far"),
        ({"days": 1e12}, "too_far"),
        ({"to": "2029-12-31T00:00:00Z"}, "too_far"),
        ({"to": "2026-12-01T00:00:00Z"}, "instant_in_past"),
        ({"to": NOW.isoformat()}, "instant_in_past"),
        ({"to": "2027-01-01T00:00:00"}, "invalid_instant"),
        ({"to": "tomorrow"}, "invalid_instant"),
        ({"to": 1798761600}, "invalid_instant"),
        ({"to_next": "payroll"}, "unknown_schedule"),
        ({"to_next": "dunning-sweep", "after": "yesterday"}, "invalid_instant"),
    ],
)
def test_a_bad_move_is_refused_with_a_stable_code(spec, code):
    with pytest.raises(BadMove) as refused:
        target(spec)
    assert refused.value.code == code and refused.value.detail


def test_the_offset_clock_starts_at_a_given_instant_and_runs_on(tmp_path):
    clock = OffsetFileClock(tmp_path / "clock.json")
    start = datetime(2028, 2, 29, 23, 59, 30, tzinfo=UTC)
    clock.set(start)
    assert start <= clock.now() < start + timedelta(seconds=5)
    assert OffsetFileClock(tmp_path / "clock.json").now() - start < timedelta(seconds=5)  # another reader agrees
    clock.advance(timedelta(days=1))
    assert start + timedelta(days=1) <= clock.now() < start + timedelta(days=1, seconds=5)
    with pytest.raises(ValueError, match="offset"):
        clock.set(datetime(2028, 2, 29))


# --- each fire time once ---------------------------------------------------------------------------------------------


def runtime_at(start: datetime) -> tuple[LocalRuntime, list[tuple[str, datetime]]]:
    """A runtime with the template's kind of schedules and a clock at ``start``, recording what it fires."""
    rt = LocalRuntime.__new__(LocalRuntime)
    rt.clock = FixedClock(start)
    rt.scheduled = [
        ScheduledTarget(name, Schedule(expression), "Function", "{}", start)
        for name, expression in (
            ("billing-local-billing-run", "cron(10 * * * ? *)"),
            ("billing-local-dunning-sweep", "cron(5 9 * * ? *)"),
            ("billing-local-stripe-reconciliation", "cron(15 */3 * * ? *)"),
            ("billing-local-every-7-hours", "rate(7 hours)"),
        )
    ]
    rt.fired_until = start
    rt.stage = "local"
    fired: list[tuple[str, datetime]] = []

    def fire(target, when):
        assert rt.clock.now() >= when  # a target runs at or after its fire time, never before
        fired.append((target.name, when))
        return {"schedule": target.name, "scheduled_time": when}

    rt.fire, rt.drain = fire, lambda: 0
    rt.clock_lock, rt.drain_lock = threading.Lock(), threading.RLock()
    return rt, fired


def expected_fires(rt: LocalRuntime, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    every = [(s.name, t) for s in rt.scheduled for t in s.schedule.fire_times(start, end, s.anchor)]
    return sorted(every, key=lambda pair: pair[1])


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)),
    steps=st.lists(
        st.tuples(st.sampled_from(["move", "pass"]), st.integers(min_value=1, max_value=3 * 24 * 3600)),
        min_size=1,
        max_size=8,
    ),
)
@settings(max_examples=60, deadline=None)
def test_moving_and_passing_time_fire_each_fire_time_once_in_order(start, steps):
    rt, fired = runtime_at(start)
    for kind, seconds in steps:
        if kind == "move":
            rt.advance(timedelta(seconds=seconds))
        else:  # real time passes; the serve mode's background loop catches up
            rt.clock.advance(timedelta(seconds=seconds))
            with rt.clock_lock:
                rt._fire_due(rt.clock.now(), move_clock=False)
    assert fired == expected_fires(rt, start, rt.clock.now())
    assert len(set(fired)) == len(fired)


def test_a_move_sets_the_clock_to_each_fire_time_then_to_where_it_was_asked():
    rt, fired = runtime_at(NOW)
    clock_at_fire = []
    record = rt.fire

    def fire(target, when):
        clock_at_fire.append(rt.clock.now())
        return record(target, when)

    rt.fire = fire
    end = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    rt.advance_to(end)
    times = [when for _, when in fired]
    assert times == clock_at_fire == sorted(times)  # in order, the clock reading each fire time as its target runs
    assert Counter(name.removeprefix("billing-local-") for name, _ in fired) == {
        "billing-run": 7,  # 04:10 … 10:10
        "stripe-reconciliation": 2,  # 06:15, 09:15
        "dunning-sweep": 1,  # 09:05
        "every-7-hours": 1,  # 10:20, seven hours after the schedule was made at 03:20
    }
    assert rt.clock.now() == end


def test_a_schedule_is_found_by_its_template_name_or_its_name_in_the_stage():
    rt, _ = runtime_at(NOW)
    assert rt.schedule("dunning-sweep") is rt.schedule("billing-local-dunning-sweep")
    assert rt.next_fire("dunning-sweep", NOW) == SWEEP_AT
    assert rt.next_fire("billing-run", SWEEP_AT - timedelta(seconds=1)) == datetime(2026, 12, 2, 9, 10, tzinfo=UTC)
    with pytest.raises(KeyError):
        rt.schedule("payroll")


def test_a_move_answers_a_summary_per_schedule_not_a_line_per_fire():
    fired = [
        {"schedule": "billing-run", "scheduled_time": "2026-12-02T04:10:00Z", "result": {"fanned_out": 2}},
        {"schedule": "dunning-sweep", "scheduled_time": "2026-12-02T09:05:00Z", "result": {"fanned_out": 3}},
        {"schedule": "billing-run", "scheduled_time": "2026-12-02T05:10:00Z", "result": {"fanned_out": 0}},
        {"schedule": "reconciliation", "scheduled_time": "2026-12-02T06:15:00Z", "result": None},  # a repeated run
        {"schedule": "billing-run", "scheduled_time": "2026-12-02T06:10:00Z", "result": {"duplicate": True}},
    ]
    assert summary(fired) == {
        "fires": 5,
        "schedules": {
            "billing-run": {
                "fires": 3,
                "first": "2026-12-02T04:10:00Z",
                "last": "2026-12-02T06:10:00Z",
                "totals": {"fanned_out": 2},
            },
            "dunning-sweep": {
                "fires": 1,
                "first": "2026-12-02T09:05:00Z",
                "last": "2026-12-02T09:05:00Z",
                "totals": {"fanned_out": 3},
            },
            "reconciliation": {
                "fires": 1,
                "first": "2026-12-02T06:15:00Z",
                "last": "2026-12-02T06:15:00Z",
                "totals": {},
            },
        },
    }
    assert summary([]) == {"fires": 0, "schedules": {}}
