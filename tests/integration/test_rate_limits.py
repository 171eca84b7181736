"""Rate limits through the real handlers on moto: a tenant over its limit gets 429 with Retry-After while another
tenant is not slowed (no refusal, no extra round trip); the limit is shared by the containers through the table; a
page's source address and a pay link have their own; Stripe webhook deliveries that fail verification are limited
per source, Stripe's signed ones never."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
import stripe

from billing.adapters import keys
from billing.adapters.key_cache import KEY_CACHE_TTL
from billing.adapters.rate_limiter import RateLimiter, limits_from, scope
from billing.services import tenants
from functions.api import app
from functions.stripe_webhook import app as stripe_webhook
from infra import admin
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event
from tests.integration.test_round_trips import Trips

WEBHOOK_SECRET = "whsec_rate_limits"


def call(path: str, api_key: str | None = None, source: str = "198.51.100.7", method: str = "GET", body: Any = None):
    event = http_event(method, path, api_key, body)
    event["requestContext"]["http"]["sourceIp"] = source
    answer = app.lambda_handler(event, FakeLambdaContext())
    return answer["statusCode"], answer.get("body") or "", {k.lower(): v for k, v in answer["headers"].items()}


@pytest.fixture
def limited(deps):
    """Tenants limited to 10 requests a second (a burst of 20: the container adds its count every 2 requests)."""
    deps.env.update(TENANT_RATE_LIMIT="10/20", SOURCE_RATE_LIMIT="1/8", LINK_RATE_LIMIT="1/5")
    return deps


def test_a_tenant_over_its_burst_gets_429_with_retry_after_and_the_next_second_is_open(limited, key, clock):
    answers = [call("/v1/tax_rates", key) for _ in range(24)]
    assert [status for status, _, _ in answers] == [200] * 20 + [429] * 4
    status, body, headers = answers[-1]
    problem = json.loads(body)
    assert headers["content-type"] == "application/problem+json" and headers["retry-after"] == "1"
    assert problem["code"] == "rate_limited" and problem["retry_after"] == 1 and "1 s" in problem["detail"]
    clock.advance(timedelta(seconds=1))
    assert call("/v1/tax_rates", key)[0] == 200


def test_the_minute_caps_the_rate_and_retry_after_counts_to_the_minute_end(limited, key, clock):
    limited.env["TENANT_RATE_LIMIT"] = "1/20"  # 60 a minute, 20 in a second
    clock.at = clock.at.replace(second=0, microsecond=0)
    admitted = []
    for _ in range(4):
        admitted.append(sum(call("/v1/tax_rates", key)[0] == 200 for _ in range(25)))
        clock.advance(timedelta(seconds=1))
    assert admitted == [20, 20, 20, 0]
    status, _, headers = call("/v1/tax_rates", key)
    assert status == 429 and headers["retry-after"] == "56"  # 4 s into the minute
    clock.advance(timedelta(seconds=56))
    assert call("/v1/tax_rates", key)[0] == 200


def test_a_limited_tenant_slows_no_other_tenant(limited, key, clock):
    other = tenants.create_tenant(limited.context, "Other Co")[1]
    trips = Trips(limited.context.repo.store.client)
    for _ in range(20):
        call("/v1/tax_rates", key)
    before = trips.during("GET", "/v1/tax_rates", other)[0]
    refusals = [trips.during("GET", "/v1/tax_rates", key) for _ in range(30)]
    assert all(answer[0] == 429 for _, _, answer in refusals)
    assert all(count == 0 for count, _, _ in refusals)  # a refusal costs the table nothing
    served = [trips.during("GET", "/v1/tax_rates", other) for _ in range(18)]
    assert all(answer[0] == 200 for _, _, answer in served)
    assert max(count for count, _, _ in served) <= before + 1  # its own window, every second request


def test_the_limit_is_shared_by_every_container_through_the_table(limited, key, tenant_id, clock):
    for _ in range(20):
        assert call("/v1/tax_rates", key)[0] == 200
    window = keys.rate_window(scope("tenant", tenant_id), int(clock.now().timestamp()) // 60)
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={k: {"S": v} for k, v in window.items()})["Item"]
    assert item["requests"] == {"N": "20"} and int(item["expires_at"]["N"]) > clock.now().timestamp()
    another = RateLimiter(limited.context.repo.store, limits_from(limited.env))  # a second container
    decisions = [another.admit("tenant", tenant_id, clock.now()).admitted for _ in range(4)]
    assert decisions == [True, True, False, False]  # its first batch, then the shared total refuses


def test_wrong_keys_count_against_no_tenant(limited, key, tenant_id):
    wrong = f"bk_{tenant_id}.not-the-secret"
    assert {call("/v1/tax_rates", wrong)[0] for _ in range(40)} == {401}
    assert call("/v1/tax_rates", key)[0] == 200


def test_a_hammered_pay_link_is_refused_by_its_own_limit_from_any_address(limited):
    link = "/pay/ten_1.inv_1.not-a-secret"  # a link's limit counts before the page looks it up
    statuses = [call(link, source=f"203.0.113.{n}")[0] for n in range(8)]
    assert statuses == [404] * 5 + [429] * 3
    status, page, headers = call(link, source="203.0.113.99")
    assert status == 429 and headers["retry-after"] == "1" and headers["content-type"].startswith("text/html")
    assert "Too many requests" in page and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert call("/pay/another-link", source="203.0.113.99")[0] == 404  # another link, another limit


def test_a_source_address_is_limited_on_every_page_and_in_its_language(limited):
    statuses = [call(f"/pay/link-{n}", source="192.0.2.50")[0] for n in range(10)]
    assert statuses == [404] * 8 + [429] * 2
    event = http_event("GET", "/portal/ten_x/sign-in", headers={"Accept-Language": "ru"})
    event["requestContext"]["http"]["sourceIp"] = "192.0.2.50"
    answer = app.lambda_handler(event, FakeLambdaContext())
    assert answer["statusCode"] == 429 and "Слишком много запросов" in answer["body"]
    assert call("/pay/link-x", source="192.0.2.51")[0] == 404  # another address is served


def webhook(body: str, source: str, signature: str | None) -> dict[str, Any]:
    event = http_event(
        "POST", "/webhooks/stripe", body=body, headers={"Stripe-Signature": signature} if signature else {}
    )
    event["requestContext"]["http"]["sourceIp"] = source
    return stripe_webhook.lambda_handler(event, FakeLambdaContext())


def signed(payload: str) -> str:
    at = int(time.time())
    return f"t={at},v1={stripe.WebhookSignature._compute_signature(f'{at}.{payload}', WEBHOOK_SECRET)}"


def test_unsigned_webhook_floods_are_limited_per_source_and_stripe_is_never(limited, monkeypatch):
    monkeypatch.setattr(type(limited), "webhook_secrets", lambda self: [WEBHOOK_SECRET])
    payload = json.dumps(
        {
            "id": "evt_rate_1",
            "object": "event",
            "type": "customer.created",
            "created": 1,
            "data": {"object": {"id": "cus_1", "object": "customer", "metadata": {}}},
        }
    )
    refused = [webhook(payload, "192.0.2.66", "t=1,v1=forged")["statusCode"] for _ in range(11)]
    assert refused == [400] * 8 + [429] * 3
    assert webhook(payload, "192.0.2.66", signed(payload))["statusCode"] == 429  # the source is refused outright
    for _ in range(20):  # Stripe's signed deliveries from its own address are never counted
        assert webhook(payload, "192.0.2.67", signed(payload))["statusCode"] == 200


def test_an_operator_gives_one_tenant_its_own_limit_seen_within_the_key_cache(
    limited, key, tenant_id, clock, capsys, monkeypatch
):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    other = tenants.create_tenant(limited.context, "Other Co")[1]
    assert admin.main(["set-rate-limit", "--tenant", tenant_id, "--limit", "50/4"]) == 0
    assert json.loads(capsys.readouterr().out) == {"tenant_id": tenant_id, "rate_limit": "50/4"}
    clock.advance(KEY_CACHE_TTL)  # the door read the tenant before: within the cache's seconds, the change is seen
    assert [call("/v1/tax_rates", key)[0] for _ in range(6)] == [200] * 4 + [429] * 2
    assert sum(call("/v1/tax_rates", other)[0] == 200 for _ in range(6)) == 6  # the stack's 20 for the others
    [event] = [e for e in limited.context.repo.events(keys.tenant(tenant_id)) if e.type == "tenant.rate_limit_updated"]
    assert event.data["changes"] == {"rate_limit": {"before": None, "after": "50/4"}}
    assert admin.main(["set-rate-limit", "--tenant", tenant_id, "--limit", "0/4"]) == 1
    assert "invalid_rate_limit" in capsys.readouterr().err
    assert admin.main(["set-rate-limit", "--tenant", tenant_id, "--limit", "default"]) == 0
    clock.advance(KEY_CACHE_TTL + timedelta(seconds=1))
    assert sum(call("/v1/tax_rates", key)[0] == 200 for _ in range(22)) == 20
