"""Concurrent redemptions from separate Lambda containers (processes, each with its own API handler) against one
moto server: the counters are moved by conditional ADDs, so exactly as many succeed as were left, and every other
request is a clean 409 problem."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest

from infra.local import aws
from infra.local import template as tpl
from tests.integration.test_concurrency import _call, _container_init

TABLE = "billing-race"  # what _container_init points the containers at
WORKERS = 8


@pytest.fixture(scope="module")
def endpoint():
    server = aws.MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    client.create_table(**tpl.table_definition(tpl.load(), "Table", TABLE))
    yield url
    client.delete_table(TableName=TABLE)  # moto's backends outlive the server: the other race tests make it again
    server.stop()


@pytest.fixture(scope="module")
def pool(endpoint):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_container_init, initargs=(endpoint,)) as pool:
        yield pool


@pytest.fixture(scope="module")
def api_key(endpoint):
    from billing.adapters.clock import FixedClock
    from billing.adapters.dynamodb import DynamoStore
    from billing.adapters.repository import Repository
    from billing.services import tenants
    from billing.services.unit import Context

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    ctx = Context(Repository(DynamoStore(client, TABLE)), FixedClock(datetime.now(UTC)))
    return tenants.create_tenant(ctx, "Coupon Co")[1]


def _customers(pool, api_key: str, n: int, prefix: str) -> list[str]:
    bodies = [
        (
            "POST",
            "/v1/customers",
            api_key,
            {"email": f"{prefix}{i}@example.com", "name": "C", "locale": "en", "currency": "usd"},
            {},
        )
        for i in range(n)
    ]
    answers = list(pool.map(_call, bodies))
    assert all(status == 201 for status, _ in answers), answers
    return [body["id"] for _, body in answers]


def _one(pool, *args):
    return pool.submit(_call, args).result()


def _apply(pool, api_key: str, customer_ids: list[str], body: dict) -> list[tuple[int, dict]]:
    calls = [("POST", f"/v1/customers/{c}/discount", api_key, body, {}) for c in customer_ids]
    return list(pool.map(_call, calls))


def test_fifty_concurrent_redemptions_of_a_code_with_ten_left_give_exactly_ten(pool, api_key):
    coupon = _one(pool, "POST", "/v1/coupons", api_key, {"name": "20 %", "percent_off": "20", "duration": "once"}, {})
    code = {"coupon_id": coupon[1]["id"], "code": "RACE10", "max_redemptions": 11}
    promo = _one(pool, "POST", "/v1/promotion_codes", api_key, code, {})[1]
    first, *others = _customers(pool, api_key, 51, "code")
    assert _apply(pool, api_key, [first], {"promotion_code": "race10"})[0][0] == 200  # 10 left
    answers = _apply(pool, api_key, others, {"promotion_code": "race10"})
    assert Counter(status for status, _ in answers) == {200: 10, 409: 40}, answers
    assert {body["code"] for status, body in answers if status == 409} == {"promotion_code_max_redemptions"}
    after = _one(pool, "GET", f"/v1/promotion_codes/{promo['id']}", api_key, None, {})[1]
    assert after["times_redeemed"] == 11
    assert _one(pool, "GET", f"/v1/coupons/{coupon[1]['id']}", api_key, None, {})[1]["times_redeemed"] == 11
    winners = {c for c, (status, _) in zip(others, answers, strict=True) if status == 200}
    states = [_one(pool, "GET", f"/v1/customers/{c}/discount", api_key, None, {})[1] for c in others]
    assert {c for c, s in zip(others, states, strict=True) if s["discount"]} == winners  # losers changed nothing


def test_fifty_concurrent_redemptions_of_a_coupon_with_ten_left_give_exactly_ten(pool, api_key):
    terms = {"name": "Ten", "amount_off": {"usd": 500}, "duration": "forever", "max_redemptions": 10}
    coupon = _one(pool, "POST", "/v1/coupons", api_key, terms, {})[1]
    answers = _apply(pool, api_key, _customers(pool, api_key, 50, "coupon"), {"coupon": coupon["id"]})
    assert Counter(status for status, _ in answers) == {200: 10, 409: 40}, answers
    assert {body["code"] for status, body in answers if status == 409} == {"coupon_max_redemptions"}
    after = _one(pool, "GET", f"/v1/coupons/{coupon['id']}", api_key, None, {})[1]
    assert (after["times_redeemed"], after["valid"]) == (10, False)


def test_one_customer_racing_for_a_code_gets_exactly_its_limit(pool, api_key):
    coupon = _one(pool, "POST", "/v1/coupons", api_key, {"name": "x", "percent_off": "5", "duration": "once"}, {})
    code = {"coupon_id": coupon[1]["id"], "code": "THRICE", "restrictions": {"per_customer_limit": 3}}
    _one(pool, "POST", "/v1/promotion_codes", api_key, code, {})
    (customer,) = _customers(pool, api_key, 1, "limit")
    answers = _apply(pool, api_key, [customer] * 20, {"promotion_code": "thrice"})
    assert Counter(status for status, _ in answers) == {200: 3, 409: 17}, answers
    assert {body["code"] for status, body in answers if status == 409} == {"promotion_code_customer_limit"}
