"""``Idempotency-Key`` for every POST: the same key and request replay the first answer, the same key with another
request is a 409, and concurrent duplicates resolve to the one that committed (see billing.services.unit)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response

from billing.api.problems import problem
from billing.services.unit import Claim, ClaimTaken, Context, replay

MAX_KEY_LENGTH = 255


def fingerprint(method: str, path: str, body: str | None) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:
        canonical = body or ""
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def run(
    ctx: Context,
    tenant_id: str,
    headers: dict[str, str],
    method: str,
    path: str,
    body: str | None,
    status: int,
    action: Callable[[Claim | None], Any],
) -> Response:
    """Answer a POST: replay a stored answer, or perform ``action`` with a claim on the key and answer ``status``."""
    key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        return problem(400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    claim = Claim(key, fingerprint(method, path, body), status) if key else None
    for _ in range(2):
        if stored := replay(ctx, tenant_id, claim):
            stored_status, stored_body = stored
            return Response(
                status_code=stored_status,
                content_type="application/json",
                body=stored_body,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            return Response(status_code=status, content_type="application/json", body=action(claim))
        except ClaimTaken:
            continue  # a concurrent request with this key committed first: answer what it answered
    raise RuntimeError("idempotency claim taken but not readable")
