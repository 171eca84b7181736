"""Moving the local stack's clock the way the tests reason about time: to the fire of a schedule after a moment the
stack itself reported (an invoice's dunning step day, a subscription's next billing), never by a fixed number of
days, so a story plays out the same from any start instant (BILLING_LOCAL_START)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.services.subscriptions import RUN_DELAY


def advance(shop: Any, **move: Any) -> dict[str, Any]:
    """``POST /_local/clock/advance`` with ``move`` (a duration, ``to`` or ``to_next``/``after``)."""
    answer = shop.post("/_local/clock/advance", move, timeout=900)
    assert answer.status_code == 200, answer.text
    return answer.json()


def now(shop: Any) -> datetime:
    return datetime.fromisoformat(shop.get("/_local/clock").json()["now"])


def through_dunning_day(shop: Any, day: str) -> dict[str, Any]:
    """Until the daily dunning sweep of ``day`` (a step's ``on``) has run, and what it fanned out is done."""
    return advance(shop, to_next="dunning-sweep", after=f"{day}T00:00:00Z")


def through_billing_of(shop: Any, next_billing_at: str) -> dict[str, Any]:
    """Until the hourly billing run that bills a subscription period starting at ``next_billing_at`` has run: the
    first run at or after the period's start plus the usage grace the run waits for."""
    due = datetime.fromisoformat(next_billing_at) + RUN_DELAY
    return advance(shop, to_next="billing-run", after=(due - timedelta(seconds=1)).isoformat())
