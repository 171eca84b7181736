"""Errors as RFC 9457 problem documents, each with a stable ``code``. One table maps domain errors to statuses."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from billing.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response

PROBLEM_JSON = "application/problem+json"

STATUS_OF: list[tuple[type[DomainError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (ValidationFailed, 422),
    (RateLimited, 429),
]


# The JSON Schema of what problem_body writes: the OpenAPI document declares it for every error answer.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An RFC 9457 problem document; `code` is stable, `detail` is for people.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:billing:problem:invoice_not_found"]},
        "title": {"type": "string", "examples": ["Not Found"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "examples": ["invoice_not_found"]},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "what broke the schema (422)"},
        "retry_after": {"type": "integer", "minimum": 1, "description": "seconds to wait, as Retry-After (429, 503)"},
    },
}


def problem_body(status: int, code: str, detail: str, **extra: Any) -> str:
    body = {
        "type": f"urn:billing:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return json.dumps(body, default=str)


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    """A problem as the resolver's Response (the API's routes and exception handlers)."""
    from aws_lambda_powertools.event_handler import Response  # loaded already wherever a resolver runs

    body = problem_body(status, code, detail, **extra)
    return Response(status_code=status, content_type=PROBLEM_JSON, body=body, headers=_retry_after(extra))


def _retry_after(extra: dict[str, Any]) -> dict[str, str]:
    """A state that passes by itself (a PDF being rendered, a rate limit) says when to ask again."""
    return {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else {}


def from_domain(error: DomainError) -> Response:
    status = next((s for cls, s in STATUS_OF if isinstance(error, cls)), 400)
    return problem(status, error.code, error.detail or str(error), **error.extra)


def problem_answer(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The same problem document as an API Gateway answer, for the doors that answer without the resolver."""
    headers = {"Content-Type": PROBLEM_JSON, **_retry_after(extra)}
    return {"statusCode": status, "headers": headers, "body": problem_body(status, code, detail, **extra)}
