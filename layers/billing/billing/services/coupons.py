"""Coupons and promotion codes, and the discounts they apply to orders, subscriptions and customers.

A redemption is one transaction with the change it belongs to (the order placed, the subscription created, the
discount put on a subscription or a customer): the coupon's, the promotion code's and the customer's counters move
by conditional ``ADD`` (exact under any concurrency: a counter at its limit refuses, with its own problem), and the
discount is written in the partition of what it applies to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from billing.adapters import keys
from billing.adapters.coupon_store import CouponStore
from billing.adapters.dynamodb import Transaction
from billing.domain.base_model import BaseModel
from billing.domain.coupons import (
    Coupon,
    Discount,
    Duration,
    PromotionCode,
    Restrictions,
    check_applicable,
    normalize_code,
)
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.models import Customer
from billing.observability import business_event
from billing.services.fields import Currency, Percent
from billing.services.unit import Claim, Context, remember, retrying

MetadataKey = Annotated[str, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[str, Field(max_length=500)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)]
PlanRef = Annotated[str, Field(min_length=1, max_length=64)]
MinorAmount = Annotated[int, Field(ge=1, le=99_999_999_999, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateCoupon(_Strict):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="your own id (else co_…)")
    name: str = Field(min_length=1, max_length=200, examples=["Launch 20 % off"])
    percent_off: Percent | None = Field(default=None, gt=0, le=100, decimal_places=2, examples=["20"])
    amount_off: dict[Currency, MinorAmount] | None = Field(
        default=None, max_length=50, description="per currency, in its minor unit", examples=[{"usd": 500}]
    )
    duration: Duration
    duration_in_periods: int | None = Field(default=None, ge=1, le=120, strict=True)
    applies_to_plans: list[PlanRef] | None = Field(default=None, min_length=1, max_length=100)
    max_redemptions: int | None = Field(default=None, ge=1, le=10**9, strict=True)
    redeem_by: AwareDatetime | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> CreateCoupon:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        if (self.duration == "repeating") != (self.duration_in_periods is not None):
            raise ValueError("duration_in_periods goes with duration repeating, and only with it")
        return self


class UpdateCoupon(_Strict):
    """Only the name and metadata of a coupon change (metadata merges key by key; ``null`` deletes a key)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[MetadataKey, MetadataValue | None] | None = Field(default=None, max_length=50)


class RestrictionsIn(_Strict):
    first_time_transaction: bool = False
    minimum_amount: dict[Currency, MinorAmount] | None = Field(default=None, max_length=50)
    per_customer_limit: int | None = Field(default=None, ge=1, le=10**6, strict=True)


class CreatePromotionCode(_Strict):
    coupon_id: str = Field(min_length=1, max_length=64, description="the coupon it redeems")
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{3,64}$", description="what customers type; unique, any case")
    active: bool = True
    expires_at: AwareDatetime | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=10**9, strict=True)
    restrictions: RestrictionsIn = Field(default_factory=RestrictionsIn)
    metadata: Metadata = Field(default_factory=dict)


class UpdatePromotionCode(_Strict):
    active: bool


class ApplyDiscount(_Strict):
    """A coupon (its id) or a promotion code (the code customers type, any case, or its ``promo_…`` id)."""

    coupon: str | None = Field(default=None, min_length=1, max_length=64)
    promotion_code: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> ApplyDiscount:
        if (self.coupon is None) == (self.promotion_code is None):
            raise ValueError("give exactly one of coupon and promotion_code")
        return self


class CouponResource(Coupon):
    valid: bool = Field(description="whether it can be redeemed now (active, before redeem_by, redemptions left)")


def store(ctx: Context) -> CouponStore:
    return CouponStore(ctx.repo.store)


def _resource(ctx: Context, coupon: Coupon) -> CouponResource:
    return CouponResource(**dict(coupon), valid=coupon.valid_at(ctx.clock.now()))


def _commit(ctx: Context, tx: Transaction, tenant_id: str, claim: Claim | None, body: BaseModel) -> None:
    remember(ctx, tx, tenant_id, claim, body.model_dump(mode="json"))
    ctx.repo.commit(tx)


