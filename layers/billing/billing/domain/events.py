"""The domain event: what every change writes beside its state (the outbox), and what every worker reads.

Its own module, re-exported by billing.domain.models: a worker that reads events (the relay, the webhook delivery,
the e-mail feedback) imports it without the aggregates, their pricing, dunning and money (docs/benchmarks.md,
section 1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.ids import new_id


class DomainEvent(BaseModel):
    id: str
    type: str
    tenant_id: str
    aggregate: str
    aggregate_id: str
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    # who made the change (an API key, a job, a Stripe event, a portal customer), stamped when the event is written
    actor: dict[str, str] | None = None
    # the aggregate's version after the change, stamped when the event is written with it: a consumer drops stale ones
    object_version: int | None = None

    @classmethod
    def new(cls, type_: str, tenant_id: str, aggregate: str, aggregate_id: str, now: datetime, **data: Any):
        return cls(
            id=new_id("evt", now),
            type=type_,
            tenant_id=tenant_id,
            aggregate=aggregate,
            aggregate_id=aggregate_id,
            occurred_at=now,
            data=data,
        )
