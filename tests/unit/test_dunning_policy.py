from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from billing.domain.dunning import DEFAULT_POLICY, DunningPolicy, timeline


def test_the_default_policy_escalates_from_reminder_to_write_off():
    actions = [step.actions for step in DEFAULT_POLICY.steps]
    assert actions[0] == ["email_reminder", "retry_charge"]
    assert actions[-1] == ["mark_uncollectible"]
    assert [s.day for s in DEFAULT_POLICY.steps] == [1, 3, 7, 14, 30]


@pytest.mark.parametrize(
    "steps",
    [
        [{"day": 3, "actions": ["email_reminder"]}, {"day": 1, "actions": ["retry_charge"]}],  # out of order
        [{"day": 1, "actions": ["email_reminder"]}, {"day": 1, "actions": ["retry_charge"]}],  # two on a day
        [{"day": 1, "actions": ["mark_uncollectible"]}, {"day": 2, "actions": ["email_reminder"]}],  # not last
        [{"day": 1, "actions": ["email_reminder", "email_reminder"]}],
        [{"day": 1, "actions": []}],
        [{"day": -1, "actions": ["email_reminder"]}],
        [{"day": 1, "actions": ["call_the_police"]}],
        [],
    ],
)
def test_bad_policies_are_refused(steps):
    with pytest.raises(ValidationError):
        DunningPolicy.model_validate({"steps": steps})


def test_steps_anchored_on_first_failure_are_ordered_on_their_own():
    policy = DunningPolicy.model_validate(
        {
            "steps": [
                {"day": 0, "anchor": "first_failure", "actions": ["retry_charge"]},
                {"day": 2, "actions": ["email_reminder"]},
                {"day": 1, "anchor": "first_failure", "actions": ["retry_charge"]},
            ]
        }
    )
    assert len(policy.steps) == 3


def test_timeline_dates_each_step_from_its_anchor():
    policy = DunningPolicy.model_validate(
        {
            "steps": [
                {"day": 1, "actions": ["email_reminder"]},
                {"day": 2, "anchor": "first_failure", "actions": ["retry_charge"]},
            ]
        }
    )
    due = date(2026, 12, 31)
    planned = timeline(policy, due, None)
    assert planned[0].at == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
    assert planned[1].at is None  # no failure yet
    failed = timeline(policy, due, datetime(2026, 12, 30, 23, 59, tzinfo=UTC))
    assert failed[1].at == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
