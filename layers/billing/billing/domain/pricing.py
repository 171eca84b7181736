"""Invoice arithmetic: line amounts, an order-level discount spread over the lines, and per-line tax.

The rule, in full (docs/money.md says the same):
1. line amount = quantity x unit amount, exact integers;
2. a percent discount is ``round_half_up(subtotal x percent / 100)``; a fixed discount is taken as is and may not
   exceed the subtotal; the discount is spread over the lines in proportion to their amounts by the largest
   remainder method, so the line shares add up to the discount exactly;
3. line tax = ``round_half_up((line amount - line discount) x rate / 100)``;
4. subtotal, discount and tax are the sums over the lines, and total = subtotal - discount + tax, exactly.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from billing.domain.errors import ValidationFailed
from billing.domain.money import allocate, percent_of

MAX_AMOUNT = 99_999_999_999  # Stripe's ceiling for one amount, in minor units (and well inside 2**53 for JSON)


class TaxRateRef(BaseModel):
    """A tax rate as it applied to a line: a snapshot, never a live reference."""

    id: str | None = None  # "txr_…"; None for the storefront's free-form tax_rate_percent
    display_name: str
    percentage: Decimal
    inclusive: bool = False
    jurisdiction: str | None = None


class LineInput(BaseModel):
    description: str
    quantity: int
    unit_amount: int
    tax_rate_percent: Decimal = Decimal(0)
    tax_rate: TaxRateRef | None = None  # wins over tax_rate_percent
    plan_id: str | None = None


class Discount(BaseModel):
    """Either ``percent_off`` (0-100) or ``amount_off`` in the invoice currency's minor unit."""

    percent_off: Decimal | None = None
    amount_off: int | None = None


class PricedLine(BaseModel):
    description: str
    quantity: int
    unit_amount: int
    amount: int
    discount_amount: int
    tax_rate_percent: Decimal
    tax_amount: int


class Totals(BaseModel):
    lines: list[PricedLine]
    subtotal: int
    discount: int
    tax: int
    total: int


def discount_amount(subtotal: int, discount: Discount | None) -> int:
    if discount is None:
        return 0
    if discount.percent_off is not None:
        return percent_of(subtotal, discount.percent_off)
    amount = discount.amount_off or 0
    if amount > subtotal:
        raise ValidationFailed("discount_exceeds_subtotal", f"amount_off {amount} is more than the subtotal {subtotal}")
    return amount


def price(lines: list[LineInput], discount: Discount | None = None) -> Totals:
    if not lines:
        raise ValidationFailed("no_lines", "an invoice needs at least one line")
    amounts = [line.quantity * line.unit_amount for line in lines]
    subtotal = sum(amounts)
    shares = allocate(discount_amount(subtotal, discount), amounts)
    priced = [
        PricedLine(
            description=line.description,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=amount,
            discount_amount=share,
            tax_rate_percent=line.tax_rate_percent,
            tax_amount=percent_of(amount - share, line.tax_rate_percent),
        )
        for line, amount, share in zip(lines, amounts, shares, strict=True)
    ]
    discount_total = sum(shares)
    tax = sum(p.tax_amount for p in priced)
    if subtotal - discount_total + tax > MAX_AMOUNT:
        raise ValidationFailed("amount_too_large", f"an invoice's total may not exceed {MAX_AMOUNT} minor units")
    return Totals(
        lines=priced, subtotal=subtotal, discount=discount_total, tax=tax, total=subtotal - discount_total + tax
    )
