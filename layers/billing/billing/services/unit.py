"""What every use case shares: the ports it is handed, optimistic retries, and idempotency claims.

An ``Idempotency-Key`` becomes a claim written in the same transaction as the change it answers for, holding the
answer itself: a replay returns the first answer to the byte, and of many concurrent identical requests exactly
one commits while the others find its claim.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from billing.adapters.dynamodb import Transaction
from billing.domain.errors import ConcurrentModification, Conflict

if TYPE_CHECKING:
    from billing.adapters.repository import Repository
    from billing.domain.base_model import BaseModel

T = TypeVar("T")
CLAIM_TTL = timedelta(hours=24)
# True while a ``@retrying`` use case (or one it calls) runs again after a lost race: a read that trusted an
# eventually consistent copy the first time reads consistently then (``retried``).
_RETRIED: contextvars.ContextVar[bool] = contextvars.ContextVar("retried", default=False)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Claim:
    """An idempotency key with the fingerprint of the request it came with and the status a success answers."""

    key: str
    fingerprint: str
    status: int = 200


class ClaimTaken(Exception):
    """Another request with the same key committed first: read its claim and answer from it."""


class KeyReused(Conflict):
    code = "idempotency_key_reused"


@dataclass
class Context:
    repo: Repository
    clock: Clock


def fan_out_once(
    ctx: Context,
    publisher: Any,
    queue_url: str,
    schedule: str,
    scheduled_time: datetime,
    find: Callable[[], list[dict[str, Any]]],
) -> int | None:
    """A scheduled run: send the messages ``find`` gives to ``queue_url``, once per scheduled time (the run's
    idempotency key); ``None`` if this scheduled time already ran.

    The run is recorded after its messages are sent: a run that failed half-way is retried in full (the workers are
    idempotent), and only a run that finished counts as done for a repeated firing."""
    if ctx.repo.schedule_run_done(schedule, scheduled_time.isoformat()):
        return None
    messages = find()
    publisher.send(queue_url, messages)
    ctx.repo.record_schedule_run(
        schedule, scheduled_time.isoformat(), finished_at=ctx.clock.now().isoformat(), fanned_out=len(messages)
    )
    return len(messages)


SHOWN_ONCE = "x-shown-once"  # a field's mark (json_schema_extra, in the OpenAPI document too): never stored


def replayable(answer: BaseModel) -> dict[str, Any]:
    """``answer`` as its Idempotency-Key replay gives it (what ``remember`` stores): every field marked
    ``SHOWN_ONCE`` (an API key's secret, a page session's link), at any depth, null."""
    return _blanked(answer, answer.model_dump(mode="json"))


def _blanked(model: BaseModel, body: dict[str, Any]) -> dict[str, Any]:
    for name, info in type(model).model_fields.items():
        extra, value = info.json_schema_extra, getattr(model, name)
        if isinstance(extra, dict) and extra.get(SHOWN_ONCE):
            body[name] = None
        elif hasattr(type(value), "model_fields") and isinstance(body.get(name), dict):
            _blanked(value, body[name])
    return body


def remember(ctx: Context, tx: Transaction, tenant_id: str, claim: Claim | None, body: dict[str, Any]) -> None:
    """Write the claim with its answer ``body`` in ``tx``, for ``CLAIM_TTL``; an answer about a customer (the
    customer itself, or an object naming its ``customer_id``: an invoice carries the bill-to) is noted in that
    customer's partition, so an erasure finds and tombstones it (billing.services.privacy)."""
    if claim is None:
        return
    expires = int((ctx.clock.now() + CLAIM_TTL).timestamp())
    about = body.get("customer_id") if isinstance(body.get("customer_id"), str) else None
    if about is None and str(body.get("id", "")).startswith("cus_"):
        about = body["id"]
    ctx.repo.add_claim(
        tx, tenant_id, claim.key, claim.fingerprint, claim.status, body, expires, ClaimTaken, customer_id=about
    )


def replay(ctx: Context, tenant_id: str, claim: Claim | None) -> tuple[int, dict[str, Any]] | None:
    """The stored answer for this claim's key, if any; a key reused with another request is a conflict."""
    if claim is None:
        return None
    stored = ctx.repo.claim(tenant_id, claim.key)
    if stored is None:
        return None
    if stored["fingerprint"] != claim.fingerprint:
        raise KeyReused(detail="this Idempotency-Key was used with another request")
    return stored["status"], stored["body"]


def retried() -> bool:
    """Whether this is a ``@retrying`` use case's second or later attempt (its first lost a race)."""
    return _RETRIED.get()


def retrying(attempts: int = 60) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Re-run a read-modify-write use case when its optimistic lock was lost, with jittered back-off."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        def run(*args: Any, **kwargs: Any) -> T:
            for attempt in range(attempts):
                token = _RETRIED.set(_RETRIED.get() or attempt > 0)
                try:
                    return fn(*args, **kwargs)
                except ConcurrentModification:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                finally:
                    _RETRIED.reset(token)
            raise AssertionError("unreachable")

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run

    return wrap
