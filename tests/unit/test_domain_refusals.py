"""Issue 12: every refusal of the domain says what it says. The code is the API's stable contract (a problem
body's ``code``) and the detail is what a storefront developer reads: both are pinned, per rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.domain import money, numbering, periods, plans, pricing, stripe_money
from billing.domain.errors import DomainError, NotFound, ValidationFailed
from billing.domain.plans import Interval, Plan, PlanPrice, PlanRequest
from billing.domain.pricing import Discount, LineInput

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def refusal(call, *args, **kwargs) -> tuple[str, str, dict]:
    with pytest.raises(DomainError) as refused:
        call(*args, **kwargs)
    return refused.value.code, refused.value.detail, refused.value.extra


def line(amount: int) -> LineInput:
    return LineInput(description="x", quantity=1, unit_amount=amount)


def test_an_error_reads_as_its_detail_or_else_its_code():
    assert (
        str(ValidationFailed("no_lines", "an invoice needs at least one line")) == "an invoice needs at least one line"
    )
    assert str(ValidationFailed("no_lines")) == "no_lines"
    assert str(NotFound()) == "not_found" and NotFound().code == "not_found"
    assert ValidationFailed("x", "y", plan_id="p").extra == {"plan_id": "p"}


def test_pricing_refusals():
    assert refusal(pricing.price, []) == ("no_lines", "an invoice needs at least one line", {})
    assert refusal(pricing.price, [line(100)], Discount(amount_off=101)) == (
        "discount_exceeds_subtotal",
        "amount_off 101 is more than the subtotal 100",
        {},
    )
    assert refusal(pricing.price, [line(pricing.MAX_AMOUNT), line(1)]) == (
        "amount_too_large",
        "an invoice's total may not exceed 99999999999 minor units",
        {},
    )
    assert pricing.discount_amount(100, Discount()) == 0  # neither percent nor amount: nothing off


def test_plan_refusals():
    flat = PlanPrice(currency="usd", scheme="flat", amount=100)
    assert refusal(plans.amount_for, flat, -1) == ("negative_quantity", "a quantity may not be negative", {})
    request = {"name": "P", "interval": {"unit": "month"}, "prices": [flat.model_dump(), flat.model_dump()]}
    assert refusal(PlanRequest.model_validate, request) == (
        "duplicate_currency",
        "a plan has one price per currency",
        {},
    )
    metered = {"name": "P", "interval": {"unit": "month"}, "usage": "metered", "prices": [flat.model_dump()]}
    assert refusal(PlanRequest.model_validate, metered) == (
        "flat_price_on_metered_plan",
        "a metered plan's price must depend on the usage",
        {},
    )
    plan, [event] = Plan.create("ten_1", PlanRequest(name="Pro", interval=Interval(unit="month"), prices=[flat]), NOW)
    assert (event.type, event.aggregate, event.aggregate_id, event.data) == (
        "plan.created",
        "plan",
        plan.id,
        {"name": "Pro"},
    )
    assert refusal(plan.price_for, "eur") == (
        "no_price_for_currency",
        f"plan {plan.id} has no price in eur",
        {"plan_id": plan.id},
    )
    assert plan.price_for(" USD ") == flat


@pytest.mark.parametrize(
    ("fmt", "detail"),
    [
        ("INV-{yyyy}", "the number format needs exactly one {seq} or {seq:0N}"),
        ("{seq}{seq}", "the number format needs exactly one {seq} or {seq:0N}"),
        ("{seq}-{day}", "allowed placeholders: {yyyy} {yy} {mm} {seq} {seq:0N}"),
        ("{seq}}", "allowed placeholders: {yyyy} {yy} {mm} {seq} {seq:0N}"),
        ("{seq}" + "X" * 36, "the number format must be 1 to 40 characters"),
    ],
)
def test_number_format_refusals(fmt, detail):
    assert refusal(numbering.validate_format, fmt) == ("invalid_number_format", detail, {})


def test_money_and_time_zone_refusals():
    assert refusal(money.normalize_currency, "XYZ") == (
        "unknown_currency",
        "'XYZ' is not a currency an invoice can be in (ISO 4217)",
        {},
    )
    assert refusal(periods.validate_timezone, "Mars/Olympus") == (
        "unknown_timezone",
        "'Mars/Olympus' is not an IANA time zone",
        {},
    )


def test_stripe_refusals():
    assert refusal(stripe_money.to_stripe, 1000, "iqd") == ("currency_not_chargeable", "Stripe does not charge IQD", {})
    assert refusal(stripe_money.to_stripe, 5124, "kwd") == (
        "amount_not_chargeable",
        "Stripe takes KWD amounts in steps of 10 minor units; 5124 is not one",
        {},
    )
    assert not stripe_money.can_charge("lyd") and stripe_money.can_charge("kwd")
