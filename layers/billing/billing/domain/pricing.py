"""Invoice arithmetic: line amounts, discounts spread over the lines, and per-line tax, exclusive or inclusive.

The rule, in full (docs/money.md says the same, with worked examples):
1. line amount = quantity x unit amount, exact integers, as the price is quoted (tax included for an inclusive rate);
2. discounts apply in order: an order's own ``discount`` first, then each ``DiscountInput``. Each is taken from what
   its eligible lines still owe after the earlier ones (discountable lines with a positive amount; a discount that
   lists plans, only those plans' lines): ``percent_off`` is ``round_half_up(that base x percent / 100)``,
   ``amount_off`` is capped at the base (an order's own ``amount_off`` may not exceed its subtotal: refused), and
   the amount is spread over the lines in proportion by the largest remainder method, so the shares add up exactly;
3. line tax, rounded once per line, half up, on the line's amount after its discounts ``G = amount - discount``:
   exclusive rate p: ``round_half_up(G x p / 100)``, added to the line; inclusive rate p:
   ``round_half_up(G x p / (100 + p))``, split out of it (the customer pays G, of which that much is tax);
4. the invoice states amounts without tax: a line's ``net_amount`` is its amount less the tax its price includes
   (``amount - round_half_up(amount x p / (100 + p))`` for an inclusive rate, else the amount), its
   ``net_discount`` is ``net_amount - (G - inclusive tax)``; subtotal, discount and tax are the sums of
   ``net_amount``, ``net_discount`` and ``tax_amount``, and **total = subtotal - discount + tax**, exactly, for every
   mix of rates: it is the sum of what each line costs (G for an inclusive line, G + tax for an exclusive one);
5. the tax summary has one row per rate: the taxable amount (the lines' net amounts after discount) and the tax
   (the sum of the lines' rounded taxes, never re-rounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from billing.domain.base_model import BaseModel
from billing.domain.errors import ValidationFailed
from billing.domain.money import HUNDRED, allocate, percent_of, round_minor

MAX_AMOUNT = 99_999_999_999  # Stripe's ceiling for one amount, in minor units (and well inside 2**53 for JSON)
ORDER_DISCOUNT_ID = "order"  # the id of an order's own discount on its invoice's discount lines


class TaxRateRef(BaseModel):
    """A tax rate as it applied to a line: a snapshot, never a live reference (a rate is replaced, not edited)."""

    id: str | None = None  # "txr_…"; None for the storefront's free-form ``tax_rate_percent``
    display_name: str
    percentage: Decimal
    inclusive: bool = False  # the line's price includes the tax, which is split out of it
    jurisdiction: str | None = None  # "US-NY", "DE", …


class LineInput(BaseModel):
    description: str
    quantity: int
    unit_amount: int
    # compatibility: the storefront's free-form exclusive percent, from before tax rates were objects
    tax_rate_percent: Decimal = Decimal(0)
    tax_rate: TaxRateRef | None = None  # wins over ``tax_rate_percent``
    plan_id: str | None = None  # the plan a subscription line bills (for discounts that apply to listed plans)
    invoice_item_id: str | None = None  # the pending invoice item the line came from
    discountable: bool = True  # False: no discount touches it (a proration line with its discount already taken)

    def rate(self) -> TaxRateRef | None:
        """The rate the line is taxed at: its rate object, or its free-form percent as an exclusive rate."""
        if self.tax_rate is not None:
            return self.tax_rate
        if self.tax_rate_percent:
            return TaxRateRef(display_name="Tax", percentage=self.tax_rate_percent)
        return None


class Discount(BaseModel):
    """An order's own discount: ``percent_off`` (0-100) or ``amount_off`` in the invoice currency's minor unit."""

    model_config = ConfigDict(title="OrderDiscount")  # not a coupon's Discount (billing.domain.coupons)

    percent_off: Decimal | None = None
    amount_off: int | None = None


class DiscountInput(BaseModel):
    """One discount applied to one invoice (a coupon's, through a subscription, a customer or an order)."""

    id: str  # the applied discount's id ("di_…"), or ``ORDER_DISCOUNT_ID`` for an order's own discount
    coupon_id: str | None = None
    name: str
    percent_off: Decimal | None = None
    amount_off: int | None = None  # in the invoice's currency
    plan_ids: list[str] | None = None  # None: every discountable line; else the lines whose plan_id is listed

    def applies_to(self, line: LineInput) -> bool:
        return self.plan_ids is None or line.plan_id in self.plan_ids


class LineDiscount(BaseModel):
    discount_id: str
    amount: int  # of the line's amount as quoted


class PricedLine(BaseModel):
    description: str
    quantity: int
    unit_amount: int
    amount: int  # quantity x unit amount, as quoted
    discount_amount: int  # all discounts on the line, as quoted
    tax_rate_percent: Decimal  # the rate's percentage (0 without a rate)
    tax_amount: int
    tax_rate: TaxRateRef | None = None
    net_amount: int  # the amount without the tax an inclusive price holds (the amount, otherwise)
    net_discount: int  # the discount without tax (the discount, otherwise)
    discounts: list[LineDiscount] = Field(default_factory=list)
    plan_id: str | None = None
    invoice_item_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_before_tax_rates(cls, data: Any) -> Any:
        """A line stored before tax rates were objects had exclusive tax only: its net amounts are its amounts."""
        if isinstance(data, dict) and "net_amount" not in data:
            data = {**data, "net_amount": data.get("amount"), "net_discount": data.get("discount_amount")}
        return data

    @property
    def total(self) -> int:
        """What the line costs the customer: after its discount, with exclusive tax added."""
        exclusive = self.tax_rate is None or not self.tax_rate.inclusive
        return self.amount - self.discount_amount + (self.tax_amount if exclusive else 0)


class DiscountLine(BaseModel):
    """One discount on an invoice, as its discount line shows it: without tax, as the subtotal is."""

    id: str
    coupon_id: str | None = None
    name: str
    amount: int


class TaxSummaryLine(BaseModel):
    """One rate's tax on an invoice: the lines' net amounts after discount, and the sum of their rounded taxes."""

    tax_rate_id: str | None = None
    display_name: str
    percentage: Decimal
    inclusive: bool = False
    jurisdiction: str | None = None
    taxable_amount: int
    tax_amount: int


class Totals(BaseModel):
    lines: list[PricedLine]
    subtotal: int
    discount: int
    tax: int
    total: int
    discounts: list[DiscountLine] = Field(default_factory=list)
    tax_summary: list[TaxSummaryLine] = Field(default_factory=list)


def discount_amount(subtotal: int, discount: Discount | None) -> int:
    if discount is None:
        return 0
    if discount.percent_off is not None:
        return percent_of(subtotal, discount.percent_off)
    amount = discount.amount_off or 0
    if amount > subtotal:
        raise ValidationFailed("discount_exceeds_subtotal", f"amount_off {amount} is more than the subtotal {subtotal}")
    return amount


def included_tax(amount: int, rate: TaxRateRef | None) -> int:
    """The tax an inclusive price ``amount`` holds at ``rate``, rounded half up (0 for an exclusive rate)."""
    if rate is None or not rate.inclusive:
        return 0
    return round_minor(Decimal(amount) * rate.percentage / (HUNDRED + rate.percentage))


def _line_tax(after_discount: int, rate: TaxRateRef | None) -> int:
    if rate is None:
        return 0
    if rate.inclusive:
        return included_tax(after_discount, rate)
    return percent_of(after_discount, rate.percentage)


def _discount_shares(
    lines: list[LineInput], amounts: list[int], order_discount: Discount | None, discounts: Sequence[DiscountInput]
) -> tuple[list[DiscountInput], list[list[int]]]:
    """Each discount's share of each line (as quoted), applied in order on what the lines still owe."""
    applied: list[DiscountInput] = []
    if order_discount is not None and (order_discount.percent_off is not None or order_discount.amount_off):
        # its base is what its lines owe: a pending invoice item the invoice took along (a credit line, a line
        # marked not discountable) neither lowers nor raises an order's own discount
        subtotal = sum(a for line, a in zip(lines, amounts, strict=True) if line.discountable and a > 0)
        amount = discount_amount(subtotal, order_discount)  # refuses an amount off above the subtotal
        applied.append(DiscountInput(id=ORDER_DISCOUNT_ID, name="Discount", amount_off=amount))
    applied += list(discounts)
    owed = [amount if line.discountable and amount > 0 else 0 for line, amount in zip(lines, amounts, strict=True)]
    shares: list[list[int]] = []
    for discount in applied:
        weights = [owed[i] if discount.applies_to(line) else 0 for i, line in enumerate(lines)]
        base = sum(weights)
        if discount.percent_off is not None:
            amount = percent_of(base, discount.percent_off)
        else:
            amount = min(discount.amount_off or 0, base)
        split = allocate(amount, weights)
        owed = [o - s for o, s in zip(owed, split, strict=True)]
        shares.append(split)
    return applied, shares


def price(
    lines: list[LineInput], discount: Discount | None = None, discounts: Sequence[DiscountInput] = ()
) -> Totals:
    if not lines:
        raise ValidationFailed("no_lines", "an invoice needs at least one line")
    amounts = [line.quantity * line.unit_amount for line in lines]
    applied, shares = _discount_shares(lines, amounts, discount, discounts)
    priced: list[PricedLine] = []
    per_discount = [0] * len(applied)
    for i, (line, amount) in enumerate(zip(lines, amounts, strict=True)):
        line_shares = [split[i] for split in shares]
        taken = sum(line_shares)
        rate = line.rate()
        tax = _line_tax(amount - taken, rate)
        net_amount = amount - included_tax(amount, rate)
        net_after = amount - taken - (tax if rate is not None and rate.inclusive else 0)
        net_discount = net_amount - net_after
        # each discount's part of the line's discount without tax, in proportion to its share (exact)
        for d, part in enumerate(allocate(net_discount, line_shares)):
            per_discount[d] += part
        priced.append(
            PricedLine(
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=amount,
                discount_amount=taken,
                tax_rate_percent=rate.percentage if rate else Decimal(0),
                tax_amount=tax,
                tax_rate=rate,
                net_amount=net_amount,
                net_discount=net_discount,
                discounts=[
                    LineDiscount(discount_id=d.id, amount=s) for d, s in zip(applied, line_shares, strict=True) if s
                ],
                plan_id=line.plan_id,
                invoice_item_id=line.invoice_item_id,
            )
        )
    subtotal = sum(p.net_amount for p in priced)
    discount_total = sum(p.net_discount for p in priced)
    tax = sum(p.tax_amount for p in priced)
    total = subtotal - discount_total + tax
    if total > MAX_AMOUNT:
        raise ValidationFailed("amount_too_large", f"an invoice's total may not exceed {MAX_AMOUNT} minor units")
    return Totals(
        lines=priced,
        subtotal=subtotal,
        discount=discount_total,
        tax=tax,
        total=total,
        discounts=[
            DiscountLine(id=d.id, coupon_id=d.coupon_id, name=d.name, amount=amount)
            for d, amount in zip(applied, per_discount, strict=True)
        ],
        tax_summary=tax_summary(priced),
    )


def tax_summary(lines: Sequence[PricedLine]) -> list[TaxSummaryLine]:
    """One row per rate the lines were taxed at, in the order the rates first appear."""
    rows: dict[tuple[Any, ...], TaxSummaryLine] = {}
    for line in lines:
        rate = line.tax_rate
        if rate is None:
            continue
        key = (rate.id, rate.display_name, rate.percentage, rate.inclusive, rate.jurisdiction)
        row = rows.get(key) or TaxSummaryLine(
            tax_rate_id=rate.id,
            display_name=rate.display_name,
            percentage=rate.percentage,
            inclusive=rate.inclusive,
            jurisdiction=rate.jurisdiction,
            taxable_amount=0,
            tax_amount=0,
        )
        rows[key] = row.model_copy(
            update={
                "taxable_amount": row.taxable_amount + line.net_amount - line.net_discount,
                "tax_amount": row.tax_amount + line.tax_amount,
            }
        )
    return list(rows.values())
