"""The OpenAPI document as the API answers, not only as Powertools generates it: every error answer is a problem
document (``application/problem+json``, billing.api.problems), declared per operation with the statuses it can
give, and every POST and PUT takes an ``Idempotency-Key`` header (billing.api.idempotency). Powertools' default 422
(``HTTPValidationError``, a ``detail`` list) is replaced: the API never answers it."""

from __future__ import annotations

import json
import re
from typing import Any

from billing.api import limits, scopes
from billing.api.idempotency import MAX_KEY_LENGTH
from billing.api.problems import PROBLEM_JSON, PROBLEM_SCHEMA

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
WRITES = ("post", "put", "patch", "delete")
# Which error statuses an operation can answer, and what each means (docs/api.md, "Errors", lists the codes).
ALWAYS = {
    "400": "A malformed request: a body that is not JSON, a bad Idempotency-Key, a query parameter the route does not "
    "take, a forged cursor (`malformed_json`, `invalid_idempotency_key`, `unknown_query_parameter`, `invalid_cursor`)",
    "401": "No API key, or one that is not valid (`unauthorized`)",
    "422": "The request breaks the schema (`invalid_request`, with `errors`) or a rule of the domain (its own code)",
    "429": "The tenant has made too many requests: ask again after the `Retry-After` header's seconds "
    "(`rate_limited`, with `retry_after`; docs/security.md, \"Rate limits\")",
}
ON_WRITES = {
    "409": "The object's state does not allow it, or the Idempotency-Key was used for another request "
    "(`illegal_transition`, `idempotency_key_reused`, …)",
    "415": "The body is not `application/json` (`unsupported_media_type`)",
}
NOT_FOUND = "An object the request names does not exist for this tenant"
# The objects a request can name by id or name (in its path, its body, or the query of a route that names one
# object), each answering 404 `<object>_not_found`.
NAMED_OBJECTS = (
    "customer",
    "order",
    "invoice",
    "payment",
    "credit_note",
    "plan",
    "subscription",
    "report",
    "collection_case",
    "webhook_endpoint",
    "webhook_delivery",
    "invoice_item",
    "coupon",
    "promotion_code",
    "tax_rate",
    "api_key",
)
# Objects whose id in a body is a reference to check, not the object acted on: a missing one is 422 (a tax rate a
# plan, an order line or the tax settings name: ``tax_rate_not_found``), so only their path declares the 404.
REFERENCED_ONLY = frozenset({"tax_rate"})
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the first answer to this key is stored and replayed to any retry with the "
    "same body (header `Idempotent-Replayed: true`); the same key with another body is 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}


RETRY_AFTER = {"description": "Seconds to wait before asking again", "schema": {"type": "integer", "minimum": 1}}


