"""Request bodies are limited per route (billing.api.limits): too large is 413 ``body_too_large`` before anything
parses it, and changes nothing; every write in the OpenAPI document states its limit and the 413."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from billing.api import limits
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event

DOCUMENT = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
CUSTOMER = {"email": "ada@example.com", "name": "Ada Lovelace", "locale": "en", "currency": "usd"}


def call(method: str, path: str, key: str, body: str | dict) -> tuple[int, dict]:
    answer = app.lambda_handler(http_event(method, path, key, body), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def test_a_body_over_the_routes_limit_is_refused_and_changes_nothing(key):
    padded = {**CUSTOMER, "metadata": {"note": "x" * 400}, "pad": " " * limits.MAX_BODY_BYTES}
    status, problem = call("POST", "/v1/customers", key, json.dumps(padded))
    assert status == 413 and problem["code"] == "body_too_large"
    assert call("GET", "/v1/customers", key, None)[1]["data"] == []
    # the same customer, just under: through to the schema (an unknown field is 422, not 413)
    status, problem = call("POST", "/v1/customers", key, json.dumps({**CUSTOMER, "pad": " " * 1000}))
    assert status == 422 and problem["code"] == "invalid_request"


def test_a_base64_body_is_measured_as_sent(key):
    event = http_event("POST", "/v1/customers", key, "{}")
    event["body"] = base64.b64encode(b" " * (limits.MAX_BODY_BYTES + 10)).decode()
    event["isBase64Encoded"] = True
    answer = app.lambda_handler(event, FakeLambdaContext())
    assert answer["statusCode"] == 413


def test_the_profile_takes_a_logo_of_its_largest_size(key):
    logo = {"content_type": "image/png", "data": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 99_990).decode()}
    body = {"legal_name": "Acme Software GmbH", "logo": logo, "default_locale": "en"}
    assert len(json.dumps(body)) > limits.MAX_BODY_BYTES  # above the default: the profile's own limit applies
    status, answer = call("PUT", "/v1/settings/profile", key, body)
    assert status == 200, answer


def test_every_write_in_the_document_states_its_limit_and_the_413():
    writes = [
        (method, path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/") and method in ("post", "put", "patch")
    ]
    assert len(writes) > 50
    for method, path, operation in writes:
        assert operation["x-max-body-bytes"] == limits.max_body_bytes(path), (method, path)
        assert "413" in operation["responses"], (method, path)
