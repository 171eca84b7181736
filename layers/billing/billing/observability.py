"""One Logger, Tracer and Metrics per process, shared by the handler and the code it calls.

Logs are masked: a log record that holds a personal or secret field (an email address, a postal address, a name,
a client secret, a pay token), at any depth of its extra keys, has it erased by Powertools' data masking before
it is written. Traces hold no responses or error messages (template.yaml: ``POWERTOOLS_TRACER_CAPTURE_*``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_masking import DataMasking
from aws_lambda_powertools.utilities.data_masking.provider import BaseProvider

PERSONAL_FIELDS = frozenset(
    {"email", "customer_email", "to", "address", "customer_name", "phone", "client_secret", "pay_token"}
)
_masking = DataMasking(
    provider=BaseProvider(json_serializer=functools.partial(json.dumps, default=str)), raise_on_missing_field=False
)


def _personal_keys(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in PERSONAL_FIELDS:
                found.add(k)
            _personal_keys(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            _personal_keys(v, found)
    return found


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every personal or secret field erased (``*****``) wherever it is; as is when it holds none
    (most do not: the check is cheap, the masking is not)."""
    present = _personal_keys(record, set())
    return _masking.erase(record, fields=[f"$..{key}" for key in sorted(present)]) if present else record


class MaskingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:
        return super().serialize(masked(log))


logger = Logger(logger_formatter=MaskingFormatter())
tracer = Tracer()
metrics = Metrics()


def business_event(name: str, count: int = 1) -> None:
    """One metric per business event (InvoiceFinalized, EmailSent, …)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)


# --- who is acting ----------------------------------------------------------------------------------------------
# Each door says who acts for the work it runs (an API key, a portal customer, a job, a Stripe event, an operator's
# command); every domain event written meanwhile carries it (billing.adapters.repository stamps it on commit).
_actor: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("billing_actor", default=None)


def current_actor() -> dict[str, str] | None:
    return _actor.get()


def set_actor(kind: str, actor_id: str) -> None:
    """Name the actor from here to the end of the enclosing ``acting`` block (a door that learns who acts late: a
    portal page once its session is open)."""
    _actor.set({"type": kind, "id": actor_id})


@contextlib.contextmanager
def acting(kind: str | None, actor_id: str = "") -> Iterator[None]:
    """Run the block as ``{"type": kind, "id": actor_id}`` (``None``: nobody yet); the previous actor is back after."""
    token = _actor.set({"type": kind, "id": actor_id} if kind else None)
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
