"""Issue 12: dunning's own rules at the unit level (they were tested only through the worker): which steps are
due, pausing and resuming, payment plans, hard declines, the default policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from billing.domain import dunning
from billing.domain.dunning import (
    DEFAULT_POLICY,
    DunningPolicy,
    DunningProgress,
    DunningStep,
    Instalment,
    PaymentPlan,
    is_hard_decline,
    next_on,
    plan_instalments,
    timeline,
)

DUE = date(2026, 12, 1)
FAILED = datetime(2026, 12, 3, 17, 45, tzinfo=UTC)
POLICY = DunningPolicy(
    steps=[
        DunningStep(day=0, actions=["email_reminder"]),
        DunningStep(day=2, anchor="first_failure", actions=["retry_charge"]),
        DunningStep(day=5, actions=["final_notice", "pause_service"]),
    ]
)


def test_the_default_policy_is_exactly_this():
    assert [(s.day, s.anchor, s.actions) for s in DEFAULT_POLICY.steps] == [
        (1, "due_date", ["email_reminder", "retry_charge"]),
        (3, "due_date", ["retry_charge", "email_reminder"]),
        (7, "due_date", ["retry_charge", "final_notice"]),
        (14, "due_date", ["pause_service"]),
        (30, "due_date", ["mark_uncollectible"]),
    ]
    assert dunning.STEP_TIME.isoformat() == "09:00:00"


def test_a_step_falls_at_nine_utc_on_its_day_and_a_pause_moves_it_on():
    planned = timeline(POLICY, DUE, FAILED, shift_days=2)
    assert [(p.index, p.id, p.at) for p in planned] == [
        (0, "due_date:0", datetime(2026, 12, 3, 9, tzinfo=UTC)),
        (1, "first_failure:2", datetime(2026, 12, 7, 9, tzinfo=UTC)),  # the failure's day, not its time
        (2, "due_date:5", datetime(2026, 12, 8, 9, tzinfo=UTC)),
    ]
    assert timeline(POLICY, DUE, None)[1].at is None  # no failure yet: not planned


def test_due_steps_are_those_not_done_whose_day_has_come_in_the_order_of_their_days():
    progress = DunningProgress(first_failure_at=FAILED)
    assert [p.id for p in progress.due_steps(POLICY, DUE, date(2026, 11, 30))] == []
    assert [p.id for p in progress.due_steps(POLICY, DUE, DUE)] == ["due_date:0"]
    assert [p.id for p in progress.due_steps(POLICY, DUE, date(2026, 12, 6))] == [
        "due_date:0",
        "first_failure:2",  # 5 December
        "due_date:5",  # 6 December
    ]
    done = progress.model_copy(update={"steps_done": ["due_date:0", 2]})  # an id, and a position recorded before
    assert [p.id for p in done.due_steps(POLICY, DUE, date(2026, 12, 6))] == ["first_failure:2"]
    assert [p.id for p in done.upcoming(POLICY, DUE, date(2026, 12, 4))] == ["first_failure:2"]
    assert [p.id for p in progress.upcoming(POLICY, DUE, DUE)] == ["first_failure:2", "due_date:5"]


def test_steps_not_yet_run_come_later_by_the_days_dunning_was_paused():
    shifted = DunningProgress(first_failure_at=FAILED, shift_days=2)
    assert [p.id for p in shifted.due_steps(POLICY, DUE, DUE)] == []  # due_date:0 moved to 3 December
    assert [p.id for p in shifted.due_steps(POLICY, DUE, date(2026, 12, 7))] == ["due_date:0", "first_failure:2"]
    assert [(p.id, p.at.date()) for p in shifted.upcoming(POLICY, DUE, date(2026, 12, 7))] == [
        ("due_date:5", date(2026, 12, 8))
    ]


def test_next_on_is_the_first_step_that_takes_the_action():
    planned = timeline(POLICY, DUE, FAILED)
    assert next_on(planned, "retry_charge") == date(2026, 12, 5)
    assert next_on(planned, "pause_service") == date(2026, 12, 6)
    assert next_on(planned, "mark_uncollectible") is None
    assert next_on(timeline(POLICY, DUE, None), "retry_charge") is None


def test_a_pause_counts_its_days_once_resumed():
    progress = DunningProgress(shift_days=1)
    paused = progress.pause("dispute", date(2026, 12, 5))
    assert (paused.paused, paused.paused_since) == ("dispute", date(2026, 12, 5))
    again = paused.pause("payment_plan", date(2026, 12, 7))  # a second reason keeps the first day
    assert (again.paused, again.paused_since) == ("payment_plan", date(2026, 12, 5))
    resumed = again.resume(date(2026, 12, 9))
    assert (resumed.paused, resumed.paused_since, resumed.shift_days) == (None, None, 5)
    assert progress.resume(date(2026, 12, 9)) is progress


def test_a_pause_whose_first_day_is_unknown_moves_nothing_when_resumed():
    paused = DunningProgress(paused="dispute", shift_days=1)  # recorded without its first day
    assert paused.resume(date(2026, 12, 9)).shift_days == 1


@pytest.mark.parametrize("code", ["stolen_card", "lost_card", "do_not_try_again", "expired_card", "no_payment_method"])
def test_hard_declines_are_not_retried(code):
    assert is_hard_decline(code)


@pytest.mark.parametrize("code", ["insufficient_funds", "card_declined", "generic_decline", "processing_error", None])
def test_soft_declines_are(code):
    assert not is_hard_decline(code)


def test_the_hard_declines_are_exactly_these():
    assert dunning.HARD_DECLINES == set(
        """do_not_try_again fraudulent lost_card stolen_card pickup_card restricted_card security_violation
        merchant_blacklist invalid_account account_closed card_not_supported currency_not_supported expired_card
        incorrect_number invalid_number new_account_information_available revocation_of_all_authorizations
        revocation_of_authorization stop_payment_order transaction_not_allowed no_payment_method""".split()
    )


def plan(*instalments: tuple[int, int], paid_before: int = 1000) -> PaymentPlan:
    return PaymentPlan(
        id="plan_1",
        created_at=FAILED,
        paid_before=paid_before,
        instalments=[Instalment(due_on=DUE + timedelta(days=d), amount=a) for d, a in instalments],
    )


def test_a_payment_plan_counts_payments_made_after_it():
    agreed = plan((0, 300), (10, 700))
    assert agreed.required_by(DUE) == 0 and agreed.required_by(DUE + timedelta(days=1)) == 300
    assert agreed.required_by(DUE + timedelta(days=11)) == 1000
    assert agreed.due_today(1000, DUE) == 300 and agreed.due_today(1200, DUE) == 100
    assert agreed.due_today(1400, DUE) == 0 and agreed.due_today(1300, DUE + timedelta(days=10)) == 700
    assert not agreed.is_missed(1000, DUE)  # the instalment's whole day is still in time
    assert agreed.is_missed(1299, DUE + timedelta(days=1)) and not agreed.is_missed(1300, DUE + timedelta(days=1))
    assert agreed.next_check_on(DUE - timedelta(days=1)) == DUE
    assert agreed.next_check_on(DUE) == DUE + timedelta(days=1)
    assert agreed.next_check_on(DUE + timedelta(days=1)) == DUE + timedelta(days=10)
    assert agreed.next_check_on(DUE + timedelta(days=11)) is None


def test_a_proposed_plan_pays_exactly_the_amount_due_in_order_within_a_year():
    today = DUE

    def days(*ds, amounts=None):
        amounts = amounts or [1000 // len(ds)] * len(ds)
        return [Instalment(due_on=today + timedelta(days=d), amount=a) for d, a in zip(ds, amounts, strict=True)]

    ok = days(0, 366, amounts=[400, 600])
    assert plan_instalments(1000, ok, today) == ok
    deferred = days(30, amounts=[1000])  # one instalment: the amount due, later
    assert plan_instalments(1000, deferred, today) == deferred
    for bad, rule in [
        ([], "1 to 24"),
        (days(*range(25), amounts=[40] * 25), "1 to 24"),
        (days(5, 3, amounts=[500, 500]), "in order"),
        (days(3, 3, amounts=[500, 500]), "one a day"),
        (days(-1, 3, amounts=[500, 500]), "between today"),
        (days(0, 367, amounts=[500, 500]), "between today"),
        (days(0, 10, 367, amounts=[300, 300, 400]), "between today"),  # the last one counts, not the second
        (days(0, 3, amounts=[500, 499]), "add up to 999"),
    ]:
        with pytest.raises(ValueError, match=rule):
            plan_instalments(1000, bad, today)
    with pytest.raises(ValueError) as refused:
        plan_instalments(1000, days(5, 3, amounts=[500, 500]), today)
    assert str(refused.value) == "instalments must be in order of date, one a day"
    assert dunning.MAX_INSTALMENTS == 24 and dunning.MAX_PLAN_DAYS == 366
    assert plan_instalments(1000, days(*range(24), amounts=[40] * 23 + [80]), today)


@pytest.mark.parametrize(
    "steps",
    [
        [{"day": 366, "actions": ["email_reminder"]}],
        [{"day": "3", "actions": ["email_reminder"]}],  # a day is a whole number, not text
        [{"day": 3.0, "actions": ["email_reminder"]}],
        [{"day": 1, "actions": []}],
        [{"day": 1, "actions": ["email_reminder"] * 6}],
        [{"day": 1, "actions": ["email_reminder", "email_reminder"]}],
        [{"day": 1, "actions": ["email_reminder"], "extra": True}],
        [{"day": i, "actions": ["email_reminder"]} for i in range(21)],
        [],
    ],
)
def test_a_policy_keeps_its_limits(steps):
    with pytest.raises(ValueError):
        DunningPolicy.model_validate({"steps": steps})


def test_a_step_lists_at_most_five_actions():
    with pytest.raises(ValidationError) as refused:
        DunningStep.model_validate({"day": 1, "actions": ["email_reminder", "retry_charge"] * 3})
    assert [e["type"] for e in refused.value.errors()] == ["too_long"]  # the limit, before anything else


def test_a_policy_at_its_limits_is_accepted():
    assert DunningPolicy.model_validate({"steps": [{"day": i, "actions": ["email_reminder"]} for i in range(20)]})
    assert len(DunningPolicy.model_validate({"steps": [{"day": 0, "actions": ["mark_uncollectible"]}]}).steps) == 1
    step = DunningStep.model_validate(
        {
            "day": 365,
            "actions": ["email_reminder", "retry_charge", "final_notice", "pause_service", "mark_uncollectible"],
        }
    )
    assert step.anchor == "due_date" and len(step.actions) == 5
