"""Coupons, promotion codes, and discounts on subscriptions and customers."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, context
from billing.api.params import CREATED, Cursor, Id, Limit
from billing.domain.base_model import BaseModel
from billing.domain.coupons import Discount, PromotionCode
from billing.services import coupons

router = APIGatewayHttpRouter()
door = Door(router)
CouponId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Code = Annotated[str | None, Query(min_length=1, max_length=64)]


class CouponList(BaseModel):
    object: Literal["list"] = "list"
    data: list[coupons.CouponResource]
    has_more: bool
    next_cursor: str | None


class PromotionCodeList(BaseModel):
    object: Literal["list"] = "list"
    data: list[PromotionCode]
    has_more: bool
    next_cursor: str | None


# --- coupons ---------------------------------------------------------------------------------------------------
@router.post(
    "/v1/coupons",
    tags=["coupons"],
    summary="Create a coupon: percent or amount off (per currency), once / repeating / forever",
    description="Its terms never change once created (only its name and metadata). A tenant-given `id` that "
    "exists already is 409 `coupon_exists`.",
    responses=CREATED,
)
def create_coupon(body: coupons.CreateCoupon) -> Response[coupons.CouponResource]:
    return door.post(201, lambda claim: coupons.create_coupon(context(), door.tenant(), body, claim))


@router.get("/v1/coupons", tags=["coupons"], summary="The tenant's coupons, newest first")
def list_coupons(limit: Limit = 20, cursor: Cursor = None) -> CouponList:
    found, next_cursor = coupons.list_coupons(context(), door.tenant(), limit, cursor)
    return CouponList(data=found, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/coupons/<coupon_id>", tags=["coupons"], summary="Retrieve a coupon, with its redemption count")
def get_coupon(coupon_id: CouponId) -> coupons.CouponResource:
    return coupons.get_coupon(context(), door.tenant(), coupon_id)


@router.post("/v1/coupons/<coupon_id>", tags=["coupons"], summary="Rename a coupon or change its metadata")
def update_coupon(coupon_id: CouponId, body: coupons.UpdateCoupon) -> Response[coupons.CouponResource]:
    return door.post(200, lambda claim: coupons.update_coupon(context(), door.tenant(), coupon_id, body, claim))


@router.post(
    "/v1/coupons/<coupon_id>/archive",
    tags=["coupons"],
    summary="Archive a coupon: no new redemptions; the discounts it applied go on",
)
def archive_coupon(coupon_id: CouponId) -> Response[coupons.CouponResource]:
    return door.post(200, lambda claim: coupons.archive_coupon(context(), door.tenant(), coupon_id, claim))


# --- promotion codes -------------------------------------------------------------------------------------------
@router.post(
    "/v1/promotion_codes",
    tags=["coupons"],
    summary="Create a customer-facing code for a coupon (unique in any case)",
    responses=CREATED,
)
def create_promotion_code(body: coupons.CreatePromotionCode) -> Response[PromotionCode]:
    return door.post(201, lambda claim: coupons.create_promotion_code(context(), door.tenant(), body, claim))


@router.get(
    "/v1/promotion_codes",
    tags=["coupons"],
    summary="The tenant's promotion codes, newest first; `code=` finds one by its text, in any case",
)
def list_promotion_codes(limit: Limit = 20, cursor: Cursor = None, code: Code = None) -> PromotionCodeList:
    if code is not None:
        try:
            found = [coupons.find_promotion_code(context(), door.tenant(), code)]
        except coupons.NotFound:
            found = []
        return PromotionCodeList(data=found, has_more=False, next_cursor=None)
    page, next_cursor = coupons.list_promotion_codes(context(), door.tenant(), limit, cursor)
    return PromotionCodeList(data=page, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/promotion_codes/<promotion_code_id>", tags=["coupons"], summary="Retrieve a promotion code")
def get_promotion_code(promotion_code_id: Id) -> PromotionCode:
    return coupons.get_promotion_code(context(), door.tenant(), promotion_code_id)


@router.post(
    "/v1/promotion_codes/<promotion_code_id>", tags=["coupons"], summary="Activate or deactivate a promotion code"
)
def update_promotion_code(promotion_code_id: Id, body: coupons.UpdatePromotionCode) -> Response[PromotionCode]:
    return door.post(
        200, lambda claim: coupons.update_promotion_code(context(), door.tenant(), promotion_code_id, body, claim)
    )


# --- discounts -------------------------------------------------------------------------------------------------
@router.post(
    "/v1/subscriptions/<subscription_id>/discount",
    tags=["coupons"],
    summary="Put a discount on a subscription (replacing its own): invoices of periods starting from now",
)
def apply_subscription_discount(subscription_id: Id, body: coupons.ApplyDiscount) -> Response[Discount]:
    return door.post(
        200, lambda claim: coupons.apply_to_subscription(context(), door.tenant(), subscription_id, body, claim)
    )


@router.get("/v1/subscriptions/<subscription_id>/discount", tags=["coupons"], summary="A subscription's discount")
def get_subscription_discount(subscription_id: Id) -> coupons.DiscountState:
    return coupons.subscription_discount(context(), door.tenant(), subscription_id)


@router.delete(
    "/v1/subscriptions/<subscription_id>/discount",
    tags=["coupons"],
    summary="Remove a subscription's discount (invoices of periods starting from now are not discounted)",
)
def remove_subscription_discount(subscription_id: Id) -> coupons.Removed:
    return coupons.remove_from_subscription(context(), door.tenant(), subscription_id)


@router.post(
    "/v1/customers/<customer_id>/discount",
    tags=["coupons"],
    summary="Put a discount on a customer: all their subscriptions and orders that have none of their own",
)
def apply_customer_discount(customer_id: Id, body: coupons.ApplyDiscount) -> Response[Discount]:
    return door.post(200, lambda claim: coupons.apply_to_customer(context(), door.tenant(), customer_id, body, claim))


@router.get("/v1/customers/<customer_id>/discount", tags=["coupons"], summary="A customer's discount")
def get_customer_discount(customer_id: Id) -> coupons.DiscountState:
    return coupons.customer_discount(context(), door.tenant(), customer_id)


@router.delete("/v1/customers/<customer_id>/discount", tags=["coupons"], summary="Remove a customer's discount")
def remove_customer_discount(customer_id: Id) -> coupons.Removed:
    return coupons.remove_from_customer(context(), door.tenant(), customer_id)
