"""Errors as RFC 9457 problem documents, each with a stable ``code``. One table maps domain errors to statuses."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response

from billing.domain.errors import Conflict, DomainError, NotFound, Unauthorized, ValidationFailed

PROBLEM_JSON = "application/problem+json"

STATUS_OF: list[tuple[type[DomainError], int]] = [
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (ValidationFailed, 422),
]


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": f"urn:billing:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body, default=str))


def from_domain(error: DomainError) -> Response:
    status = next((s for cls, s in STATUS_OF if isinstance(error, cls)), 400)
    return problem(status, error.code, error.detail or str(error), **error.extra)
