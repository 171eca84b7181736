"""Dunning policy: a tenant's ordered steps for chasing an unpaid invoice, and the timeline they give an invoice.

A step is a day offset from an anchor (the invoice's due date, or its first failed charge) and the actions taken
that day. Pure: the timeline is computed from the policy, the invoice and the time of its first failure.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from billing.domain.base_model import BaseModel

Action = Literal["email_reminder", "retry_charge", "final_notice", "pause_service", "escalate", "mark_uncollectible"]
Anchor = Literal["due_date", "first_failure"]
# A step's actions run at this time of day (UTC) on its day.
STEP_TIME = time(9, 0)


class DunningStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: int = Field(ge=0, le=365, strict=True, description="days after the anchor")
    anchor: Anchor = "due_date"
    actions: list[Action] = Field(min_length=1, max_length=5)

    @model_validator(mode="after")
    def _distinct(self) -> DunningStep:
        if len(set(self.actions)) != len(self.actions):
            raise ValueError("a step lists each action once")
        return self


class DunningPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[DunningStep] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> DunningPolicy:
        for anchor in ("due_date", "first_failure"):
            days = [s.day for s in self.steps if s.anchor == anchor]
            if days != sorted(set(days)):
                raise ValueError(f"steps anchored on {anchor} must be in order of day, one step a day")
        finals = [i for i, s in enumerate(self.steps) if "mark_uncollectible" in s.actions]
        if finals and finals != [len(self.steps) - 1]:
            raise ValueError("mark_uncollectible ends a policy: only its last step may have it")
        escalations = [i for i, s in enumerate(self.steps) if "escalate" in s.actions]
        if len(escalations) > 1:
            raise ValueError("escalate opens the invoice's one collection case: only one step may have it")
        if escalations and "mark_uncollectible" in self.steps[escalations[0]].actions:
            raise ValueError(
                "escalate comes before the write-off: a case opened as the invoice is written off is resolved at once"
            )
        if escalations and finals and self.steps[escalations[0]].anchor != self.steps[finals[0]].anchor:
            # on one anchor the order of days puts it before the write-off; across anchors nothing would
            raise ValueError("escalate is anchored as the write-off step is, so that it falls before it")
        return self


@functools.cache
def default_policy() -> DunningPolicy:
    """The policy a tenant starts with (``DEFAULT_POLICY``). Built at first use, not at import: building a model
    instance builds its deferred pydantic schema (billing.domain.base_model)."""
    return DunningPolicy(
        steps=[
            DunningStep(day=1, actions=["email_reminder", "retry_charge"]),
            DunningStep(day=3, actions=["retry_charge", "email_reminder"]),
            DunningStep(day=7, actions=["retry_charge", "final_notice"]),
            DunningStep(day=14, actions=["pause_service"]),
            DunningStep(day=30, actions=["mark_uncollectible"]),
        ]
    )


def __getattr__(name: str) -> DunningPolicy:
    if name == "DEFAULT_POLICY":
        return default_policy()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class PlannedStep(BaseModel):
    index: int
    at: datetime | None  # None: anchored on a first failure that has not happened
    actions: list[Action]
    anchor: Anchor
    day: int

    @property
    def id(self) -> str:
        """What the step is known by: its anchor and day (one step a day per anchor), never its position in the
        policy, so that a policy edited while invoices are chased neither reruns nor skips their steps."""
        return f"{self.anchor}:{self.day}"


def timeline(
    policy: DunningPolicy, due_date: date, first_failure_at: datetime | None, shift_days: int = 0
) -> list[PlannedStep]:
    """When each step of ``policy`` falls for an invoice due on ``due_date``, in policy order. ``shift_days`` is
    the time dunning spent paused (a dispute, a payment plan): the steps not yet run move on by that much."""
    shift = timedelta(days=shift_days)
    due = datetime.combine(due_date, STEP_TIME, tzinfo=UTC)
    planned = []
    for index, step in enumerate(policy.steps):
        if step.anchor == "due_date":
            at: datetime | None = due + timedelta(days=step.day) + shift
        elif first_failure_at is not None:
            at = datetime.combine(first_failure_at.date(), STEP_TIME, tzinfo=UTC) + timedelta(days=step.day) + shift
        else:
            at = None
        planned.append(PlannedStep(index=index, at=at, actions=step.actions, anchor=step.anchor, day=step.day))
    return planned


# Stripe decline codes that another try of the same card cannot turn into a payment: the card is reported lost or
# stolen, the issuer suspects fraud or says never to retry, or the card/account cannot be charged at all
# (https://docs.stripe.com/declines/codes). "no_payment_method" is ours: there is no card to retry.
HARD_DECLINES = frozenset(
    """do_not_try_again fraudulent lost_card stolen_card pickup_card restricted_card security_violation
    merchant_blacklist invalid_account account_closed card_not_supported currency_not_supported expired_card
    incorrect_number invalid_number new_account_information_available revocation_of_all_authorizations
    revocation_of_authorization stop_payment_order transaction_not_allowed no_payment_method""".split()
)


def is_hard_decline(decline_code: str | None) -> bool:
    return decline_code in HARD_DECLINES


class Instalment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_on: date
    amount: int = Field(gt=0, strict=True)


PlanStatus = Literal["active", "kept", "missed"]


class PaymentPlan(BaseModel):
    """An agreement to pay the amount due in instalments (one instalment: a deferred due date). Dunning pauses
    while it is kept; an instalment not paid by the end of its day breaks it and dunning resumes."""

    id: str
    created_at: datetime
    instalments: list[Instalment]
    paid_before: int  # the invoice's amount_paid when the plan was agreed: what counts are payments after it
    status: PlanStatus = "active"

    def required_by(self, day: date) -> int:
        """What the plan says must have been paid before ``day`` (instalments due on earlier days)."""
        return sum(i.amount for i in self.instalments if i.due_on < day)

    def is_missed(self, amount_paid: int, today: date) -> bool:
        return amount_paid - self.paid_before < self.required_by(today)

    def due_today(self, amount_paid: int, today: date) -> int:
        """What is still owed on instalments due up to and including ``today``."""
        owed = sum(i.amount for i in self.instalments if i.due_on <= today)
        return max(0, owed - (amount_paid - self.paid_before))

    def next_check_on(self, today: date) -> date | None:
        """The next day the plan needs looking at: an instalment's day (to charge it) or the day after (to see
        it was paid)."""
        days = {d for i in self.instalments for d in (i.due_on, i.due_on + timedelta(days=1))}
        later = sorted(d for d in days if d > today)
        return later[0] if later else None


MAX_INSTALMENTS = 24
MAX_PLAN_DAYS = 366


def plan_instalments(amount_due: int, instalments: list[Instalment], today: date) -> list[Instalment]:
    """Check a proposed plan against the amount due: it pays exactly the amount due, on days from today on,
    one instalment a day in order, within a year. Raises ``ValueError`` with the rule broken."""
    if not 1 <= len(instalments) <= MAX_INSTALMENTS:
        raise ValueError(f"a plan has 1 to {MAX_INSTALMENTS} instalments")
    days = [i.due_on for i in instalments]
    if days != sorted(set(days)):
        raise ValueError("instalments must be in order of date, one a day")
    if days[0] < today or days[-1] > today + timedelta(days=MAX_PLAN_DAYS):
        raise ValueError(f"instalments fall between today ({today}) and a year from now")
    total = sum(i.amount for i in instalments)
    if total != amount_due:
        raise ValueError(f"instalments add up to {total}, the amount due is {amount_due}")
    return instalments


PauseReason = Literal["dispute", "payment_plan", "promise_to_pay"]


class DunningProgress(BaseModel):
    """Where an invoice is in its tenant's dunning policy. ``attention_on`` is the day the invoice next needs the
    dunning worker (the sweep finds it through an index on that day); None takes it off the index."""

    # The ids of the steps run (``PlannedStep.id``); a number is a position, as invoices chased before step ids
    # recorded them (read against the policy as it is).
    steps_done: list[str | int] = Field(default_factory=list)
    attention_on: date | None = None
    first_failure_at: datetime | None = None
    paused: PauseReason | None = None
    paused_since: date | None = None
    shift_days: int = 0
    plan: PaymentPlan | None = None
    # the invoice's collection case, once a step escalated it (billing.domain.collections)
    case_id: str | None = None
    # while paused for a promise to pay: its date (the worker looks again the day after)
    promise_until: date | None = None

    def pause(self, reason: PauseReason, today: date) -> DunningProgress:
        if self.paused:
            return self.model_copy(update={"paused": reason})
        return self.model_copy(update={"paused": reason, "paused_since": today})

    def resume(self, today: date) -> DunningProgress:
        if not self.paused:
            return self
        paused_days = (today - self.paused_since).days if self.paused_since else 0
        return self.model_copy(
            update={"paused": None, "paused_since": None, "shift_days": self.shift_days + paused_days}
        )

    def done(self, step: PlannedStep) -> bool:
        return step.id in self.steps_done or step.index in self.steps_done

    def due_steps(self, policy: DunningPolicy, due_date: date, today: date) -> list[PlannedStep]:
        """The steps not yet run whose day has come, in the order of their days."""
        planned = timeline(policy, due_date, self.first_failure_at, self.shift_days)
        due = [p for p in planned if not self.done(p) and p.at is not None and p.at.date() <= today]
        return sorted(due, key=lambda p: (p.at, p.index))

    def upcoming(self, policy: DunningPolicy, due_date: date, today: date) -> list[PlannedStep]:
        """The steps not yet run that fall after today, in the order of their days."""
        planned = timeline(policy, due_date, self.first_failure_at, self.shift_days)
        later = [p for p in planned if not self.done(p) and p.at is not None and p.at.date() > today]
        return sorted(later, key=lambda p: (p.at, p.index))


def next_on(steps: list[PlannedStep], action: Action) -> date | None:
    """The day of the first of ``steps`` that takes ``action``."""
    return next((p.at.date() for p in steps if action in p.actions and p.at is not None), None)
