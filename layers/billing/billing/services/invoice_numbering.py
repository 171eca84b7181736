"""Invoice numbering by one writer per tenant and series: the billing run's drafts get their gapless numbers.

The billing run writes each period's invoice as a draft, with an internal ``invoices.drafted`` event naming the
drafts in the same transaction. The outbox relay hands that event to a FIFO queue whose message group is the
tenant and series (merging a stream batch's events of one group into one message), so one writer at a time numbers
a series' drafts, in order. The writer reads the drafts once (``BatchGetItem``, strongly consistent) and finalizes
them PER_MOVE to a transaction: one move of the series' counter and the invoices (each conditional on its version,
so on its still being the draft it read). The counter is held only for that move (its read sent to the transaction
answered) and never contended by other billing workers; orders, approvals and credit notes still number inline
(``invoicing.take_number``) on the same counter, and a move that loses to one of them is read again and retried.

Each invoice's ``invoice.finalized`` event is not in the move: it is made from the committed invoice itself
(``Invoice.finalized_event``: its id derived from the invoice, the same event each time) and written right after
the move (``BatchWriteItem``), which is what lets one move number 99 invoices rather than 49; they are written
while the next move runs, and a message is done once its invoices' events are written. Each move after the first
starts from where the writer's last one left the counter, without reading it (still conditional on its value: an
inline number in between fails the move, which reads again). A writer that dies
before the move's commit has moved nothing: the redelivery numbers the same drafts. One that dies after it, before
the events are written: the redelivery finds those invoices numbered and writes their events (a conditional put
each: one written already stays as it is). The message is deleted only once both are done, so the series stays
gapless, each draft is numbered once, and each numbered invoice's event reaches the outbox.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from billing.adapters import keys
from billing.domain.errors import ConcurrentModification
from billing.domain.models import DomainEvent, Invoice, Tenant
from billing.observability import business_event, logger
from billing.services.invoicing import take_numbers
from billing.services.unit import Context

if TYPE_CHECKING:
    from concurrent.futures import Future

# Invoices one move numbers at most: the counter's move and the invoices, a transaction's 100 writes.
PER_MOVE = 99
RETRIES = 60


def drafted_event(tenant_id: str, series: str, invoice_ids: list[str], now: datetime) -> DomainEvent:
    """The outbox event that hands a billing transaction's drafts to their series' writer (on the first draft's
    partition: the drafts of a big run spread over the table, not onto one tenant key)."""
    return DomainEvent.new(
        "invoices.drafted", tenant_id, "invoice", invoice_ids[0], now, series=series, invoice_ids=invoice_ids
    )


@dataclass
class Move:
    """One move of the counter: how many numbers it assigned, its hold time (the counter's read sent to the
    transaction answered) and its attempts (a move lost to an inline number is read again)."""

    numbers: int
    held_seconds: float
    attempts: int


@dataclass
class GroupOutcome:
    done: list[str] = field(default_factory=list)  # messages whose drafts are all numbered (or need none)
    failed: list[str] = field(default_factory=list)  # the first message not done and every one after it
    numbered: int = 0
    skipped: int = 0  # drafts numbered already (a redelivery), gone, or not drafts
    events_again: int = 0  # invoice.finalized events written again for invoices numbered already (a redelivery)
    moves: list[Move] = field(default_factory=list)


def number_group(ctx: Context, tenant_id: str, series: str, messages: list[tuple[str, list[str]]]) -> GroupOutcome:
    """Number the drafts that a message group's messages name (``(message id, invoice ids)``, in the group's
    order), PER_MOVE to a transaction. A move's events are written while the next move runs; a message is done
    once every draft it names is numbered and its event written. A move or an events write that fails leaves its
    messages and every later one failed (FIFO: the group's order is kept); those before it are done."""
    outcome = GroupOutcome()
    tenant = ctx.repo.tenant(tenant_id)
    ids = list(dict.fromkeys(i for _, invoice_ids in messages for i in invoice_ids))
    invoices = _series(ctx, tenant_id, series, ids) if tenant is not None else []
    drafts = _drafts(invoices)
    outcome.skipped = len(ids) - len(drafts)
    finished = set(ids) - {d.id for d in drafts}  # nothing to number for these
    writing: list[tuple[list[Future[None]], list[str]]] = []  # a move's events under way, and its invoices
    counter: dict[str, int] = {}  # where this writer's last move left the counter (no read before each move)
    position = 0
    try:
        if numbered := [i for i in invoices if i.status != "draft" and i.number is not None]:
            # a redelivery: the move may have committed, its events not
            _write_events(ctx, [(i, i.finalized_event()) for i in numbered], again=True)
            outcome.events_again = len(numbered)
        for start in range(0, len(drafts), PER_MOVE):
            assert tenant is not None
            move, events = _move(ctx, tenant, series, drafts[start : start + PER_MOVE], counter, outcome)
            outcome.moves.append(move)
            writing.append(events)
            while writing and all(future.done() for future in writing[0][0]):
                finished |= _written(writing.pop(0))
            position = _done_through(messages, finished, position, outcome)
        while writing:
            finished |= _written(writing.pop(0))
    except Exception:
        logger.exception("numbering failed", extra={"tenant_id": tenant_id, "series": series})
        finished |= _settle(writing)
    position = _done_through(messages, finished, position, outcome)
    outcome.failed = [message_id for message_id, _ in messages[position:]]
    if outcome.numbered:
        business_event("InvoicesNumbered", outcome.numbered)
    return outcome


def _written(events: tuple[list[Future[None]], list[str]]) -> set[str]:
    """The invoices of a move whose events are written (waiting for them); an error writing them is raised."""
    futures, invoice_ids = events
    for future in futures:
        future.result()
    return set(invoice_ids)


def _settle(writing: list[tuple[list[Future[None]], list[str]]]) -> set[str]:
    """After a failure, wait for the events writes still under way (nothing keeps writing once the writer has
    answered): the invoices whose events are written; the others' events the redelivery writes again."""
    return {i for futures, invoice_ids in writing if not any(f.exception() for f in futures) for i in invoice_ids}


def _done_through(messages: list[tuple[str, list[str]]], finished: set[str], position: int, outcome) -> int:
    while position < len(messages) and all(i in finished for i in messages[position][1]):
        outcome.done.append(messages[position][0])
        position += 1
    return position


def _series(ctx: Context, tenant_id: str, series: str, ids: list[str]) -> list[Invoice]:
    """The invoices of ``ids`` in ``series``, read strongly consistent."""
    return [i for i in ctx.repo.invoices_by_id(tenant_id, ids) if i.series == series]


def _drafts(invoices: list[Invoice]) -> list[Invoice]:
    """Those still to number."""
    return [i for i in invoices if i.status == "draft"]


def _finalized(finalized: list[tuple[Invoice, DomainEvent]]) -> list[tuple[dict[str, str], DomainEvent, int]]:
    """Each committed invoice's ``invoice.finalized`` event, at the version its invoice was saved at."""
    return [(keys.invoice(i.tenant_id, i.id), event, i.version) for i, event in finalized]


def _write_events(ctx: Context, finalized: list[tuple[Invoice, DomainEvent]], again: bool = False) -> None:
    ctx.repo.write_events(_finalized(finalized), again=again)


def _move(
    ctx: Context, tenant: Tenant, series: str, drafts: list[Invoice], counter: dict[str, int], outcome: GroupOutcome
) -> tuple[Move, tuple[list[Future[None]], list[str]]]:
    """Number ``drafts`` with one move of the counter, from where ``counter`` says this writer left it (read when
    it does not know); a move lost to another writer of the counter (an order's inline number) forgets it, reads the
    drafts and the counter again and retries. Returns the move and its events' writes, started."""
    for attempt in range(1, RETRIES + 1):
        if attempt > 1:
            drafts = _drafts(_series(ctx, tenant.id, series, [d.id for d in drafts]))
            if not drafts:
                return Move(0, 0.0, attempt), ([], [])
        started = time.perf_counter()
        try:
            tx = ctx.repo.transaction()
            numbers = take_numbers(ctx, tx, tenant.id, series, tenant.invoice_number_format, len(drafts), counter)
            now = ctx.clock.now()
            finalized = [d.finalize(n, now) for d, n in zip(drafts, numbers, strict=True)]
            # each conditional on the draft's version: numbered once
            saved = [(ctx.repo.save_invoice(tx, invoice), event) for invoice, event in finalized]
            ctx.repo.commit(tx)
        except ConcurrentModification:
            counter.clear()
            if attempt == RETRIES:
                raise
            time.sleep(min(0.2, 0.005 * 2**attempt))
            continue
        held = time.perf_counter() - started
        outcome.numbered += len(drafts)
        return Move(len(drafts), held, attempt), (ctx.repo.writing_events(_finalized(saved)), [d.id for d in drafts])
    raise AssertionError("unreachable")
