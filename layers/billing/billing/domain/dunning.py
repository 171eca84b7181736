"""Dunning policy: a tenant's ordered steps for chasing an unpaid invoice, and the timeline they give an invoice.

A step is a day offset from an anchor (the invoice's due date, or its first failed charge) and the actions taken
that day. Pure: the timeline is computed from the policy, the invoice and the time of its first failure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["email_reminder", "retry_charge", "final_notice", "pause_service", "mark_uncollectible"]
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
        return self


DEFAULT_POLICY = DunningPolicy(
    steps=[
        DunningStep(day=1, actions=["email_reminder", "retry_charge"]),
        DunningStep(day=3, actions=["retry_charge", "email_reminder"]),
        DunningStep(day=7, actions=["retry_charge", "final_notice"]),
        DunningStep(day=14, actions=["pause_service"]),
        DunningStep(day=30, actions=["mark_uncollectible"]),
    ]
)


class PlannedStep(BaseModel):
    index: int
    at: datetime | None  # None: anchored on a first failure that has not happened
    actions: list[Action]
    anchor: Anchor
    day: int


def timeline(policy: DunningPolicy, due_date: date, first_failure_at: datetime | None) -> list[PlannedStep]:
    """When each step of ``policy`` falls for an invoice due on ``due_date``, in policy order."""
    due = datetime.combine(due_date, STEP_TIME, tzinfo=UTC)
    planned = []
    for index, step in enumerate(policy.steps):
        if step.anchor == "due_date":
            at: datetime | None = due + timedelta(days=step.day)
        elif first_failure_at is not None:
            at = datetime.combine(first_failure_at.date(), STEP_TIME, tzinfo=UTC) + timedelta(days=step.day)
        else:
            at = None
        planned.append(PlannedStep(index=index, at=at, actions=step.actions, anchor=step.anchor, day=step.day))
    return planned
