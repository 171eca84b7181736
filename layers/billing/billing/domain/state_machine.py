"""Explicit state machines: a table of (state, action) -> next state. Anything not in the table is refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billing.domain.errors import IllegalTransition


@dataclass(frozen=True)
class StateMachine:
    name: str
    transitions: Mapping[tuple[str, str], str]

    def next_state(self, state: str, action: str) -> str:
        try:
            return self.transitions[(state, action)]
        except KeyError:
            raise IllegalTransition(
                f"{self.name}_{action}_not_allowed",
                f"cannot {action.replace('_', ' ')} a {self.name} that is {state.replace('_', ' ')}",
                state=state,
                action=action,
            ) from None

    def allowed_actions(self, state: str) -> list[str]:
        return sorted(action for (s, action) in self.transitions if s == state)

    @property
    def states(self) -> set[str]:
        return {s for s, _ in self.transitions} | set(self.transitions.values())


ORDER = StateMachine(
    "order",
    {
        ("new", "place"): "invoiced",
        ("new", "hold_for_review"): "pending_review",
        ("pending_review", "approve"): "invoiced",
        ("pending_review", "cancel"): "canceled",
    },
)

CUSTOMER = StateMachine(
    "customer",
    {
        ("active", "archive"): "archived",  # no new orders or subscriptions; invoices, payments, dunning go on
        ("archived", "unarchive"): "active",
        # personal data tombstoned (billing.domain.erasure): for good, nothing changes it again
        ("active", "erase"): "erased",
        ("archived", "erase"): "erased",
    },
)

INVOICE = StateMachine(
    "invoice",
    {
        ("draft", "finalize"): "open",
        ("draft", "delete"): "deleted",
        ("open", "pay"): "paid",
        ("open", "void"): "void",
        ("open", "mark_uncollectible"): "uncollectible",
        ("uncollectible", "pay"): "paid",
        ("uncollectible", "void"): "void",
        ("paid", "reopen"): "open",  # a payment taken back (a lost dispute): the amount is owed again
    },
)

# A collection case (billing.domain.collections): a person chases an invoice dunning escalated. A promise to pay is
# recorded by whoever holds the case; a broken (or partly kept) promise hands the case back to its assignee.
COLLECTION_CASE = StateMachine(
    "collection_case",
    {
        ("open", "assign"): "assigned",
        ("assigned", "assign"): "assigned",
        ("promise_to_pay", "assign"): "promise_to_pay",
        ("open", "add_note"): "open",
        ("assigned", "add_note"): "assigned",
        ("promise_to_pay", "add_note"): "promise_to_pay",
        ("assigned", "record_promise"): "promise_to_pay",
        ("promise_to_pay", "break_promise"): "assigned",
        ("promise_to_pay", "keep_promise"): "assigned",
        ("open", "resolve"): "resolved",
        ("assigned", "resolve"): "resolved",
        ("promise_to_pay", "resolve"): "resolved",
    },
)

# A webhook delivery: one event to one endpoint. ``failed`` is "failed, a retry is scheduled"; ``given_up``: the
# schedule ran out, the endpoint answered 410 or was disabled. A retry asked for by the tenant (or a replay) puts a
# delivery back in flight, now; one in flight already is sent now instead (its queued attempt becomes stale), so a
# delivery whose attempt message was lost is never stuck.
WEBHOOK_DELIVERY = StateMachine(
    "webhook_delivery",
    {
        ("pending", "succeed"): "succeeded",
        ("pending", "fail"): "failed",
        ("pending", "give_up"): "given_up",
        ("pending", "retry"): "pending",
        ("failed", "succeed"): "succeeded",
        ("failed", "fail"): "failed",
        ("failed", "give_up"): "given_up",
        ("failed", "retry"): "pending",
        ("given_up", "retry"): "pending",
        ("succeeded", "retry"): "pending",
    },
)

# A pending invoice item (billing.domain.invoice_items): the customer's next invoice takes it exactly once, or it is
# deleted before; once on an invoice it stays there (a correction is a credit note).
INVOICE_ITEM = StateMachine(
    "invoice_item",
    {
        ("pending", "invoice"): "invoiced",
        ("pending", "delete"): "deleted",
    },
)
