"""Collection cases, pure: opening from an invoice, each change and its event, the promise rules (kept, broken, the
days they may fall on), the resolution an invoice gives its case, and where a policy may escalate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.domain import collections as cases
from billing.domain.dunning import DEFAULT_POLICY, DunningPolicy
from billing.domain.errors import IllegalTransition, ValidationFailed
from billing.domain.models import Invoice

NOW = datetime(2026, 12, 31, 23, 58, tzinfo=UTC)  # a year's last minutes: "today" is 31 December
TODAY = NOW.date()


def an_invoice(**update) -> Invoice:
    base = Invoice(
        id="in_01ABC",
        tenant_id="ten_1",
        customer_id="cus_1",
        customer_email="ana@example.com",
        customer_name="Ana",
        customer_locale="en",
        currency="usd",
        status="open",
        number="INV-2026-000001",
        collection_method="send_invoice",
        lines=[],
        subtotal=10000,
        discount=0,
        tax=0,
        total=10000,
        amount_due=10000,
        amount_paid=0,
        due_date=date(2026, 12, 20),
        created_at=NOW,
        updated_at=NOW,
    )
    return base.model_copy(update=update)


def opened() -> cases.CollectionCase:
    return cases.open_case(an_invoice(), "due_date:10", NOW)[0]


def assigned() -> cases.CollectionCase:
    return cases.assign(opened(), "olga@acme.example", NOW)[0]


def test_a_case_opens_from_its_invoice_with_an_id_derived_from_it():
    case, event = cases.open_case(an_invoice(), "due_date:10", NOW)
    assert case.id == cases.case_id_for("in_01ABC") == "case_01ABC"
    assert (case.status, case.amount_due, case.currency, case.invoice_number) == (
        "open",
        10000,
        "usd",
        "INV-2026-000001",
    )
    assert case.opened_at == NOW and case.opened_by_step == "due_date:10"
    assert event.type == "collection_case.opened" and event.aggregate == "collection_case"
    assert event.aggregate_id == case.id and event.data["invoice_id"] == "in_01ABC"
    assert event.data["changes"] == {"status": {"before": None, "after": "open"}}


def test_each_change_carries_what_changed():
    case, event = cases.assign(opened(), "olga", NOW)
    assert event.data["changes"] == {
        "status": {"before": "open", "after": "assigned"},
        "assignee": {"before": None, "after": "olga"},
    }
    again, event = cases.assign(case, "ivan", NOW)
    assert again.status == "assigned"
    assert event.data["changes"] == {"assignee": {"before": "olga", "after": "ivan"}}
    noted, event = cases.add_note(again, "ivan", "called", NOW)
    assert [n.text for n in noted.notes] == ["called"] and event.data["changes"] == {"notes": {"before": 0, "after": 1}}
    resolved, event = cases.resolve(noted, "other", "gone", NOW)
    assert resolved.resolution == cases.CaseResolution(code="other", note="gone") and resolved.resolved_at == NOW
    assert event.data["changes"]["status"] == {"before": "assigned", "after": "resolved"}


@pytest.mark.parametrize("text", ["", "   ", "x" * (cases.MAX_NOTE + 1)])
def test_a_note_is_one_to_2000_characters(text):
    with pytest.raises(ValidationFailed) as refused:
        cases.add_note(opened(), "olga", text, NOW)
    assert refused.value.code == "invalid_note"
    assert len(cases.add_note(opened(), "olga", "x" * cases.MAX_NOTE, NOW)[0].notes) == 1


def test_a_promise_is_made_to_whoever_holds_the_case():
    with pytest.raises(IllegalTransition) as refused:
        cases.record_promise(opened(), an_invoice(), TODAY + timedelta(days=3), None, None, "olga", NOW)
    assert refused.value.code == "collection_case_record_promise_not_allowed"
    case, event = cases.record_promise(assigned(), an_invoice(), TODAY + timedelta(days=3), None, "CFO", "olga", NOW)
    assert case.status == "promise_to_pay" and case.pending_promise is not None and case.notes[-1].text == "CFO"
    assert event.data["on"] == "2027-01-03" and event.data["target"] == 10000
    with pytest.raises(IllegalTransition):  # one promise at a time
        cases.record_promise(case, an_invoice(), TODAY + timedelta(days=4), None, None, "olga", NOW)


@pytest.mark.parametrize(
    ("days", "amount", "code"),
    [
        (0, None, "invalid_promise_date"),  # today is no promise
        (-1, None, "invalid_promise_date"),
        (cases.MAX_PROMISE_DAYS + 1, None, "invalid_promise_date"),
        (1, 0, "invalid_promise_amount"),
        (1, 10001, "invalid_promise_amount"),  # more than is due
        (1, -5, "invalid_promise_amount"),
    ],
)
def test_a_promise_falls_after_today_within_90_days_for_at_most_what_is_due(days, amount, code):
    with pytest.raises(ValidationFailed) as refused:
        cases.record_promise(assigned(), an_invoice(), TODAY + timedelta(days=days), amount, None, "olga", NOW)
    assert refused.value.code == code


def test_the_edges_of_a_promise_are_allowed():
    for days, amount in ((1, 1), (cases.MAX_PROMISE_DAYS, 10000)):
        case, _ = cases.record_promise(assigned(), an_invoice(), TODAY + timedelta(days=days), amount, None, "o", NOW)
        assert case.pending_promise.target == amount


def promise(amount=None, paid_before=2000, due=8000, on=date(2027, 1, 10)) -> cases.Promise:
    return cases.Promise(on=on, amount=amount, recorded_at=NOW, paid_before=paid_before, amount_due=due)


@given(paid=st.integers(min_value=2000, max_value=20000), amount=st.one_of(st.none(), st.integers(1, 8000)))
def test_a_promise_is_kept_by_what_came_in_after_it_was_made(paid, amount):
    p = promise(amount)
    target = amount if amount is not None else 8000
    assert p.is_kept(paid) == (paid - 2000 >= target)


def test_a_promise_is_broken_only_once_its_whole_day_is_over():
    p = promise()
    assert p.check_on == date(2027, 1, 11)
    assert not p.is_broken(2000, date(2027, 1, 10))  # its day is the customer's to the end
    assert p.is_broken(2000, date(2027, 1, 11))
    assert p.is_broken(9999, date(2027, 1, 11))  # 7999 of 8000 is not the promise
    assert not p.is_broken(10000, date(2027, 1, 11))


def test_settling_a_promise_hands_the_case_back_with_a_note():
    case, _ = cases.record_promise(assigned(), an_invoice(), TODAY + timedelta(days=5), 3000, None, "olga", NOW)
    later = NOW + timedelta(days=6)
    broken, event = cases.settle_promise(case, 2999, later)
    assert broken.status == "assigned" and broken.promises[0].status == "broken" and broken.promises[0].settled_at
    assert event.type == "collection_case.promise_broken" and event.data["paid"] == 2999
    assert broken.notes[-1].author == cases.SYSTEM and "broken" in broken.notes[-1].text
    kept, event = cases.settle_promise(case, 3000, later)
    assert kept.status == "assigned" and kept.promises[0].status == "kept"
    assert event.type == "collection_case.promise_kept"
    # and a new promise may follow
    again, _ = cases.record_promise(kept, an_invoice(), later.date() + timedelta(days=2), None, None, "olga", later)
    assert [p.status for p in again.promises] == ["kept", "pending"]


def test_resolving_ends_a_pending_promise_kept_only_if_paid():
    case, _ = cases.record_promise(assigned(), an_invoice(), TODAY + timedelta(days=5), None, None, "olga", NOW)
    assert cases.resolve(case, "paid", None, NOW, by="system")[0].promises[0].status == "kept"
    assert cases.resolve(case, "payment_plan", None, NOW)[0].promises[0].status == "broken"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("paid", "paid"), ("uncollectible", "written_off"), ("void", "other"), ("open", None)],
)
def test_the_invoice_says_how_its_case_resolves(status, expected):
    found = cases.resolution_of_invoice(an_invoice(status=status))
    assert (found[0] if found else None) == expected


# --- where a policy may escalate -------------------------------------------------------------------------------
def test_the_default_policy_does_not_escalate():
    assert not any("escalate" in s.actions for s in DEFAULT_POLICY.steps)


@pytest.mark.parametrize(
    "steps",
    [
        [{"day": 3, "actions": ["escalate"]}, {"day": 30, "actions": ["mark_uncollectible"]}],
        [{"day": 3, "actions": ["final_notice", "escalate"]}],
        [{"day": 0, "anchor": "first_failure", "actions": ["escalate"]}],  # no write-off to fall before
        [
            {"day": 0, "anchor": "first_failure", "actions": ["escalate"]},
            {"day": 9, "anchor": "first_failure", "actions": ["mark_uncollectible"]},
        ],
    ],
)
def test_escalate_may_sit_before_the_write_off(steps):
    DunningPolicy.model_validate({"steps": steps})


@pytest.mark.parametrize(
    ("steps", "why"),
    [
        ([{"day": 3, "actions": ["escalate", "mark_uncollectible"]}], "before the write-off"),
        ([{"day": 3, "actions": ["escalate"]}, {"day": 5, "actions": ["escalate"]}], "only one step"),
        (
            [
                {"day": 3, "anchor": "first_failure", "actions": ["escalate"]},
                {"day": 30, "actions": ["mark_uncollectible"]},
            ],
            "anchored as the write-off",
        ),
        ([{"day": 3, "actions": ["escalate", "escalate"]}], "each action once"),
    ],
)
def test_escalate_is_refused_where_it_could_not_work(steps, why):
    with pytest.raises(ValidationError, match=why):
        DunningPolicy.model_validate({"steps": steps})


def test_a_case_holds_notes_up_to_its_budget_and_then_refuses():
    case = opened()
    big = "票" * cases.MAX_NOTE  # 6,000 bytes in UTF-8
    while True:
        try:
            case, _ = cases.add_note(case, "olga", big, NOW)
        except Exception as refused:  # noqa: BLE001 - the one refusal is the point
            assert getattr(refused, "code", None) == "collection_case_notes_full"
            break
    size = sum(len(n.text.encode()) + len(n.author.encode()) for n in case.notes)
    assert cases.NOTES_BUDGET - 6100 < size <= cases.NOTES_BUDGET
    assert len(case.model_dump_json().encode()) < 400_000  # DynamoDB's item limit, with room for the rest


def test_a_resolved_case_refuses_before_it_looks_at_the_input():
    resolved = cases.resolve(opened(), "other", None, NOW)[0]
    for change in (
        lambda: cases.add_note(resolved, "olga", "", NOW),
        lambda: cases.record_promise(resolved, an_invoice(), TODAY, None, None, "olga", NOW),
        lambda: cases.resolve(resolved, "other", "x" * 5000, NOW),
    ):
        with pytest.raises(IllegalTransition):
            change()


def test_a_dispute_closing_during_a_promise_hands_dunning_back_to_the_promise():
    from billing.services.payments import _dunning_on_dispute

    progress = (
        an_invoice().dunning.pause("promise_to_pay", TODAY).model_copy(update={"promise_until": date(2027, 1, 9)})
    )
    disputed = an_invoice(dunning=_dunning_on_dispute(an_invoice(dunning=progress), True, NOW))
    assert disputed.dunning.paused == "dispute" and disputed.dunning.promise_until == date(2027, 1, 9)
    closed = _dunning_on_dispute(disputed, False, NOW + timedelta(days=2))
    assert closed.paused == "promise_to_pay" and closed.paused_since == TODAY  # the pause counts from the promise
    assert closed.attention_on == TODAY + timedelta(days=2)  # the worker looks at once and waits for the date