def _problem(description: str, codes: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = PROBLEM_REF
    if codes:
        schema = {"allOf": [PROBLEM_REF, {"type": "object", "properties": {"code": {"enum": codes}}}]}
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


def _not_found_codes(path: str, operation: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    """The 404 codes an operation can answer: one per object its path, its body, or (on a route that names one
    object in its path) its query names."""
    named = re.findall(r"\{(\w+?)_(?:id|name)\}", path)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    resolved = _resolved(body, schemas)
    named += [n for n in re.findall(r'"(\w+)_id"', json.dumps(resolved)) if n not in REFERENCED_ONLY]
    named += [name for name in _property_names(resolved) if name in BY_NAME]  # {"coupon": "SPRING"}
    if "{" in path:  # a list's query filters (GET /v1/invoices?customer_id=) find nothing rather than 404
        query = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
        named += [m[1] for name in query if (m := re.fullmatch(r"(\w+)_id", name))]
    codes = [f"{name}_not_found" for name in NAMED_OBJECTS if name in named]
    if "{" in path:
        codes.append("no_such_route")  # a path segment with characters no id has matches no route
    return codes


# Objects a body may name by their bare kind rather than ``<kind>_id`` (a coupon's id, a promotion code's text)
BY_NAME = ("coupon", "promotion_code")


def _property_names(schema: Any) -> set[str]:
    """Every property name declared anywhere in a (resolved) schema."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            found |= set(schema["properties"])
        for value in schema.values():
            found |= _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _property_names(value)
    return found


def _resolved(schema: Any, schemas: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """``schema`` with its ``$ref``s to components replaced by what they name (once per path, for recursion)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rpartition("/")[2]
            return {} if name in seen else _resolved(schemas.get(name, {}), schemas, seen | {name})
        return {k: _resolved(v, schemas, seen) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolved(v, schemas, seen) for v in schema]
    return schema


HTML = {"text/html": {"schema": {"type": "string"}}}
# The doors beside the API's routes that a storefront meets too: the hosted page (the invoice's hosted_invoice_url)
# and Stripe's webhook (its own function). Neither takes the API key.
OTHER_DOORS: dict[str, dict[str, Any]] = {
    "/pay/{token}": {
        "get": {
            "operationId": "hosted_invoice_page",
            "tags": ["invoices"],
            "summary": "The invoice's hosted page (its hosted_invoice_url), in the customer's language: the invoice, "
            "and a card form while something is due. The token is the credential.",
            "security": [],
            "parameters": [
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "pattern": r"^[A-Za-z0-9_]{1,64}\.[A-Za-z0-9_]{1,64}\.[A-Za-z0-9_-]{16,128}$",
                    },
                }
            ],
            "responses": {
                "200": {"description": "The page", "content": HTML},
                "404": {
                    "description": "The same not-found page for any wrong link, whatever part is wrong",
                    "content": HTML,
                },
            },
        }
    },
    "/webhooks/stripe": {
        "post": {
            "operationId": "stripe_webhook",
            "tags": ["stripe"],
            "summary": "Stripe's webhook: the event is verified by its Stripe-Signature on the raw body, recorded once "
            "and queued; answered at once",
            "security": [],
            "parameters": [
                {"name": "Stripe-Signature", "in": "header", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "description": "A Stripe event"}}},
            },
            "responses": {
                "200": {
                    "description": "Received (also for an event already received)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["received", "id"],
                                "properties": {"received": {"type": "boolean"}, "id": {"type": "string"}},
                            }
                        }
                    },
                },
                "400": _problem(
                    "Not Stripe's: a missing or wrong signature, an old timestamp, a body that is not an "
                    "event (`invalid_signature`, `stale_signature`, `malformed_event`)"
                ),
                "429": {
                    **_problem("Too many refused deliveries from this address (`rate_limited`); Stripe's are never"),
                    "headers": {"Retry-After": RETRY_AFTER},
                },
            },
        }
    },
}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (Powertools' generated dict) with the problem answers and the Idempotency-Key header added."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", *WRITES) or not path.startswith("/v1/"):
                continue
            # the route's own name (``place_order``), not Powertools' ``place_order_v1_orders_post``: what a
            # generated client calls the operation
            if "operationId" in operation:
                operation["operationId"] = operation["operationId"].split("_v1_")[0]
            responses = operation.setdefault("responses", {})
            errors = {**ALWAYS, **(ON_WRITES if method in WRITES else {})}
            for status, description in errors.items():
                responses[status] = _problem(description)
            responses["429"]["headers"] = {"Retry-After": RETRY_AFTER}
            needed = scopes.required(method.upper(), path)
            operation["x-required-scope"] = needed
            responses["403"] = _problem(f"The API key lacks the scope `{needed}` (`insufficient_scope`)")
            if codes := _not_found_codes(path, operation, schemas):
                responses["404"] = _problem(f"{NOT_FOUND} ({', '.join(f'`{c}`' for c in codes)})", codes)
            if "302" in responses:  # a redirect has no body; its answer is the Location header
                responses["302"].pop("content", None)
                responses["302"]["headers"] = {"Location": {"schema": {"type": "string", "format": "uri"}}}
            if method in ("post", "put", "patch"):
                operation["x-max-body-bytes"] = limit = limits.max_body_bytes(path)
                responses["413"] = _problem(f"The body is larger than {limit:,} bytes (`body_too_large`)")
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == IDEMPOTENCY_KEY["name"] for p in parameters):
                    parameters.append(IDEMPOTENCY_KEY)
    for path, item in OTHER_DOORS.items():
        document["paths"].setdefault(path, {}).update(item)
    # Powertools' own error schemas, which no answer uses any more: dropped once nothing refers to them
    for name in ("HTTPValidationError", "ResponseValidationError", "ValidationError"):
        if name in schemas and f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name)
    return document