# --- coupons ---------------------------------------------------------------------------------------------------
@retrying()
def create_coupon(ctx: Context, tenant_id: str, cmd: CreateCoupon, claim: Claim | None = None) -> CouponResource:
    now = ctx.clock.now()
    coupon, events = Coupon.create(tenant_id, now, **cmd.model_dump(exclude_none=True))
    tx = ctx.repo.transaction()
    saved = store(ctx).save_coupon(tx, coupon)
    for event in events:
        ctx.repo.add_event(tx, keys.coupon(tenant_id, coupon.id), event)
    answer = _resource(ctx, saved)
    _commit(ctx, tx, tenant_id, claim, answer)
    business_event("CouponCreated")
    return answer


def get_coupon(ctx: Context, tenant_id: str, coupon_id: str) -> CouponResource:
    return _resource(ctx, store(ctx).coupon(tenant_id, coupon_id))


def list_coupons(
    ctx: Context, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[CouponResource], str | None]:
    found, next_cursor = store(ctx).coupons(tenant_id, limit, cursor)
    return [_resource(ctx, c) for c in found], next_cursor


def _change_coupon(ctx: Context, tenant_id: str, coupon_id: str, change: Any, claim: Claim | None) -> CouponResource:
    coupon = store(ctx).coupon(tenant_id, coupon_id)
    changed, events = change(coupon)
    tx = ctx.repo.transaction()
    saved = store(ctx).save_coupon(tx, changed) if events else coupon
    for event in events:
        ctx.repo.add_event(tx, keys.coupon(tenant_id, coupon.id), event)
    answer = _resource(ctx, saved)
    _commit(ctx, tx, tenant_id, claim, answer)
    return answer


@retrying()
def update_coupon(
    ctx: Context, tenant_id: str, coupon_id: str, cmd: UpdateCoupon, claim: Claim | None = None
) -> CouponResource:
    now = ctx.clock.now()
    return _change_coupon(
        ctx, tenant_id, coupon_id, lambda c: c.update(now, name=cmd.name, metadata=cmd.metadata), claim
    )


@retrying()
def archive_coupon(ctx: Context, tenant_id: str, coupon_id: str, claim: Claim | None = None) -> CouponResource:
    now = ctx.clock.now()
    return _change_coupon(ctx, tenant_id, coupon_id, lambda c: c.archive(now), claim)


# --- promotion codes -------------------------------------------------------------------------------------------
@retrying()
def create_promotion_code(
    ctx: Context, tenant_id: str, cmd: CreatePromotionCode, claim: Claim | None = None
) -> PromotionCode:
    coupons = store(ctx)
    coupon = coupons.coupon(tenant_id, cmd.coupon_id)
    if owner := coupons.promotion_code_id_by_code(tenant_id, normalize_code(cmd.code)):
        raise_taken(cmd.code, owner)
    promo, events = PromotionCode.create(
        tenant_id,
        coupon,
        ctx.clock.now(),
        code=cmd.code,
        active=cmd.active,
        expires_at=cmd.expires_at,
        max_redemptions=cmd.max_redemptions,
        restrictions=Restrictions(**cmd.restrictions.model_dump()),
        metadata=cmd.metadata,
    )
    tx = ctx.repo.transaction()
    saved = coupons.save_promotion_code(tx, promo)
    for event in events:
        ctx.repo.add_event(tx, keys.promotion_code(tenant_id, promo.id), event)
    _commit(ctx, tx, tenant_id, claim, saved)
    business_event("PromotionCodeCreated")
    return saved


def raise_taken(code: str, owner: str) -> None:
    raise Conflict("promotion_code_exists", f"the code {code} is taken (any case)", existing_id=owner)


def get_promotion_code(ctx: Context, tenant_id: str, promotion_code_id: str) -> PromotionCode:
    return store(ctx).promotion_code(tenant_id, promotion_code_id)


def find_promotion_code(ctx: Context, tenant_id: str, code: str) -> PromotionCode:
    """The promotion code whose text is ``code``, in any case (one read of its guard, one of the code)."""
    try:
        normalized = normalize_code(code)
    except ValidationFailed:
        raise NotFound("promotion_code_not_found", f"no promotion code {code}") from None
    owner = store(ctx).promotion_code_id_by_code(tenant_id, normalized)
    if owner is None:
        raise NotFound("promotion_code_not_found", f"no promotion code {code}")
    return store(ctx).promotion_code(tenant_id, owner)


