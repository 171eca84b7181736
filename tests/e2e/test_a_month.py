"""A month on the local stack started at the real time (BILLING_LOCAL_START moves its start), as a storefront would
live it (tests/e2e/stories.py). Every outcome is read back over HTTP and from the local SES."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.stories import a_month, assert_billed_each_period, assert_dunning_played_out


@pytest.fixture(scope="module")
def month(shop, stack, stripe_js) -> dict[str, Any]:
    return a_month(shop, stack, stripe_js)


def test_the_default_dunning_policy_plays_out_for_a_declining_card_in_russian(shop, month):
    assert_dunning_played_out(shop, month)


def test_the_subscription_is_billed_and_charged_for_each_period(shop, month):
    assert_billed_each_period(shop, month)
