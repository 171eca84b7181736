"""Add-ons: one plan of a subscription attached, requantified or removed on its own, the others kept as they are.

Each is ``Subscription.change`` with the items it leaves (so the one rule of changes holds: prorated in a paid
period, the lines waiting for the next invoice; a metered item removed is billed for its usage), recorded as
``subscription.item_added``, ``subscription.item_updated`` or ``subscription.item_removed`` with the items before
and after.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ConfigDict, Field

from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, NotFound
from billing.domain.models import DomainEvent
from billing.domain.proration import Granularity
from billing.domain.subscriptions import Subscription, SubscriptionItem
from billing.observability import business_event
from billing.services.subscriptions import save_change
from billing.services.unit import Claim, Context, retrying


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddItem(_Strict):
    plan_id: str = Field(min_length=1, max_length=64, validation_alias=AliasChoices("plan_id", "plan"))
    quantity: int = Field(default=1, ge=1, le=1_000_000, strict=True)
    proration: Granularity = "second"


class UpdateItem(_Strict):
    quantity: int = Field(ge=1, le=1_000_000, strict=True)
    proration: Granularity = "second"


def _snapshot(items: list[SubscriptionItem]) -> list[dict[str, Any]]:
    return [{"plan_id": i.plan_id, "quantity": i.quantity} for i in items]


def _save(
    ctx: Context,
    sub: Subscription,
    items: list[SubscriptionItem],
    granularity: Granularity,
    type_: str,
    plan_id: str,
    quantity: int | None,
    claim: Claim | None,
) -> Subscription:
    now = ctx.clock.now()
    changed, events = sub.change(items, now, granularity)
    proration = int(events[0].data.get("proration", 0))
    event = DomainEvent.new(
        type_,
        sub.tenant_id,
        "subscription",
        sub.id,
        now,
        plan_id=plan_id,
        quantity=quantity,
        proration=proration,
        changes={"items": {"before": _snapshot(sub.items), "after": _snapshot(changed.items)}},
    )
    saved = save_change(ctx, sub, changed, [event, *events[1:]], claim)
    business_event("SubscriptionChanged")
    return saved


def _item(sub: Subscription, plan_id: str) -> SubscriptionItem:
    found = next((i for i in sub.items if i.plan_id == plan_id), None)
    if found is None:
        raise NotFound("subscription_item_not_found", f"plan {plan_id} is not on subscription {sub.id}")
    return found


@retrying()
def add_item(
    ctx: Context, tenant_id: str, subscription_id: str, cmd: AddItem, claim: Claim | None = None
) -> Subscription:
    """Attach one plan (same interval, a price in the subscription's currency); prorated in a paid period."""
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    if any(i.plan_id == cmd.plan_id for i in sub.items):
        raise Conflict("item_exists", f"plan {cmd.plan_id} is on subscription {sub.id}: change its quantity")
    added = SubscriptionItem.of(ctx.repo.plan(tenant_id, cmd.plan_id), sub.currency, cmd.quantity)
    return _save(
        ctx, sub, [*sub.items, added], cmd.proration, "subscription.item_added", added.plan_id, added.quantity, claim
    )


@retrying()
def update_item(
    ctx: Context, tenant_id: str, subscription_id: str, plan_id: str, cmd: UpdateItem, claim: Claim | None = None
) -> Subscription:
    """Change one plan's quantity, the others kept; prorated in a paid period."""
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    current = _item(sub, plan_id)
    plan = ctx.repo.plan(tenant_id, plan_id)
    updated = SubscriptionItem.of(plan, sub.currency, cmd.quantity)
    items = [updated if i.plan_id == current.plan_id else i for i in sub.items]
    return _save(ctx, sub, items, cmd.proration, "subscription.item_updated", plan_id, cmd.quantity, claim)


@retrying()
def remove_item(
    ctx: Context,
    tenant_id: str,
    subscription_id: str,
    plan_id: str,
    granularity: Granularity = "second",
    claim: Claim | None = None,
) -> Subscription:
    """Remove one plan (never the last: cancel the subscription instead); its unused time credited in a paid
    period, a metered one billed for its usage on the next invoice."""
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    _item(sub, plan_id)
    if len(sub.items) == 1:
        raise Conflict("last_item", f"plan {plan_id} is subscription {sub.id}'s last: cancel the subscription")
    items = [i for i in sub.items if i.plan_id != plan_id]
    return _save(ctx, sub, items, granularity, "subscription.item_removed", plan_id, None, claim)
