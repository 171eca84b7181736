"""Tenant webhooks on the local stack, over HTTP as a tenant would use them, to real receivers in this test (HTTP
servers on 127.0.0.1 that verify every request with the ``standardwebhooks`` library): one flaky (fails, times out,
fails, then recovers), one dead (always 500), one gone (410). Moving the stack's clock proves that every attempt
lands at the schedule's time, that the dead endpoint is disabled after 3 days of failures and the gone one at once,
each with an e-mail to the tenant's finance address; the receivers count the duplicates they see by webhook-id.

The run's figures (sent, retried, delivered, given up, duplicates seen) are printed and written to
``webhook_figures.json`` in the stack's state folder."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from billing.outbound import retry
from infra.local.stack import LOCAL_WEBHOOK_TIMEOUT_SECONDS
from tests.e2e.clock import advance, now
from tests.e2e.test_storefront import emails_to
from tests.webhook_receiver import Receiver

# How late an attempt may start after its due instant: the queues settle first, and the local runtime makes one
# invocation at a time, so another delivery's attempt due at the same instant may time out first (3 s locally).
TOLERANCE = timedelta(seconds=2 + LOCAL_WEBHOOK_TIMEOUT_SECONDS)
# The first retry (5 s) comes while the test waits, on the stack's clock running at the real pace: on a busy machine
# (the suite runs two workers on two cores) the runtime's one-at-a-time invocations may start it later still. Never
# earlier: the lower bound holds for every attempt.
REAL_TIME_TOLERANCE = timedelta(seconds=30)


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def create(shop: Any, receiver: Receiver) -> dict[str, Any]:
    answer = shop.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["customer.created"]})
    assert answer.status_code == 201, answer.text
    receiver.secrets = [answer.json()["secret"]]
    return answer.json()


def deliveries(shop: Any, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    answer = shop.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries")
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def endpoint_now(shop: Any, endpoint: dict[str, Any]) -> dict[str, Any]:
    return shop.get(f"/v1/webhook_endpoints/{endpoint['id']}").json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_on_schedule(delivery: dict[str, Any]) -> None:
    """Each attempt after the first started within the schedule's bounds after the one before (plus the time the
    stack takes to settle its queues before it)."""
    attempts = delivery["attempts"]
    for before, after in zip(attempts, attempts[1:], strict=False):
        low, high = retry.bounds_after(before["number"])
        gap = at(after["at"]) - at(before["at"])
        late = REAL_TIME_TOLERANCE if before["number"] == 1 else TOLERANCE
        assert low <= gap <= high + late, (before["number"], gap, low, high)


def test_deliveries_retry_on_the_stacks_clock_and_dead_endpoints_are_disabled(shop, stack):
    put = shop.http.put(
        shop.base + "/v1/settings/profile",
        json={"legal_name": "Local Tenant GmbH", "finance_email": "finance@tenant.example", "default_locale": "en"},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    with Receiver(sleep_seconds=4) as flaky, Receiver() as dead, Receiver() as gone:
        flaky.script = ["fail", "timeout", "fail"]  # then "ok": the 4th attempt succeeds
        dead.mode, gone.mode = "fail", "gone"
        endpoints = {"flaky": create(shop, flaky), "dead": create(shop, dead), "gone": create(shop, gone)}
        for n in range(2):
            body = {"email": f"hook{n}@example.com", "name": f"Hook {n}", "locale": "en", "currency": "usd"}
            assert shop.post("/v1/customers", body).status_code == 201
        wait_for(lambda: flaky.count() == 2 and dead.count() == 2 and gone.count() >= 1)
        shop.post("/_local/drain")

        # 410: disabled at once, nothing more sent to it, the finance address told
        assert endpoint_now(shop, endpoints["gone"])["disabled_reason"] == "gone"
        assert {d["status"] for d in deliveries(shop, endpoints["gone"])} == {"given_up"}

        # the flaky endpoint: 5 s, 5 min, 30 min later; recovered at the 4th attempt
        started = now(shop)
        advance(shop, to=(started + timedelta(minutes=40)).isoformat())
        flaky_deliveries = deliveries(shop, endpoints["flaky"])
        assert [d["status"] for d in flaky_deliveries] == ["succeeded", "succeeded"]
        for delivery in flaky_deliveries:
            assert [a["response_code"] for a in delivery["attempts"]] == [500, None, 500, 200]
            assert delivery["attempts"][1]["error"].startswith("timeout")
            assert_on_schedule(delivery)
        assert flaky.duplicates == 2  # the timed-out request had reached it: the 4th is seen twice

        # the dead endpoint: move the clock to each next attempt in turn, until it is disabled
        moves = 0
        while endpoint_now(shop, endpoints["dead"])["enabled"]:
            due = [at(d["next_attempt_at"]) for d in deliveries(shop, endpoints["dead"]) if d["next_attempt_at"]]
            assert due, "the dead endpoint's deliveries stopped before it was disabled"
            advance(shop, to=(min(due) + timedelta(seconds=1)).isoformat())
            moves += 1
            assert moves < 40
        disabled = endpoint_now(shop, endpoints["dead"])
        assert disabled["disabled_reason"] == "failing"
        failing_for = at(disabled["disabled_at"]) - at(disabled["failing_since"])
        assert timedelta(days=3) <= failing_for < timedelta(days=3, hours=12)
        # the other delivery's next attempt finds the endpoint disabled and gives up without a request
        advance(shop, days=2)
        dead_deliveries = deliveries(shop, endpoints["dead"])
        assert {d["status"] for d in dead_deliveries} == {"given_up"}
        for delivery in dead_deliveries:
            assert_on_schedule(delivery)
            assert {a["response_code"] for a in delivery["attempts"]} == {500}
        assert 11 <= max(d["attempt_count"] for d in dead_deliveries) < retry.ATTEMPTS
        assert shop.get("/_local/clock").json()["delayed_messages"] == 0  # nothing is waiting any more
        assert dead.count() == sum(d["attempt_count"] for d in dead_deliveries)
        mails = emails_to(shop, "finance@tenant.example", at_least=2)
        assert sorted(m["kind"] for m in mails) == ["webhook_endpoint_disabled"] * 2
        assert all(r.verified for r in flaky.received + dead.received + gone.received)

        every = [d for e in endpoints.values() for d in deliveries(shop, e)]
        figures = {
            "sent": flaky.count() + dead.count() + gone.count(),
            "sent_by_endpoint": {"flaky": flaky.count(), "dead": dead.count(), "gone": gone.count()},
            "timeouts": flaky.count("timeout"),
            "retried": sum(max(0, d["attempt_count"] - 1) for d in every),
            "delivered": sum(d["status"] == "succeeded" for d in every),
            "given_up": sum(d["status"] == "given_up" for d in every),
            "duplicates_seen": flaky.duplicates + dead.duplicates + gone.duplicates,
            "clock_moves_to_disable_the_dead_endpoint": moves,
            "dead_endpoint_failing_for_hours": round(failing_for.total_seconds() / 3600, 1),
        }

        # the dead endpoint comes back: enabled again, the window it missed replayed (the same webhook-ids)
        before_replay = dead.count()
        dead.mode = "ok"
        enabled = shop.http.patch(
            f"{shop.base}/v1/webhook_endpoints/{endpoints['dead']['id']}", json={"enabled": True}, timeout=30
        )
        assert enabled.status_code == 200 and enabled.json()["failing_since"] is None
        window = {"from": (started - timedelta(hours=1)).isoformat(), "to": now(shop).isoformat()}
        replayed = shop.post(f"/v1/webhook_endpoints/{endpoints['dead']['id']}/replay", window)
        assert replayed.status_code == 202 and replayed.json()["replayed"] == 2, replayed.text
        # plus a delivery for any customer.created of the window from before the endpoint (another test's)
        wait_for(lambda: dead.count() == before_replay + 2 + replayed.json()["queued"])
        shop.post("/_local/drain")
        assert {d["status"] for d in deliveries(shop, endpoints["dead"])} == {"succeeded"}
        assert {r.webhook_id for r in dead.received[-2:]} == {d["event_id"] for d in dead_deliveries}
        figures["replayed_and_delivered"] = 2
        print("\nwebhook figures:", json.dumps(figures))
        (Path(stack["state_dir"]) / "webhook_figures.json").write_text(json.dumps(figures, indent=2))
        # the gone endpoint gave up on each delivery made before it was disabled: one, or two when both customers'
        # events reached the delivery function before its 410 did (the relay's batching decides)
        gone_deliveries = len(deliveries(shop, endpoints["gone"]))
        assert 1 <= gone_deliveries <= 2 and gone.count() == 1
        assert figures["delivered"] == 2 and figures["given_up"] == 2 + gone_deliveries
        assert figures["duplicates_seen"] == 2
