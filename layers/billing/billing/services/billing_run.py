"""The hourly billing run's fan-out, paged, parallel and resumable (docs/architecture.md, "The billing run").

The schedule only starts a run: one conditional put of the run's record (the scheduled time is its idempotency key:
a repeated firing finds it and starts nothing; each shard's progress is an item of its own beside it, made by the
shard's first page), then one page message per shard to the page queue. Each page message (run, shard, page
number, cursor) is one Query page of its shard: the due subscriptions, packed per tenant into messages of up to
``subscriptions.PER_TRANSACTION`` ids for the invoice worker, sent in parallel batches; then the page is recorded on
the shard's item (conditional on the shard still being at that page), then the next page's message is sent, or the
shard is marked done and, the last one done, the run finished. Constant time and memory per invocation whatever the
number due: one page, one record update, one message on.

Crash points, each resumed by SQS redelivering the page message (same message id):
- before the page is sent, or half-way: the page is read and sent again;
- after sending, before recording: the page is sent again. At least once: the invoice worker finds a billed period
  moved on and bills nothing twice;
- after recording, before the next page's message: the record names the message that recorded it (``by``), so its
  redelivery sends only the next page's message (or finishes the run), nothing of the page again;
- another copy of a recorded page's message (a duplicate, not a redelivery) sends nothing: the recorder carries on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from billing.adapters import keys
from billing.domain.base_model import BaseModel
from billing.observability import business_event, logger
from billing.services.billing_terms import BILLING_RUN, PER_TRANSACTION
from billing.services.unit import Context

# Index entries per page: one Query (also capped at DynamoDB's 1 MB) and at most this many subscriptions sent by one
# invocation, in at most PAGE_SIZE / 10 SendMessageBatch calls (fewer: a tenant's ids are packed eight a message).
PAGE_SIZE = 1000


class PageMessage(BaseModel):
    """A page of one shard of one run: the page queue's message."""

    schedule: str = BILLING_RUN
    scheduled_time: datetime
    shard: int = Field(ge=0, lt=1024)
    page: int = Field(ge=0)
    cursor: dict[str, Any] | None = None  # the shard's LastEvaluatedKey after the last page (None: its start)


@dataclass(frozen=True)
class PageOutcome:
    """What one page message did: ``fanned_out`` (sent its page), ``resumed`` (its page was recorded by this very
    message before a crash: only what follows was sent), ``recorded`` (another copy did it: nothing sent)."""

    status: str
    sent: int = 0
    messages: int = 0
    done: bool = False
    finished: bool = False


def start(ctx: Context, publisher: Any, pages_queue: str, scheduled_time: datetime) -> int | None:
    """Start the run of ``scheduled_time``: its record, then the first page message of each shard with anything due
    (one Query of one entry a shard, all at once: an empty shard takes no page and is done from the start). The
    number of shards started; None if the run had started already (a repeated firing). A firing that crashed
    between the record and its page messages is completed by the scheduler's retry, which finds it not seeded."""
    stamp = scheduled_time.isoformat()
    busy = ctx.repo.billing_shards_due(keys.instant(scheduled_time), keys.BILLING_SHARDS)
    idle = [shard for shard in range(keys.BILLING_SHARDS) if shard not in busy]
    if ctx.repo.start_paged_run(BILLING_RUN, stamp, keys.BILLING_SHARDS, ctx.clock.now().isoformat(), idle):
        shards = busy
    else:
        record = ctx.repo.schedule_run(BILLING_RUN, stamp)
        if record is None or record.get("seeded", True):  # seeded, or a run recorded before runs were paged
            return None
        recorded = ctx.repo.run_shards(BILLING_RUN, stamp)  # a shard with a page recorded has its chain going
        done = {int(shard) for shard in record.get("done_shards", set())}
        shards = [shard for shard in range(int(record["shard_count"])) if shard not in recorded | done]
    first = [
        PageMessage(scheduled_time=scheduled_time, shard=shard, page=0).model_dump(mode="json") for shard in shards
    ]
    publisher.send_parallel(pages_queue, first)
    ctx.repo.mark_run_seeded(BILLING_RUN, stamp)
    if not shards and not busy:  # nothing due anywhere: finished as it starts
        ctx.repo.finish_run(BILLING_RUN, stamp, ctx.clock.now().isoformat(), fanned_out=0, messages=0)
    return len(shards)


