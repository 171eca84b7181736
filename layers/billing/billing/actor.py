"""Who is acting: each door names the actor of the work it runs (an API key, a portal customer, a job, a Stripe
event, an operator's command), and every domain event written meanwhile carries it (billing.adapters.repository
stamps it on commit). No dependency: the repository imports it, and it must not load Powertools' Metrics before a
function's environment is set."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

# The kinds of actor (docs/events.md says what each is); a door naming another is a programming error.
ACTOR_TYPES = ("api_key", "customer", "job", "stripe_event", "admin_command")

_actor: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("billing_actor", default=None)


def current_actor() -> dict[str, str] | None:
    return _actor.get()


def set_actor(kind: str, actor_id: str) -> None:
    """Name the actor from here to the end of the enclosing ``acting`` block (a door that learns who acts late: a
    portal page once its session is open)."""
    _actor.set(_named(kind, actor_id))


def _named(kind: str, actor_id: str) -> dict[str, str]:
    if kind not in ACTOR_TYPES:
        raise ValueError(f"no kind of actor {kind!r}: add it to billing.actor.ACTOR_TYPES and docs/events.md")
    return {"type": kind, "id": actor_id}


@contextlib.contextmanager
def acting(kind: str | None, actor_id: str = "") -> Iterator[None]:
    """Run the block as ``{"type": kind, "id": actor_id}`` (``None``: nobody yet); the previous actor is back after."""
    token = _actor.set(_named(kind, actor_id) if kind else None)
    try:
        yield
    finally:
        _actor.reset(token)


def acting_as_job(function: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A Lambda handler's decorator: what it writes is done by the job ``function``."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            with acting("job", function):
                return handler(*args, **kwargs)

        return run

    return wrap
