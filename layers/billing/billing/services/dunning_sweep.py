"""The daily dunning sweep: the invoices needing attention, fanned out to the dunning queue (the worker's steps are
billing.services.dunning). Its own module so that the sweep's function imports only the attention index's reader,
not the payments and subscriptions the worker calls (docs/benchmarks.md, section 1).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.services.unit import Context, fan_out_once

# How many past days a sweep reads. An invoice leaves a day's partition when the worker moves its attention on,
# so re-reading is cheap; the window only has to outlast the longest outage of the schedule.
LOOKBACK_DAYS = 14
SWEEP = "dunning-sweep"


def sweep(ctx: Context, publisher: Any, queue_url: str, scheduled_time: datetime) -> int | None:
    """Fan out the invoices needing attention as of ``scheduled_time`` (today and the ``LOOKBACK_DAYS`` before);
    ``None`` if this run already happened."""

    def find() -> list[dict[str, Any]]:
        days = [(scheduled_time.date() - timedelta(days=back)).isoformat() for back in range(LOOKBACK_DAYS + 1)]
        return [{"tenant_id": t, "invoice_id": i} for day in days for t, i in ctx.repo.invoices_needing_attention(day)]

    return fan_out_once(ctx, publisher, queue_url, SWEEP, scheduled_time, find)