def pack(due: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The invoice worker's messages for ``due`` (tenant id, subscription id): per tenant, up to PER_TRANSACTION ids
    each (one billing transaction), in the order found."""
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, subscription_id in due:
        by_tenant.setdefault(tenant_id, []).append(subscription_id)
    return [
        {"tenant_id": tenant_id, "subscription_ids": ids[start : start + PER_TRANSACTION]}
        for tenant_id, ids in by_tenant.items()
        for start in range(0, len(ids), PER_TRANSACTION)
    ]


def fan_out_page(
    ctx: Context,
    publisher: Any,
    billing_queue: str,
    pages_queue: str,
    page: PageMessage,
    message_id: str,
    page_size: int = PAGE_SIZE,
) -> PageOutcome:
    """Fan out one page of a shard (``message_id``: the page message's SQS id, the same on a redelivery)."""
    stamp = page.scheduled_time.isoformat()
    progress = ctx.repo.run_shard(page.schedule, stamp, page.shard)
    if progress is None:  # nothing recorded: the shard is at page 0 (of a run that must exist)
        if ctx.repo.schedule_run(page.schedule, stamp) is None:
            logger.warning("page of no run", extra={"scheduled_time": stamp, "shard": page.shard})
            return PageOutcome("unknown")
        progress = {"page": 0, "done": False, "by": ""}
    if int(progress["page"]) != page.page or progress["done"]:
        if progress["by"] == message_id:  # recorded by this message, which then stopped short: carry on
            return _carry_on(ctx, publisher, pages_queue, page, progress, "resumed")
        return PageOutcome("recorded")  # another copy's page (or a stale one): the copy that recorded it carries on
    due, cursor = ctx.repo.subscriptions_due_page(page.shard, keys.instant(page.scheduled_time), page_size, page.cursor)
    messages = pack(due)
    publisher.send_parallel(billing_queue, messages)
    # a crash here: the page is sent again on redelivery (the invoice worker bills a period once)
    if not ctx.repo.record_page(
        page.schedule, stamp, page.shard, page.page, cursor, len(due), len(messages), message_id
    ):
        return PageOutcome("recorded", len(due), len(messages))  # a concurrent copy recorded it first
    if due:
        business_event("SubscriptionsDue", len(due))
    progress = {"page": page.page + 1, "done": cursor is None, "cursor": json.dumps(cursor) if cursor else ""}
    outcome = _carry_on(ctx, publisher, pages_queue, page, progress, "fanned_out")
    return PageOutcome(outcome.status, len(due), len(messages), outcome.done, outcome.finished)


def _carry_on(
    ctx: Context,
    publisher: Any,
    pages_queue: str,
    page: PageMessage,
    progress: dict[str, Any],
    status: str,
) -> PageOutcome:
    """What follows a recorded page: the next page's message, or (the shard done) the run finished if every shard
    is done. Both are safe to repeat: a second next-page message is a copy that finds its page recorded; the finish
    is conditional."""
    if not progress["done"]:
        cursor = json.loads(progress["cursor"]) if progress.get("cursor") else None
        following = PageMessage(
            schedule=page.schedule,
            scheduled_time=page.scheduled_time,
            shard=page.shard,
            page=int(progress["page"]),
            cursor=cursor,
        )
        publisher.send(pages_queue, [following.model_dump(mode="json")])
        return PageOutcome(status)
    # the shard is done (a set of done shards on the run: adding it again is harmless); the last one finishes the run
    stamp = page.scheduled_time.isoformat()
    record = ctx.repo.schedule_run(page.schedule, stamp)
    assert record is not None
    finished = False
    if ctx.repo.shard_done(page.schedule, stamp, page.shard) >= int(record["shard_count"]):
        shards = ctx.repo.run_shards(page.schedule, stamp)  # once a run: its totals
        totals = {n: sum(int(p[n]) for p in shards.values()) for n in ("sent", "messages")}
        finished = ctx.repo.finish_run(
            page.schedule, stamp, ctx.clock.now().isoformat(), fanned_out=totals["sent"], messages=totals["messages"]
        )
    if finished:
        logger.info("billing run finished", extra={"scheduled_time": page.scheduled_time.isoformat()})
    return PageOutcome(status, done=True, finished=finished)
