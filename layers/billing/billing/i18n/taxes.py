"""The texts of an invoice's taxes in the customer's language, one way for e-mails, pages and PDFs: a line's rate
("VAT 20%", "VAT 20% incl."), the per-rate summary ("VAT 20% on €100.00: €20.00"), the customer's tax ids
("EU VAT DE136695976") and the note a reverse-charge or tax-exempt invoice carries. Labels from the one catalogue
(``[tax]``), numbers and amounts through billing.i18n's formats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.i18n import format_money, format_percent, language, messages


def rate_label(rate: Any, lang: str) -> str:
    """A rate (a ``TaxRateRef`` or a ``TaxSummaryLine``: ``display_name``, ``percentage``, ``inclusive``) as a
    line or the summary shows it; the free-form compatibility rate has no name of its own: "Tax 8.25%"."""
    t = messages(language(lang))["tax"]
    named = getattr(rate, "id", None) or getattr(rate, "tax_rate_id", None)
    name = rate.display_name if named else messages(language(lang))["invoice"]["tax"]  # the free-form rate's
    percentage = Decimal(rate.percentage).normalize()
    percentage = percentage.quantize(Decimal(1)) if percentage == percentage.to_integral() else percentage
    label = t["rate"].format(name=name, rate=format_percent(str(percentage), lang))
    return t["inclusive"].format(rate=label) if rate.inclusive else label


def line_rate(line: Any, lang: str) -> str:
    """A priced line's rate as its row shows it: the rate's label, or its bare percentage ("0%" without tax)."""
    if line.tax_rate is not None:
        return rate_label(line.tax_rate, lang)
    percentage = Decimal(line.tax_rate_percent or 0).normalize()  # a line stored before rates were objects
    return format_percent(
        str(percentage.quantize(Decimal(1)) if percentage == percentage.to_integral() else percentage), lang
    )


def summary_rows(invoice: Any, lang: str) -> list[str]:
    """One sentence per rate of ``invoice.tax_summary``: "VAT 20% on €100.00: €20.00"."""
    t = messages(language(lang))["tax"]
    return [
        t["summary_row"].format(
            rate=rate_label(row, lang),
            taxable=format_money(row.taxable_amount, invoice.currency, lang),
            tax=format_money(row.tax_amount, invoice.currency, lang),
        )
        for row in invoice.tax_summary
    ]


def tax_id_lines(tax_ids: list[Any], lang: str) -> list[str]:
    """The customer's tax ids as the buyer block lists them: "EU VAT DE136695976"."""
    kinds = messages(language(lang))["tax"]["id_types"]
    return [f"{kinds.get(tax_id.type, tax_id.type)} {tax_id.value}" for tax_id in tax_ids]


def note(tax_exempt: str, lang: str) -> str | None:
    """What a reverse-charge (the legal note, Art. 196 Directive 2006/112/EC) or tax-exempt invoice states."""
    t = messages(language(lang))["tax"]
    return {"reverse": t["reverse_charge"], "exempt": t["exempt"]}.get(tax_exempt)


def texts(invoice: Any, lang: str) -> dict[str, Any]:
    """All of the above for one invoice: what an e-mail's or a page's context carries."""
    return {
        "tax_summary": summary_rows(invoice, lang),
        "tax_note": note(invoice.tax_exempt, lang),
        "customer_tax_ids": tax_id_lines(invoice.customer_tax_ids, lang),
        "line_rates": [line_rate(line, lang) for line in invoice.lines],
    }