def list_promotion_codes(
    ctx: Context, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[PromotionCode], str | None]:
    return store(ctx).promotion_codes(tenant_id, limit, cursor)


@retrying()
def update_promotion_code(
    ctx: Context, tenant_id: str, promotion_code_id: str, cmd: UpdatePromotionCode, claim: Claim | None = None
) -> PromotionCode:
    promo = store(ctx).promotion_code(tenant_id, promotion_code_id)
    changed, events = promo.set_active(cmd.active, ctx.clock.now())
    tx = ctx.repo.transaction()
    saved = store(ctx).save_promotion_code(tx, changed) if events else promo
    for event in events:
        ctx.repo.add_event(tx, keys.promotion_code(tenant_id, promo.id), event)
    _commit(ctx, tx, tenant_id, claim, saved)
    return saved


# --- redemption ------------------------------------------------------------------------------------------------
def _promotion_code(ctx: Context, tenant_id: str, ref: str, customer_id: str) -> tuple[PromotionCode, int]:
    coupons = store(ctx)
    owner = None
    try:
        owner = coupons.promotion_code_id_by_code(tenant_id, normalize_code(ref))
    except ValidationFailed:
        pass
    if owner is None and ref.startswith("promo_"):
        owner = ref
    if owner is None:
        raise NotFound("promotion_code_not_found", f"no promotion code {ref}")
    return coupons.promotion_code_and_customer(tenant_id, owner, customer_id)


def redeem(
    ctx: Context,
    tx: Transaction,
    customer: Customer,
    ref: ApplyDiscount,
    *,
    target_key: dict[str, str],
    subscription_id: str | None = None,
    order_id: str | None = None,
    amount: int | None = None,
    plan_ids: list[str | None] | None = None,
) -> Discount:
    """Redeem a coupon or promotion code for ``customer`` inside ``tx``: every refusal checked, the counters
    moved (exactly, by conditional ``ADD``), ``discount.applied`` written in the partition of ``target_key``. The
    caller writes the discount itself (with ``CouponStore.save_discount``) in the same ``tx``."""
    now = ctx.clock.now()
    tenant_id = customer.tenant_id
    promo = None
    mine = 0
    if ref.promotion_code is not None:
        promo, mine = _promotion_code(ctx, tenant_id, ref.promotion_code, customer.id)
        coupon_id = promo.coupon_id
    else:
        coupon_id = ref.coupon or ""
    coupon = store(ctx).coupon(tenant_id, coupon_id)
    coupon.check_redeemable(now, customer.currency)
    if promo is not None:
        first_time = promo.restrictions.first_time_transaction
        has_invoice = first_time and ctx.repo.customer_has_invoice(tenant_id, customer.id)
        promo.check_redeemable(
            now, customer.currency, has_invoice=has_invoice, amount=amount, customer_redemptions=mine
        )
    if plan_ids is not None:
        check_applicable(coupon.terms(), plan_ids)
    discount = Discount.apply(
        coupon,
        customer.id,
        now,
        subscription_id=subscription_id,
        order_id=order_id,
        promotion_code_id=promo.id if promo else None,
    )
    store(ctx).count_redemption(tx, coupon, promo, customer.id)
    ctx.repo.add_event(
        tx,
        target_key,
        discount._event(
            "discount.applied",
            now,
            target=discount.target,
            start=discount.start.isoformat(),
            end=discount.end.isoformat() if discount.end else None,
        ),
    )
    return discount


def replace(
    ctx: Context, tx: Transaction, target_key: dict[str, str], new: Discount | None, now: datetime
) -> Discount | None:
    """Put ``new`` on the object at ``target_key`` in ``tx``, the discount there before removed (its event)."""
    old, version = store(ctx).discount(target_key)
    if old is not None and old.in_effect(now) and (new is None or old.id != new.id):
        ctx.repo.add_event(
            tx, target_key, old._event("discount.removed", now, changes={"discount": {"before": old.id, "after": None}})
        )
    store(ctx).save_discount(tx, target_key, new, version)
    return old


