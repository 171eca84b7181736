"""API keys (issue 18): made with scopes and shown once, listed without secrets, revoked and rolled with audit events,
refused within the key cache's TTL once revoked or expired, and every route of the OpenAPI document refusing a key
without its scope (403 ``insufficient_scope``) - checked for each operation and each scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from billing.adapters import keys
from billing.adapters.key_cache import KEY_CACHE_TTL
from billing.api import app as api_app
from billing.api import scopes
from billing.domain.api_keys import SCOPES
from billing.services import tenants
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event

OPENAPI = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path, operation["x-required-scope"])
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
    if isinstance(operation, dict) and "x-required-scope" in operation
]
CUSTOMER = {"email": "ada@example.com", "name": "Ada Lovelace", "locale": "en", "currency": "usd"}


def call(method: str, path: str, api_key: str | None, body: Any = None) -> tuple[int, Any]:
    answer = app.lambda_handler(http_event(method, path, api_key, body), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def make_key(api_key: str, **body: Any) -> dict[str, Any]:
    status, made = call("POST", "/v1/api_keys", api_key, {"name": "storefront", "scopes": ["write"], **body})
    assert status == 201, made["errors"] if status == 422 else made
    return made


def audit(api_key: str, key_id: str) -> list[dict[str, Any]]:
    """The key's events on the audit trail (``GET /v1/events?object_id=``)."""
    answer = app.lambda_handler(
        http_event("GET", "/v1/events", api_key, query={"object_id": key_id}), FakeLambdaContext()
    )
    return json.loads(answer["body"])["data"]


def test_a_key_is_made_with_its_scopes_its_secret_shown_once_and_only_its_hash_kept(deps, clock, key, tenant_id):
    clock.advance(timedelta(seconds=1))  # after the tenant's first key
    made = make_key(key, scopes=["write", "read"])
    assert made["scopes"] == ["read", "write"] and made["status"] == "active" and made["secret"].startswith("bk_")
    assert made["id"] == tenants.key_id(tenants.hash_key(made["secret"]))
    status, listed = call("GET", "/v1/api_keys", key)
    assert status == 200 and [k["id"] for k in listed["data"]][:1] == [made["id"]]  # newest first
    assert all("secret" not in k for k in listed["data"]) and len(listed["data"]) == 2  # with the first key
    item = deps.context.repo.store.get(keys.api_key(tenant_id, made["id"]))
    assert made["secret"] not in json.dumps(item, default=str) and item["key_hash"] == tenants.hash_key(made["secret"])
    (created,) = audit(key, made["id"])
    assert created["type"] == "api_key.created" and made["secret"] not in json.dumps(created)
    assert call("GET", "/v1/customers", made["secret"])[0] == 200  # read and write
    assert call("POST", "/v1/customers", made["secret"], CUSTOMER)[0] == 201


def test_an_idempotent_replay_of_a_made_key_does_not_show_the_secret_again(key):
    event = http_event("POST", "/v1/api_keys", key, {"name": "ci", "scopes": ["read"]}, {"Idempotency-Key": "k-1"})
    first = json.loads(app.lambda_handler(event, FakeLambdaContext())["body"])
    again = json.loads(app.lambda_handler(event, FakeLambdaContext())["body"])
    assert first["secret"].startswith("bk_") and again["secret"] is None and again["id"] == first["id"]


@pytest.mark.parametrize(
    "body, code",
    [
        ({"name": "x", "scopes": []}, "invalid_request"),
        ({"name": "x", "scopes": ["everything"]}, "invalid_request"),
        ({"name": "", "scopes": ["read"]}, "invalid_request"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}, "invalid_expires_at"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2026-12-01T00:00:00"}, "invalid_expires_at"),
    ],
)
def test_a_bad_key_request_is_refused_and_makes_nothing(key, body, code):
    status, problem = call("POST", "/v1/api_keys", key, body)
    assert status == 422 and problem["code"] == code
    assert len(call("GET", "/v1/api_keys", key)[1]["data"]) == 1


