"""How large a request body may be, per route: one rule, applied by the API's front door (billing.api.app.handle,
before anything parses the body) and stated in the OpenAPI document (``x-max-body-bytes`` on every write, and its
413 answer). The limits sit well above the largest body each route's schema admits (an order's 50 lines and 50
metadata entries in three-byte characters: ≈ 80 KB; a seller profile with its 100 KB logo, base64: ≈ 140 KB) and far
under API Gateway's 10 MB, so an oversized body is refused before it costs a parse, a read or a Stripe call."""

from __future__ import annotations

MAX_BODY_BYTES = 128 * 1024
LARGER = {"/v1/settings/profile": 256 * 1024}  # a logo of up to 100 KB, base64 in the JSON


def max_body_bytes(path: str) -> int:
    """The largest body (bytes, as sent) ``path`` takes: a route's template or a request's path (the larger limits
    are on paths without parameters, so both name them alike)."""
    return LARGER.get(path, MAX_BODY_BYTES)
