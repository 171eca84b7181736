"""Tenant webhooks' pure parts: Standard Webhooks signatures (verified by the ``standardwebhooks`` library itself),
both signatures during a rotation, the retry schedule and its jitter over more than three days, the SSRF policy,
and what an attempt's outcome does to a delivery and its endpoint (billing.outbound, billing.domain.webhooks)."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from billing.domain.webhooks import (
    DISABLE_AFTER,
    EndpointSecret,
    Outcome,
    WebhookDelivery,
    WebhookEndpoint,
    delivery_id,
    record_attempt,
    retried,
)
from billing.outbound import retry, signing, ssrf

NOW = datetime.now(UTC).replace(microsecond=0)  # the library checks the timestamp against the real clock
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- signatures ------------------------------------------------------------------------------------------------
def test_a_secret_is_whsec_and_24_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert signing.new_secret() != secret


def test_the_library_verifies_what_we_sign():
    secret = signing.new_secret()
    body = json.dumps({"id": "evt_1", "type": "invoice.paid"})
    headers = signing.headers("evt_1", NOW, body, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1", "type": "invoice.paid"}


def test_a_changed_body_or_another_secret_does_not_verify():
    secret = signing.new_secret()
    body = '{"id":"evt_1"}'
    headers = signing.headers("evt_1", NOW, body, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"id":"evt_2"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):  # a replayed request, an hour late
        Webhook(secret).verify(body, signing.headers("evt_1", NOW - timedelta(hours=1), body, [secret]))


def test_during_a_rotation_both_secrets_verify_the_same_request():
    old, new = signing.new_secret(), signing.new_secret()
    endpoint = WebhookEndpoint(
        id="we_1",
        tenant_id="t",
        url="https://example.com/h",
        enabled_events=["*"],
        secrets=[
            EndpointSecret(secret=new, created_at=NOW),
            EndpointSecret(secret=old, created_at=NOW - timedelta(days=9), expires_at=NOW + timedelta(hours=24)),
        ],
        created_at=NOW,
        updated_at=NOW,
    )
    body = '{"id":"evt_9"}'
    headers = signing.headers("evt_9", NOW, body, endpoint.signing_secrets(NOW))
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(sig.startswith("v1,") for sig in headers["webhook-signature"].split(" "))
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    # once the window is over only the new one signs
    assert endpoint.signing_secrets(NOW + timedelta(hours=24)) == [new]


def test_nothing_is_signed_without_a_secret():
    with pytest.raises(ValueError):
        signing.headers("evt_1", NOW, "{}", [])


# --- the retry schedule ----------------------------------------------------------------------------------------
def test_the_schedule_is_the_issues_and_gives_up_after_fourteen_attempts():
    assert retry.DELAYS[:7] == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert retry.ATTEMPTS == 14
    assert retry.delay_after(retry.ATTEMPTS, random.Random(1)) is None
    assert retry.delay_after(0, random.Random(1)) is None


def test_every_wait_is_within_ten_percent_and_jittered():
    for attempt, base in enumerate(retry.DELAYS, start=1):
        waits = {retry.delay_after(attempt, retry.rng_for(f"whd_{n}", attempt)) for n in range(200)}
        low, high = retry.bounds_after(attempt)
        assert all(low <= w <= high for w in waits)
        assert low == timedelta(seconds=0.9 * base) and high == timedelta(seconds=1.1 * base)
        if base >= 300:
            assert len(waits) > 20  # spread out, not one instant


def test_the_whole_schedule_lasts_more_than_three_days_even_at_its_shortest():
    shortest = sum((retry.bounds_after(n)[0] for n in range(1, retry.ATTEMPTS)), timedelta())
    longest = sum((retry.bounds_after(n)[1] for n in range(1, retry.ATTEMPTS)), timedelta())
    assert shortest > timedelta(days=3)
    assert longest < timedelta(days=4.1)
    assert shortest > DISABLE_AFTER  # a dead endpoint is always disabled before its first delivery gives up


def test_the_same_delivery_always_waits_the_same():
    first = [retry.delay_after(n, retry.rng_for("whd_a", n)) for n in range(1, retry.ATTEMPTS)]
    again = [retry.delay_after(n, retry.rng_for("whd_a", n)) for n in range(1, retry.ATTEMPTS)]
    other = [retry.delay_after(n, retry.rng_for("whd_b", n)) for n in range(1, retry.ATTEMPTS)]
    assert first == again and first != other


# --- the SSRF policy -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "in_the_cloud", "locally"),
    [
        ("10.1.2.3", "private", None),
        ("172.16.0.1", "private", None),
        ("192.168.1.1", "private", None),
        ("127.0.0.1", "loopback", None),
        ("127.8.9.10", "loopback", None),
        ("169.254.169.254", "link-local", "link-local"),  # the cloud's metadata service: refused everywhere
        ("::1", "loopback", None),
        ("fc00::1", "private", None),
        ("fe80::1", "link-local", "link-local"),
        ("::ffff:127.0.0.1", "loopback", None),
        ("::ffff:169.254.169.254", "link-local", "link-local"),
        ("0.0.0.0", "unspecified", "unspecified"),
        ("224.0.0.1", "multicast", "multicast"),
        ("100.64.0.1", "reserved", "reserved"),  # carrier-grade NAT
        ("240.0.0.1", "reserved", "reserved"),
        ("93.184.215.14", None, None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None, None),
    ],
)
def test_the_address_policy(address, in_the_cloud, locally):
    cloud = ssrf.refusal(address, allow_local=False)
    local = ssrf.refusal(address, allow_local=True)
    assert (cloud is None) == (in_the_cloud is None) and (in_the_cloud is None or in_the_cloud in cloud)
    assert (local is None) == (locally is None) and (locally is None or locally in local)


@pytest.mark.parametrize(
    ("url", "in_the_cloud", "locally"),
    [
        ("https://hooks.example.com/billing?x=1", True, True),
        ("http://hooks.example.com/billing", False, True),
        ("ftp://hooks.example.com/", False, False),
        ("https://user:pw@hooks.example.com/", False, False),
        ("https:///nohost", False, False),
        ("https://hooks.example.com:99999/", False, False),
        ("https://hooks.example.com/a b", False, False),
        ("not a url", False, False),
        ("https://" + "a" * 2050 + ".com/", False, False),
    ],
)
def test_the_url_policy(url, in_the_cloud, locally):
    for allow_local, expected in ((False, in_the_cloud), (True, locally)):
        if expected:
            ssrf.check_url(url, allow_local)
        else:
            with pytest.raises(ssrf.UrlRefused):
                ssrf.check_url(url, allow_local)


def test_a_name_is_refused_if_any_of_its_addresses_is():
    assert ssrf.check_addresses("a.example", ["93.184.215.14"], False) == "93.184.215.14"
    with pytest.raises(ssrf.UrlRefused, match="private"):
        ssrf.check_addresses("a.example", ["93.184.215.14", "10.0.0.1"], False)
    with pytest.raises(ssrf.UrlRefused, match="does not resolve"):
        ssrf.check_addresses("a.example", [], False)


def test_the_target_keeps_host_port_and_path():
    target = ssrf.check_url("https://hooks.example.com:8443/in?x=1", False)
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 8443, "/in?x=1")
    assert ssrf.check_url("http://127.0.0.1", True).port == 80


# --- what an attempt does ----------------------------------------------------------------------------------------
def endpoint(**extra) -> WebhookEndpoint:
    secret = EndpointSecret(secret=signing.new_secret(), created_at=T0)
    return WebhookEndpoint(
        id="we_1",
        tenant_id="t",
        url="https://example.com/h",
        enabled_events=["*"],
        secrets=[secret],
        created_at=T0,
        updated_at=T0,
        **extra,
    )


def delivery(**extra) -> WebhookDelivery:
    return WebhookDelivery(
        id=delivery_id("we_1", "evt_1", T0),
        tenant_id="t",
        endpoint_id="we_1",
        event_id="evt_1",
        event_type="invoice.paid",
        event_created=T0,
        next_attempt_at=T0,
        created_at=T0,
        updated_at=T0,
        **extra,
    )


def test_the_delivery_id_derives_from_endpoint_and_event_and_sorts_by_the_events_time():
    assert delivery_id("we_1", "evt_1", T0) == delivery_id("we_1", "evt_1", T0)
    assert delivery_id("we_1", "evt_1", T0) != delivery_id("we_2", "evt_1", T0)
    assert delivery_id("we_1", "evt_1", T0) < delivery_id("we_1", "evt_0", T0 + timedelta(seconds=1))


def test_a_failure_schedules_the_next_attempt_and_marks_the_endpoint_failing():
    after, changed = record_attempt(delivery(), endpoint(), Outcome(response_code=500, latency_ms=12), T0)
    assert after.status == "failed" and after.attempt_count == 1
    low, high = retry.bounds_after(1)
    assert T0 + low <= after.next_attempt_at <= T0 + high
    assert changed is not None and changed.failing_since == T0 and changed.enabled
    assert after.attempts[0].response_code == 500 and after.last_response_code == 500


def test_a_success_clears_the_failing_mark():
    after, changed = record_attempt(
        delivery(status="failed", attempt_count=3), endpoint(failing_since=T0), Outcome(response_code=204), T0
    )
    assert after.status == "succeeded" and after.next_attempt_at is None
    assert changed is not None and changed.failing_since is None
    # a success on a healthy endpoint changes nothing on it
    assert record_attempt(delivery(), endpoint(), Outcome(response_code=200), T0)[1] is None


def test_410_gives_up_and_disables_the_endpoint_at_once():
    after, changed = record_attempt(delivery(), endpoint(), Outcome(response_code=410), T0)
    assert after.status == "given_up" and after.next_attempt_at is None
    assert changed is not None and not changed.enabled and changed.disabled_reason == "gone"


def test_three_days_of_failures_disable_the_endpoint():
    failing = endpoint(failing_since=T0)
    just_before = T0 + DISABLE_AFTER - timedelta(seconds=1)
    after, changed = record_attempt(
        delivery(status="failed", attempt_count=5), failing, Outcome(error="timeout"), just_before
    )
    assert after.status == "failed" and changed is None
    after, changed = record_attempt(
        delivery(status="failed", attempt_count=5), failing, Outcome(error="timeout"), T0 + DISABLE_AFTER
    )
    assert after.status == "given_up"
    assert changed is not None and not changed.enabled and changed.disabled_reason == "failing"


def test_the_last_scheduled_attempt_gives_up():
    after, _ = record_attempt(
        delivery(status="failed", attempt_count=retry.ATTEMPTS - 1), endpoint(), Outcome(response_code=503), T0
    )
    assert after.status == "given_up" and after.attempt_count == retry.ATTEMPTS


def test_a_retry_asked_for_is_one_attempt_and_one_on_schedule_keeps_its_schedule():
    done = delivery(status="given_up", attempt_count=14)
    again = retried(done, T0)
    assert again.status == "pending" and again.final_attempt == 15 and again.next_attempt_at == T0
    assert record_attempt(again, endpoint(), Outcome(response_code=500), T0)[0].status == "given_up"
    waiting = delivery(status="failed", attempt_count=2).model_copy(update={"next_attempt_at": T0 + timedelta(hours=1)})
    now = retried(waiting, T0)
    assert now.next_attempt_at == T0 and now.final_attempt == retry.ATTEMPTS
    assert record_attempt(now, endpoint(), Outcome(response_code=500), T0)[0].status == "failed"
    # one in flight (its attempt message maybe lost) is sent now
    lost = delivery().model_copy(update={"next_attempt_at": T0 - timedelta(days=1)})
    assert retried(lost, T0).next_attempt_at == T0


def test_an_endpoint_takes_only_its_types_and_nothing_while_disabled():
    assert endpoint().takes("invoice.paid")
    assert not endpoint(enabled=False).takes("invoice.paid")
    only = endpoint().model_copy(update={"enabled_events": ["invoice.paid"]})
    assert only.takes("invoice.paid") and not only.takes("invoice.finalized")
