"""Schemathesis fuzzes every operation of the running local stack's own OpenAPI document (``GET /openapi.json``).

Per operation: its explicit examples, Schemathesis' deterministic coverage phase (boundary values, missing and
malformed parameters, wrong content types) and at most ``MAX_EXAMPLES`` derandomized Hypothesis cases, positive and
negative, without shrinking; all sent with the tenant's API key. Every answer is checked:

- ``not_a_server_error``: never a 5xx.
- ``negative_data_rejection``: a request that breaks the schema is refused with a 4xx, never accepted.
- ``ignored_auth``: an operation that answered 2xx answers 401 without the key and with a wrong one.
- ``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``: every answer, the
  errors included, has a status, content type and body the document declares for the operation (the document
  declares each operation's problem answers: billing.api.openapi).
- ``problem_answers``: every 4xx is ``application/problem+json`` with a string ``code`` and the answer's ``status``.
- ``idempotent_replay``: a POST that succeeded, retried under one ``Idempotency-Key``, replays its first answer.

Random ids would only ever meet 404s, so half of the positive cases (picked by a hash of the generated case, so a
rerun picks the same ones) act on what the ``known`` fixture made: a customer, an invoice, orders held for review, a
next-page cursor; ``POST /v1/orders`` bodies get that customer and its currency, so fuzzed orders get invoiced.

The defects it found (500s on a multipart body without a boundary, on a body that is not UTF-8 and on a cursor
reused with another filter; a 415 that was not a problem document; 201 documented as 200) are fixed and held here.
About 40 s on 2 idle cores (the stack's start included). A failure prints a ``curl`` reproduction.
"""

from __future__ import annotations

import json
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from billing.services.unit import SHOWN_ONCE

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25
PROBLEM_JSON = "application/problem+json"


