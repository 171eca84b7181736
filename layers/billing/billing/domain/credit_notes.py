"""Credit notes without refund: how a credited amount splits into net and tax.

Pure Python: no I/O. A credit note corrects a finalized invoice in the invoice's own proportions: of a taxed
invoice, the credited amount is part net, part tax, as the invoice's total is. The split is the largest remainder
method (billing.domain.money.allocate), so net + tax is the amount, exactly, and a credit of the whole total gives
back the whole tax.
"""

from __future__ import annotations

from billing.domain.models import Invoice
from billing.domain.money import allocate


def split_tax(amount: int, invoice: Invoice) -> tuple[int, int]:
    """(net, tax) of ``amount`` credited on ``invoice``, in the invoice's proportions of net to tax."""
    if invoice.tax <= 0 or invoice.total <= 0:
        return amount, 0
    net, tax = allocate(amount, [invoice.total - invoice.tax, invoice.tax])
    return net, tax