@retrying()
def apply_to_subscription(
    ctx: Context, tenant_id: str, subscription_id: str, cmd: ApplyDiscount, claim: Claim | None = None
) -> Discount:
    """Put a discount on a subscription (replacing its own one): the invoices of periods that start from now on."""
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    if sub.status == "canceled":
        raise Conflict("subscription_canceled", f"subscription {sub.id} is canceled")
    customer = ctx.repo.customer(tenant_id, sub.customer_id)
    key = keys.subscription(tenant_id, sub.id)
    tx = ctx.repo.transaction()
    discount = redeem(
        ctx, tx, customer, cmd, target_key=key, subscription_id=sub.id, plan_ids=[i.plan_id for i in sub.items]
    )
    replace(ctx, tx, key, discount, ctx.clock.now())
    tx.check_version(key, sub.version)  # not canceled or changed in between
    _commit(ctx, tx, tenant_id, claim, discount)
    business_event("DiscountApplied")
    return discount


@retrying()
def apply_to_customer(
    ctx: Context, tenant_id: str, customer_id: str, cmd: ApplyDiscount, claim: Claim | None = None
) -> Discount:
    """Put a discount on a customer: all their subscriptions and orders that have none of their own."""
    customer = ctx.repo.customer(tenant_id, customer_id).ensure_active()
    key = keys.customer(tenant_id, customer.id)
    tx = ctx.repo.transaction()
    discount = redeem(ctx, tx, customer, cmd, target_key=key)
    replace(ctx, tx, key, discount, ctx.clock.now())
    _commit(ctx, tx, tenant_id, claim, discount)
    business_event("DiscountApplied")
    return discount


class Removed(BaseModel):
    object: Literal["discount"] = "discount"
    deleted: bool
    discount: Discount | None = Field(description="the discount removed (null: there was none)")


def _remove(ctx: Context, tenant_id: str, key: dict[str, str], claim: Claim | None) -> Removed:
    now = ctx.clock.now()
    old, version = store(ctx).discount(key)
    tx = ctx.repo.transaction()
    if old is None or not old.in_effect(now):
        answer = Removed(deleted=False, discount=None)
        _commit(ctx, tx, tenant_id, claim, answer)
        return answer
    removed = old.removed(now)
    store(ctx).save_discount(tx, key, removed, version)
    ctx.repo.add_event(
        tx, key, old._event("discount.removed", now, changes={"discount": {"before": old.id, "after": None}})
    )
    answer = Removed(deleted=True, discount=removed)
    _commit(ctx, tx, tenant_id, claim, answer)
    business_event("DiscountRemoved")
    return answer


@retrying()
def remove_from_subscription(
    ctx: Context, tenant_id: str, subscription_id: str, claim: Claim | None = None
) -> Removed:
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    return _remove(ctx, tenant_id, keys.subscription(tenant_id, sub.id), claim)


@retrying()
def remove_from_customer(ctx: Context, tenant_id: str, customer_id: str, claim: Claim | None = None) -> Removed:
    customer = ctx.repo.customer(tenant_id, customer_id)
    return _remove(ctx, tenant_id, keys.customer(tenant_id, customer.id), claim)


class DiscountState(BaseModel):
    object: Literal["discount_state"] = "discount_state"
    discount: Discount | None = Field(description="the discount on the object (null: none)")
    in_effect: bool


def subscription_discount(ctx: Context, tenant_id: str, subscription_id: str) -> DiscountState:
    sub = ctx.repo.subscription(tenant_id, subscription_id, consistent=False)
    found, _ = store(ctx).discount(keys.subscription(tenant_id, sub.id))
    return DiscountState(discount=found, in_effect=bool(found and found.in_effect(ctx.clock.now())))


def customer_discount(ctx: Context, tenant_id: str, customer_id: str) -> DiscountState:
    customer = ctx.repo.customer(tenant_id, customer_id)
    found, _ = store(ctx).discount(keys.customer(tenant_id, customer.id))
    return DiscountState(discount=found, in_effect=bool(found and found.in_effect(ctx.clock.now())))

