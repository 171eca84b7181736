"""Domain errors. Each carries a stable machine-readable ``code``; the API maps the class to an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "domain_error"

    def __init__(self, code: str | None = None, detail: str = "", **extra: object) -> None:
        super().__init__(detail or code or self.code)
        if code:
            self.code = code
        self.detail = detail
        self.extra = extra


class ValidationFailed(DomainError):
    """The input is well-formed but breaks a business rule (HTTP 422)."""

    code = "validation_failed"


class Forbidden(DomainError):
    """The caller's key lacks the scope an option of the request needs (HTTP 403)."""

    code = "insufficient_scope"


class NotFound(DomainError):
    """No such object for this tenant (HTTP 404)."""

    code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the current state (HTTP 409)."""

    code = "conflict"


class IllegalTransition(Conflict):
    """A state machine refused an action in the object's current state (HTTP 409)."""

    code = "illegal_transition"


class ConcurrentModification(Exception):
    """An optimistic-lock check failed; the service re-reads and tries again. Never reaches a client as is."""


class RateLimited(DomainError):
    """Too many requests for one limit (a tenant's, a source's, a link's): ``retry_after`` seconds (HTTP 429)."""

    code = "rate_limited"


class Unauthorized(DomainError):
    """Missing or unknown API key (HTTP 401)."""

    code = "unauthorized"
