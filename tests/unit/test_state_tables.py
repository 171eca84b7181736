"""Issue 12: every state machine, exhaustively. Each table is written out here once more, on purpose: every
(state, action) pair inside it goes where it says, every pair outside it is refused with its stable code, and the
machine knows exactly these states. A transition added, removed or redirected in the code fails here."""

from __future__ import annotations

import itertools

import pytest

from billing.domain.errors import IllegalTransition
from billing.domain.state_machine import COLLECTION_CASE, INVOICE, ORDER, WEBHOOK_DELIVERY, StateMachine
from billing.domain.subscriptions import SUBSCRIPTION

ORDERS = {
    ("new", "place"): "invoiced",
    ("new", "hold_for_review"): "pending_review",
    ("pending_review", "approve"): "invoiced",
    ("pending_review", "cancel"): "canceled",
}
INVOICES = {
    ("draft", "finalize"): "open",
    ("draft", "delete"): "deleted",
    ("open", "pay"): "paid",
    ("open", "void"): "void",
    ("open", "mark_uncollectible"): "uncollectible",
    ("uncollectible", "pay"): "paid",
    ("uncollectible", "void"): "void",
    ("paid", "reopen"): "open",
}
SUBSCRIPTIONS = {
    ("pending_review", "approve"): "trialing",
    ("pending_review", "change"): "pending_review",
    ("pending_review", "cancel"): "canceled",
    ("trialing", "start"): "active",
    ("trialing", "expire"): "canceled",
    ("trialing", "change"): "trialing",
    ("trialing", "cancel"): "canceled",
    ("active", "bill"): "active",
    ("active", "change"): "active",
    ("active", "fall_past_due"): "past_due",
    ("active", "suspend"): "suspended",
    ("active", "expire"): "canceled",
    ("active", "cancel"): "canceled",
    ("past_due", "bill"): "past_due",
    ("past_due", "change"): "past_due",
    ("past_due", "recover"): "active",
    ("past_due", "suspend"): "suspended",
    ("past_due", "expire"): "canceled",
    ("past_due", "cancel"): "canceled",
    ("suspended", "bill"): "suspended",
    ("suspended", "resume"): "active",
    ("suspended", "expire"): "canceled",
    ("suspended", "cancel"): "canceled",
    ("canceled", "settle"): "canceled",
}
COLLECTION_CASES = {
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
}
WEBHOOK_DELIVERIES = {
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
}
MACHINES = [
    (ORDER, "order", ORDERS, {"new", "pending_review", "invoiced", "canceled"}),
    (INVOICE, "invoice", INVOICES, {"draft", "open", "paid", "void", "uncollectible", "deleted"}),
    (
        SUBSCRIPTION,
        "subscription",
        SUBSCRIPTIONS,
        {"pending_review", "trialing", "active", "past_due", "suspended", "canceled"},
    ),
    (COLLECTION_CASE, "collection_case", COLLECTION_CASES, {"open", "assigned", "promise_to_pay", "resolved"}),
    (WEBHOOK_DELIVERY, "webhook_delivery", WEBHOOK_DELIVERIES, {"pending", "succeeded", "failed", "given_up"}),
]
# Actions no machine knows, and states no machine has: refused too.
STRANGERS = ["", "PAY", "pay ", "teleport"]


def pairs(table, states):
    actions = {a for _, a in table} | set(STRANGERS)
    return list(itertools.product(sorted(states | {"unknown"}), sorted(actions)))


@pytest.mark.parametrize(("machine", "name", "table", "states"), MACHINES, ids=lambda v: getattr(v, "name", None))
def test_the_table_is_exactly_this(machine: StateMachine, name, table, states):
    assert machine.name == name
    assert dict(machine.transitions) == table
    assert machine.states == states


@pytest.mark.parametrize(("machine", "name", "table", "states"), MACHINES, ids=lambda v: getattr(v, "name", None))
def test_every_pair_goes_where_the_table_says_or_is_refused(machine: StateMachine, name, table, states):
    for state, action in pairs(table, states):
        if (state, action) in table:
            assert machine.next_state(state, action) == table[(state, action)], (state, action)
            continue
        with pytest.raises(IllegalTransition) as refused:
            machine.next_state(state, action)
        assert refused.value.code == f"{name}_{action}_not_allowed", (state, action)
        assert refused.value.extra == {"state": state, "action": action}


@pytest.mark.parametrize(("machine", "name", "table", "states"), MACHINES, ids=lambda v: getattr(v, "name", None))
def test_allowed_actions_are_the_tables_in_order(machine: StateMachine, name, table, states):
    for state in states | {"unknown"}:
        assert machine.allowed_actions(state) == sorted(a for s, a in table if s == state)


def test_a_refusal_says_what_in_words():
    with pytest.raises(IllegalTransition) as refused:
        INVOICE.next_state("pending_review", "mark_uncollectible")
    assert refused.value.detail == "cannot mark uncollectible a invoice that is pending review"