# --- fixtures --------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _node_id_shim(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32.5's ``from_fixture`` reads and rewrites the private ``Node._nodeid``, which pytest 9.2 no
    longer has (it keeps a structured ``Node._id``): without this the test dies with "AttributeError: 'Function'
    object has no attribute '_nodeid'" before sending a request. Results are still reported per operation, as pytest
    subtests labelled "METHOD /path". Remove once schemathesis no longer touches ``_nodeid``."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def api_schema(stack: dict[str, Any]) -> schemathesis.BaseSchema:
    base = stack["api_base_url"]
    # An explicit, empty Config: a schemathesis.toml lying in the working directory must not change this test.
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=schemathesis.Config(), timeout=30)
    schema.config.update(base_url=base, request_timeout=30)

    class TenantKey:
        """The tenant's API key, as explicit auth: the ``ignored_auth`` probes take it away or spoil it."""

        def get(self, case: schemathesis.Case, ctx: Any) -> str:
            return stack["api_key"]

        def set(self, case: schemathesis.Case, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    schema.auth()(TenantKey)
    return schema


@pytest.fixture(scope="module")
def known(stack: dict[str, Any]) -> dict[str, str]:
    """Real objects of the stack's tenant, for positive cases to act on."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {stack['api_key']}"

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = http.post(stack["api_base_url"] + path, json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()

    customer = post("/v1/customers", {"email": "fuzz@example.com", "name": "Fuzz", "locale": "en", "currency": "usd"})
    line = {"description": "Pro plan", "quantity": 2, "unit_amount": 4900, "tax_rate_percent": "8.25"}
    order = {"customer_id": customer["id"], "currency": "usd", "lines": [line], "collection_method": "send_invoice"}
    invoiced = post("/v1/orders", order)
    post("/v1/orders", order)  # a second invoice, so that a one-invoice page has a next page
    # The tenant's default review rule holds these two: one to approve, one to cancel.
    to_approve, to_cancel = (post("/v1/orders", {**order, "metadata": {"order_type": "trial"}}) for _ in range(2))
    assert (invoiced["status"], to_approve["status"], to_cancel["status"]) == (
        "invoiced",
        "pending_review",
        "pending_review",
    ), (invoiced, to_approve, to_cancel)
    page = http.get(stack["api_base_url"] + "/v1/invoices", params={"limit": 1}, timeout=30).json()
    return {
        "cursor": page["next_cursor"],
        "customer_id": customer["id"],
        "currency": customer["currency"],
        "invoice_id": invoiced["invoice_id"],
        "order_id": to_approve["id"],
        "order_id_to_cancel": to_cancel["id"],
    }


def aim_at_known_objects(case: schemathesis.Case, known: dict[str, str]) -> None:
    """Give half of the positive cases real ids; the case stays valid against the schema."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    generated = json.dumps([case.path_parameters, case.query, case.body], sort_keys=True, default=str)
    if zlib.crc32(generated.encode()) % 2:
        return
    if case.path_parameters:
        ids = {**known, "order_id": known["order_id_to_cancel"]} if case.operation.path.endswith("/cancel") else known
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    if case.query:
        case.query = {name: known.get(name, value) for name, value in case.query.items()}
    if (case.operation.method.upper(), case.operation.path) == ("POST", "/v1/orders") and isinstance(case.body, dict):
        case.body = {**case.body, "customer_id": known["customer_id"], "currency": known["currency"]}


# --- checks ----------------------------------------------------------------------------------------------------
def _media_type(response: schemathesis.Response) -> str:
    values = response.headers.get("content-type") or [""]
    return values[0].split(";")[0].strip().lower()


def problem_answers(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx is an RFC 9457 problem document with a stable string ``code`` (docs/api.md, "Errors")."""
    if not 400 <= response.status_code < 500:
        return
    media_type = _media_type(response)
    assert media_type == PROBLEM_JSON, f"a {response.status_code} answered as {media_type!r}, not {PROBLEM_JSON}"
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {response.status_code} problem is not JSON: {response.content[:200]!r}") from None
    assert isinstance(body, dict), f"a {response.status_code} problem is not an object: {body!r}"
    assert isinstance(body.get("code"), str) and body["code"], f"a {response.status_code} problem has no code: {body!r}"
    assert body.get("status") == response.status_code, f"status {body.get('status')!r} in a {response.status_code}"


def idempotent_replay(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A POST that succeeded, sent twice with one fresh ``Idempotency-Key``: the second answer replays the first
    (same status and body, ``Idempotent-Replayed: true``), whatever the body's spelling (docs/api.md)."""
    if case.operation.method.upper() != "POST" or not 200 <= response.status_code < 300:
        return
    headers = {"Idempotency-Key": f"fuzz-{uuid.uuid4()}"}
    first = case.call(headers=headers)
    if not 200 <= first.status_code < 300:
        return  # e.g. 409 duplicate_external_id: the unkeyed request already made the object
    again = case.call(headers=headers)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (first.status_code, ["true"]), (
        f"a keyed retry answered {again.status_code} {again.headers.get('idempotent-replayed')}"
        f" after {first.status_code}: {again.text[:300]}"
    )
    replayed, answered = json.loads(again.content), json.loads(first.content)
    assert replayed == _shown_once(answered, replayed), f"replay differs: {first.text!r} -> {again.text!r}"


# The answer fields a replay gives as null (a secret shown once, a page link never stored), as the document marks them.
SHOWN_ONCE = {
    name
    for schema in json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())["components"][
        "schemas"
    ].values()
    for name, prop in schema.get("properties", {}).items()
    if prop.get(SHOWN_ONCE)
}


def _shown_once(first: Any, again: Any) -> Any:
    """``first`` with the values a replay leaves out blanked: a secret or a link the document marks
    ``x-shown-once`` (never stored, so the replay answers null)."""
    if not isinstance(first, dict) or not isinstance(again, dict):
        return first
    return {
        k: None if k in SHOWN_ONCE and again.get(k) is None else _shown_once(v, again.get(k)) for k, v in first.items()
    }


CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    ignored_auth,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_answers,
    idempotent_replay,
]

# The hosted page and Stripe's webhook are documented but not fuzzed here: they are API Gateway routes of their own,
# where a method the route lacks is API Gateway's `{"message": "Not Found"}`, not a problem document
# (tests/integration/test_hosted_page.py and test_stripe_webhooks.py hold them to their answers).
schema = schemathesis.pytest.from_fixture("api_schema").exclude(operation_id=["hosted_invoice_page", "stripe_webhook"])


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its exact request, reproducibly
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract(case: schemathesis.Case, known: dict[str, str]) -> None:
    aim_at_known_objects(case, known)
    case.call_and_validate(checks=CHECKS)