def test_a_revoked_key_gets_401_on_every_container_within_the_cache_window(deps, clock, key, tenant_id):
    made = make_key(key, scopes=["read"])
    assert call("GET", "/v1/customers", made["secret"])[0] == 200  # cached in this container
    other_container = deps.context.repo.key_cache.entries.copy()
    status, revoked = call("POST", f"/v1/api_keys/{made['id']}/revoke", key)
    assert status == 200 and revoked["status"] == "revoked"
    assert call("GET", "/v1/customers", made["secret"])[0] == 401  # this container dropped its entry at once
    deps.context.repo.key_cache.entries.update(other_container)  # a container that did not see the write
    assert call("GET", "/v1/customers", made["secret"])[0] == 200  # still cached: at most KEY_CACHE_TTL
    clock.advance(KEY_CACHE_TTL)
    assert call("GET", "/v1/customers", made["secret"])[0] == 401
    assert sorted(e["type"] for e in audit(key, made["id"])) == ["api_key.created", "api_key.revoked"]
    status, problem = call("POST", f"/v1/api_keys/{made['id']}/revoke", key)
    assert status == 409 and problem["code"] == "api_key_revoked"


def test_an_expired_key_gets_401_at_its_expiry_even_from_the_cache(clock, key):
    made = make_key(key, scopes=["read"], expires_at=(clock.now() + timedelta(minutes=10)).isoformat())
    assert call("GET", "/v1/customers", made["secret"])[0] == 200
    clock.advance(timedelta(minutes=10))
    status, problem = call("GET", "/v1/customers", made["secret"])
    assert status == 401 and problem["code"] == "invalid_api_key"
    assert call("GET", f"/v1/api_keys/{made['id']}", key)[1]["status"] == "expired"


def test_a_rolled_key_works_beside_its_successor_for_the_overlap_then_dies(clock, key, tenant_id):
    made = make_key(key, scopes=["read", "write"])
    status, rolled = call("POST", f"/v1/api_keys/{made['id']}/roll", key, {"overlap_seconds": 3600})
    assert status == 200, rolled
    new = rolled["new"]
    assert new["secret"] != made["secret"] and new["scopes"] == ["read", "write"] and new["name"] == "storefront"
    assert rolled["rolled"]["rolled_to"] == new["id"]
    assert call("GET", "/v1/customers", made["secret"])[0] == 200
    assert call("GET", "/v1/customers", new["secret"])[0] == 200
    clock.advance(timedelta(hours=1))
    assert call("GET", "/v1/customers", made["secret"])[0] == 401
    assert call("GET", "/v1/customers", new["secret"])[0] == 200
    assert sorted(e["type"] for e in audit(key, made["id"])) == ["api_key.created", "api_key.rolled"]
    status, problem = call("POST", f"/v1/api_keys/{made['id']}/roll", key, {})
    assert status == 409 and problem["code"] == "api_key_expired"
    status, problem = call("POST", f"/v1/api_keys/{new['id']}/roll", key, {"overlap_seconds": 8 * 86400})
    assert status == 422


def test_the_last_use_is_marked_at_most_once_an_hour(deps, clock, key):
    made = make_key(key, scopes=["read"])
    assert made["last_used_at"] is None
    call("GET", "/v1/customers", made["secret"])
    first = call("GET", f"/v1/api_keys/{made['id']}", key)[1]["last_used_at"]
    assert first is not None
    clock.advance(timedelta(minutes=30))
    deps.context.repo.key_cache.clear()
    call("GET", "/v1/customers", made["secret"])
    assert call("GET", f"/v1/api_keys/{made['id']}", key)[1]["last_used_at"] == first
    clock.advance(timedelta(minutes=31))
    deps.context.repo.key_cache.clear()
    call("GET", "/v1/customers", made["secret"])
    assert call("GET", f"/v1/api_keys/{made['id']}", key)[1]["last_used_at"] > first


