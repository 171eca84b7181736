"""An invoice's discount lines in the customer's language, one way for e-mails, pages and PDFs: each coupon's
discount under its name ("Discount (Launch 20 % off)"), an order's own discount as "Discount"."""

from __future__ import annotations

from typing import Any

from billing.domain.pricing import ORDER_DISCOUNT_ID
from billing.i18n import language, messages


def rows(invoice: Any, lang: str) -> list[tuple[str, int]]:
    """(label, amount) of each discount line of ``invoice``; an invoice issued before discount lines were kept shows
    its one discount."""
    t = messages(language(lang))["invoice"]
    if not invoice.discounts:
        return [(t["discount"], invoice.discount)] if invoice.discount else []
    return [
        (t["discount"] if line.id == ORDER_DISCOUNT_ID else t["discount_named"].format(name=line.name), line.amount)
        for line in invoice.discounts
        if line.amount
    ]
