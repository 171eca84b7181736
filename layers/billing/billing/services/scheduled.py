"""What a schedule hands its function: the one small model the scheduled functions parse at INIT.

Its own module so that a scheduled function (billing run, dunning sweep, reconciliation, analytics export) does not
import every request body of billing.services.commands to read two fields (docs/benchmarks.md, section 1).
"""

from __future__ import annotations

from datetime import datetime

from billing.domain.base_model import BaseModel


class ScheduledRun(BaseModel):
    """What an EventBridge Scheduler target receives (the template's Input): the scheduled time is the run's
    idempotency key."""

    schedule: str
    scheduled_time: datetime