def test_restricted_keys_through_the_handler(key):
    storefront, reporting = make_key(key, scopes=["write"]), make_key(key, name="reports", scopes=["read"])
    assert call("POST", "/v1/customers", storefront["secret"], CUSTOMER)[0] == 201
    status, problem = call("GET", "/v1/customers", storefront["secret"])
    assert status == 403 and problem["code"] == "insufficient_scope" and problem["required_scope"] == "read"
    status, problem = call("POST", "/v1/customers", reporting["secret"], CUSTOMER)
    assert status == 403 and problem["required_scope"] == "write"
    status, problem = call("POST", "/v1/api_keys", storefront["secret"], {"name": "escalate", "scopes": ["admin"]})
    assert status == 403 and problem["required_scope"] == "admin"
    assert len(call("GET", "/v1/api_keys", key)[1]["data"]) == 3  # nothing was made


def test_the_scope_rule_gives_what_the_documentation_promises():
    expected = {
        ("GET", "/v1/invoices"): "read",
        ("POST", "/v1/dashboard_sessions"): "read",
        ("POST", "/v1/customers"): "write",
        ("POST", "/v1/orders"): "write",
        ("POST", "/v1/subscriptions"): "write",
        ("POST", "/v1/usage"): "write",
        ("POST", "/v1/invoices/{invoice_id}/refunds"): "payments",
        ("POST", "/v1/invoices/{invoice_id}/void"): "payments",
        ("POST", "/v1/invoices/{invoice_id}/pay"): "payments",
        ("POST", "/v1/invoices/{invoice_id}/payment_plan"): "payments",
        ("POST", "/v1/api_keys"): "admin",
        ("GET", "/v1/api_keys"): "admin",
        ("PUT", "/v1/settings/profile"): "admin",
        ("GET", "/v1/webhook_endpoints"): "admin",
        ("POST", "/v1/plans"): "admin",
        ("GET", "/v1/customers/{customer_id}/export"): "admin",
        ("POST", "/v1/customers/{customer_id}/erase"): "write",
    }
    documented = {(m, p): s for m, p, s in OPERATIONS}
    assert {k: documented[k] for k in expected} == expected
    assert all(scopes.required(m, p) == s for (m, p), s in documented.items())
    assert {s for _, _, s in OPERATIONS} == set(SCOPES)


@dataclass
class Request:
    """What the door reads of the resolver it is handed: the request and the route it resolved to."""

    current_event: APIGatewayProxyEventV2
    context: dict[str, Any]

    def append_context(self, **more: Any) -> None:
        self.context.update(more)


def _routes() -> dict[tuple[str, str], Any]:
    api_app.include_all()  # a request includes its concern's routers only
    resolver = api_app.resolver
    return {(r.method, r.openapi_path): r for r in resolver._static_routes + resolver._dynamic_routes}


@pytest.mark.parametrize("scope", SCOPES)
def test_every_route_of_the_document_refuses_a_key_without_its_scope(deps, key, scope, monkeypatch):
    """The door (``require_tenant``) of every operation in docs/openapi.json, with a key holding ``scope`` only:
    403 naming the route's scope unless it is ``scope``, and through to the route otherwise. (The door is called as
    the resolver calls it, after the request's validation: its read plan, which reads the validated body, is not
    what is tested here and plans nothing.)"""
    secret = make_key(key, name=scope, scopes=[scope])["secret"]
    monkeypatch.setattr(api_app.reads, "planner", lambda *_: None)
    routes, seen = _routes(), []
    for method, path, needed in OPERATIONS:
        request = Request(APIGatewayProxyEventV2(http_event(method, path, secret)), {"_route": routes[(method, path)]})
        answer = api_app.require_tenant(request, lambda _: "through")
        if scope == needed:
            assert answer == "through", (method, path)
        else:
            assert answer.status_code == 403, (method, path)
            problem = json.loads(answer.body)
            assert problem["code"] == "insufficient_scope" and problem["required_scope"] == needed
        seen.append((method, path))
    assert len(seen) == len(OPERATIONS) > 90
