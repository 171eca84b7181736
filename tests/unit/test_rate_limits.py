"""The rate-limit meter: burst per second, rate per minute, the shared window it adds to a batch at a time, and the
tolerance that batching costs (at most ``flush_every`` more per container and window)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.rate_limits import Flush, Limit, Meter

START = 1_800_000_000.0  # a minute's first second (1_800_000_000 is divisible by 60)


class Window:
    """The shared window (what the DynamoDB item does): totals per minute and per second."""

    def __init__(self) -> None:
        self.minutes: dict[int, int] = {}
        self.seconds: dict[int, int] = {}

    def add(self, flush: Flush) -> tuple[int, int]:
        self.minutes[flush.minute] = self.minutes.get(flush.minute, 0) + flush.requests
        self.seconds[flush.second] = self.seconds.get(flush.second, 0) + flush.in_second
        return self.minutes[flush.minute], self.seconds[flush.second]


def request(meter: Meter, window: Window, at: float) -> bool:
    decision = meter.admit(at)
    if decision.flush:
        meter.heard(decision.flush, *window.add(decision.flush))
    return decision.admitted


def test_a_limit_parses_rate_and_burst_and_refuses_nonsense():
    assert Limit.parse("100/200") == Limit(100, 200)
    assert Limit.parse("5") == Limit(5, 5)
    for text in ("", "a/b", "0/10", "10/0", "-1/5"):
        with pytest.raises(ValueError):
            Limit.parse(text)
    assert Limit(100, 200).flush_every == 20 and Limit(1, 5).flush_every == 1 and Limit(1, 5).per_minute == 60


def test_one_container_gets_its_burst_in_a_second_then_waits_for_the_next():
    meter, window = Meter(Limit(rate=100, burst=10)), Window()
    admitted = [request(meter, window, START + 0.5 + i / 1000) for i in range(15)]
    assert admitted == [True] * 10 + [False] * 5
    refused = meter.admit(START + 0.9)
    assert not refused.admitted and refused.retry_after == 1
    assert request(meter, window, START + 1.0)  # the next second
    assert window.minutes[int(START) // 60] == 11  # every admitted request reached the shared window


def test_the_minute_caps_the_sustained_rate_and_retry_after_names_the_minute_end():
    meter, window = Meter(Limit(rate=1, burst=30)), Window()  # 60 a minute, 30 a second
    assert sum(request(meter, window, START + 0.1) for _ in range(40)) == 30
    assert sum(request(meter, window, START + 1.1) for _ in range(40)) == 30
    refused = meter.admit(START + 2.5)
    assert not refused.admitted and refused.retry_after == 58  # until START + 60
    assert request(meter, window, START + 60)


def test_another_containers_requests_count_once_it_has_added_them():
    limit, window = Limit(rate=100, burst=20), Window()  # flush every 2
    first, second = Meter(limit), Meter(limit)
    assert sum(request(first, window, START + 0.2) for _ in range(20)) == 20
    # the second container has heard nothing yet: it lets in requests until its first write answers the total
    assert [request(second, window, START + 0.3) for _ in range(4)] == [True, True, False, False]


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 50),
    burst=st.integers(1, 100),
    containers=st.integers(1, 6),
    arrivals=st.lists(st.tuples(st.integers(0, 5), st.floats(0, 179.999)), min_size=1, max_size=400),
)
def test_many_containers_overshoot_by_at_most_one_batch_each(rate, burst, containers, arrivals):
    """Whatever the arrivals, in every second and every minute the requests let in stay within the limit plus
    ``flush_every`` per container (each container's batch not yet added), and the meter never refuses while the
    window it has heard of, with its own pending requests, is under both limits."""
    limit, window = Limit(rate, burst), Window()
    meters = [Meter(limit) for _ in range(containers)]
    per_second: dict[int, int] = {}
    per_minute: dict[int, int] = {}
    for index, offset in sorted(arrivals, key=lambda a: a[1]):
        meter, at = meters[index % containers], START + offset
        heard_second = meter.second_total + meter.pending_in_second if int(at) == meter.second else 0
        heard_minute = meter.minute_total + meter.pending if int(at) // 60 == meter.minute else 0
        blocked = at < meter.blocked_until
        if request(meter, window, at):
            per_second[int(at)] = per_second.get(int(at), 0) + 1
            per_minute[int(at) // 60] = per_minute.get(int(at) // 60, 0) + 1
        elif not blocked:
            assert heard_second >= limit.burst or heard_minute >= limit.per_minute
    slack = containers * limit.flush_every
    assert all(count <= limit.burst + slack for count in per_second.values())
    assert all(count <= limit.per_minute + slack for count in per_minute.values())
