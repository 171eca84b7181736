"""Invoices and credit notes as PDF: the legal document, laid out by Typst (``templates/document.typ``).

Pure: no AWS and no I/O but the template and the fonts. Everything the document prints is worked out here, as text
in the document's language: labels from the one catalogue (``billing.i18n.messages``: ``[invoice]`` and ``[pdf]``),
amounts, dates and quantities through ``billing.i18n``'s formats. The template receives it as one JSON document
through ``sys.inputs`` and places each string as text: customer text is never markup. Fonts are Noto Sans (Latin,
Greek, Cyrillic; a variable font, so headings are truly bold) and Noto Sans SC (Chinese), from pinned font packages;
Typst embeds the glyphs used, subset, and nothing else (system fonts and Typst's own are left out). The same input
gives the same bytes: the document's date is its issue date, and Typst writes no other clock into the file. The
file is PDF/A-2b, the archival profile, as a document kept for years should be.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fontpkg_noto_sans
import pylopdf_fonts_zh_cn
import typst
from babel import Locale
from babel.numbers import format_percent

from billing.domain.models import Address, CreditNote, Invoice
from billing.domain.profile import SellerProfile
from billing.i18n import BABEL_LOCALES, discounts, format_date, format_money, format_number, language, messages, taxes

TEMPLATE = Path(__file__).resolve().parent / "templates" / "document.typ"
# Archival PDF (ISO 19005-2, level b): fonts embedded, colours device-independent, metadata in XMP; Typst refuses to
# write a document that breaks it. Tagged as well (Typst's default), for screen readers.
PDF_STANDARD = "a-2b"


def font_dirs() -> list[Path]:
    """The folders Typst takes its fonts from: Noto Sans first (bold by its weight axis), Noto Sans SC for the rest."""
    return [fontpkg_noto_sans.ROOT / "files", pylopdf_fonts_zh_cn.sans_path().parent]


@cache
def _compiler() -> typst.Compiler:
    """One compiler per process: it indexes the fonts once, and each render passes its own inputs."""
    fonts = typst.Fonts(
        include_system_fonts=False, include_embedded_fonts=False, font_paths=[str(p) for p in font_dirs()]
    )
    return typst.Compiler(str(TEMPLATE), root=str(TEMPLATE.parent), font_paths=fonts, ignore_system_fonts=True)


def render_invoice_pdf(
    invoice: Invoice, seller: SellerProfile, *, lang: str | None = None, pay_url: str | None = None
) -> bytes:
    """The PDF of an issued ``invoice`` from ``seller``, in ``lang`` (default: the customer's language). A paid
    invoice says so; an unpaid one says what is due by when, and links to ``pay_url`` when given."""
    if invoice.number is None or invoice.issued_at is None:
        raise ValueError(f"invoice {invoice.id} is a draft: only an issued invoice has a PDF")
    lang = language(lang or invoice.customer_locale)
    text, inv = messages(lang)["pdf"], messages(lang)["invoice"]

    def money(amount: int) -> str:
        return format_money(amount, invoice.currency, lang)

    due_on = format_date(invoice.due_date or invoice.issued_at, lang)
    meta = [
        [text["invoice_number"], invoice.number],
        [inv["issued"], format_date(invoice.issued_at, lang)],
        [inv["due_date"], due_on],
    ]
    discounted = invoice.discount != 0 or any(line.discount_amount for line in invoice.lines)
    columns = [[inv["description"], "left"], [inv["quantity"], "right"], [inv["unit_price"], "right"]]
    columns += [[inv["discount"], "right"]] if discounted else []
    columns += [[text["tax_rate"], "right"], [inv["amount"], "right"]]
    rows = []
    for line in invoice.lines:
        row = [line.description, format_number(line.quantity, lang), money(line.unit_amount)]
        row += [money(-line.discount_amount) if line.discount_amount else "—"] if discounted else []
        rows.append(row + [taxes.line_rate(line, lang), money(line.amount)])
    totals = [[inv["subtotal"], money(invoice.subtotal), False]]
    totals += [[label, money(-amount), False] for label, amount in discounts.rows(invoice, lang)]
    totals += [[inv["tax"], money(invoice.tax), False], [inv["total"], money(invoice.total), True]]
    totals += [[text["credit_applied"], money(-invoice.credit_applied), False]] if invoice.credit_applied else []
    totals += [[inv["amount_paid"], money(invoice.amount_paid), False]]
    totals += [[inv["amount_due"], money(invoice.amount_due), True]]
    paid = invoice.status == "paid"
    data = _document(
        lang,
        seller,
        heading=text["invoice_title"],
        reference=inv["invoice_number"].format(number=invoice.number),
        when=invoice.issued_at,
        meta=meta,
        buyer=_buyer(invoice, lang),
        columns=columns,
        rows=rows,
        taxes=_taxes(invoice, lang) if invoice.tax_exempt == "none" else None,  # no tax: the note says why
        totals=totals,
        notes=[[text["payment_terms"], _terms(invoice, due_on, lang)]] + _tax_note(invoice, lang),
        paid=messages(lang)["invoice"]["status"]["paid"] if paid else None,
        headline=None if paid else text["amount_due_on"].format(amount=money(invoice.amount_due), date=due_on),
        pay={"label": text["pay_online"], "url": pay_url} if pay_url and not paid else None,
    )
    return _compile(data, invoice.issued_at)


def render_credit_note_pdf(
    note: CreditNote, invoice: Invoice, seller: SellerProfile, *, lang: str | None = None
) -> bytes:
    """The PDF of ``note``, the credit note that corrects ``invoice`` (the invoice as issued), in ``lang`` (default:
    the customer's language of the invoice)."""
    if invoice.number is None or invoice.issued_at is None:
        raise ValueError(f"invoice {invoice.id} is a draft: a credit note corrects an issued invoice")
    if note.invoice_id != invoice.id:
        raise ValueError(f"credit note {note.id} corrects invoice {note.invoice_id}, not {invoice.id}")
    lang = language(lang or invoice.customer_locale)
    text, inv = messages(lang)["pdf"], messages(lang)["invoice"]

    def money(amount: int) -> str:
        return format_money(amount, note.currency, lang)

    issued = format_date(invoice.issued_at, lang)
    meta = [
        [text["credit_note_number"], note.number],
        [inv["issued"], format_date(note.created_at, lang)],
        [text["original_invoice"], invoice.number],
        [text["reason"], text["reasons"].get(note.reason, note.reason)],
    ]
    credit = note.kind == "credit"
    line = text["credit_line_no_refund" if credit else "credit_line"].format(number=invoice.number, date=issued)
    rows = [[li.description, money(li.amount)] for li in note.lines] or [[line, money(note.amount)]]
    totals = [[text["invoice_total"], format_money(invoice.total, invoice.currency, lang), False]]
    if note.tax_amount:  # a taxed invoice's credit: net and tax in the invoice's proportions
        totals += [[text["net_amount"], money(note.amount - note.tax_amount), False]]
        totals += [[inv["tax"], money(note.tax_amount), False]]
    totals += [[text["amount_credited"], money(note.amount), True]]
    notes = [[None, text["refunded_to"]]] if note.refunds else []
    if credit:
        where = "credited_to_balance" if note.credit_to == "balance" else "credited_to_invoice"
        notes += [[None, text[where].format(number=invoice.number)]]
    notes += [[None, note.memo]] if note.memo else []
    data = _document(
        lang,
        seller,
        heading=text["credit_note_title"],
        reference=text["credit_note_ref"].format(number=note.number),
        when=note.created_at,
        meta=meta,
        buyer=_buyer(invoice, lang),
        columns=[[inv["description"], "left"], [inv["amount"], "right"]],
        rows=rows,
        taxes=None,
        totals=totals,
        notes=notes,
        paid=None,
        headline=None,
        pay=None,
    )
    return _compile(data, note.created_at)


def _document(lang: str, seller: SellerProfile, *, heading: str, reference: str, when: datetime, **parts: Any):
    """What the template reads: the parts every document has, around ``parts`` (meta, buyer, lines, totals ...)."""
    text = messages(lang)["pdf"]
    seller_lines = _address_lines(seller.address, lang)
    seller_lines += [seller.support_email] if seller.support_email else []
    seller_lines += [text["tax_id"].format(tax_id=seller.tax_id)] if seller.tax_id else []
    logo = None
    if seller.logo is not None:
        # raw bytes as a list of integers (Typst's ``bytes(array)``): sys.inputs carries strings only
        logo = {
            "format": seller.logo.content_type.removeprefix("image/").removesuffix("+xml"),
            "data": list(seller.logo.data),
        }
    return {
        "lang": lang,
        "region": BABEL_LOCALES[lang].rsplit("_", 1)[-1],
        "title": f"{reference} · {seller.legal_name}",
        "date": [when.year, when.month, when.day],
        "heading": heading,
        "running": f"{reference} · {seller.legal_name}",
        "page": text["page"],
        "seller": {"label": text["seller"], "name": seller.legal_name, "lines": seller_lines},
        "logo": logo,
        "footer": seller.footer,
        **parts,
    }


def _buyer(invoice: Invoice, lang: str) -> dict[str, Any]:
    lines = _address_lines(invoice.customer_address, lang) + [invoice.customer_email]
    lines += taxes.tax_id_lines(invoice.customer_tax_ids, lang)
    return {"label": messages(lang)["invoice"]["billed_to"], "name": invoice.customer_name, "lines": lines}


def _tax_note(invoice: Invoice, lang: str) -> list[list[str | None]]:
    """A reverse-charge invoice's legal note (or a tax-exempt one's), under the payment terms."""
    said = taxes.note(invoice.tax_exempt, lang)
    return [[None, said]] if said else []


def _taxes(invoice: Invoice, lang: str) -> dict[str, Any]:
    """Tax by rate: the invoice's tax summary (each rate, its taxable amount after discount and without tax, its
    tax); an invoice from before the summary existed: its lines summed by percentage, lowest rate first."""
    text, inv = messages(lang)["pdf"], messages(lang)["invoice"]
    if invoice.tax_summary:
        rows = [
            [
                taxes.rate_label(row, lang),
                format_money(row.taxable_amount, invoice.currency, lang),
                format_money(row.tax_amount, invoice.currency, lang),
            ]
            for row in invoice.tax_summary
        ]
        return {"columns": [text["tax_rate"], text["taxable_amount"], inv["tax"]], "rows": rows}
    base: dict[Decimal, int] = defaultdict(int)
    tax: dict[Decimal, int] = defaultdict(int)
    for line in invoice.lines:
        base[line.tax_rate_percent] += line.amount - line.discount_amount
        tax[line.tax_rate_percent] += line.tax_amount
    rows = [
        [
            _rate(rate, lang),
            format_money(base[rate], invoice.currency, lang),
            format_money(tax[rate], invoice.currency, lang),
        ]
        for rate in sorted(base)
    ]
    return {"columns": [text["tax_rate"], text["taxable_amount"], inv["tax"]], "rows": rows}


def _terms(invoice: Invoice, due_on: str, lang: str) -> str:
    text = messages(lang)["pdf"]
    if invoice.collection_method == "charge_automatically":
        return text["terms_card"]
    if invoice.days_until_due:
        return text["terms_net"].format(days=format_number(invoice.days_until_due, lang), date=due_on)
    return text["terms_on_receipt"].format(date=due_on)


def _rate(percent: Decimal, lang: str) -> str:
    """A tax rate as the language writes a percentage, with the decimals it has: "7.5%", "7,5 %"."""
    return format_percent(percent / 100, locale=BABEL_LOCALES[lang], decimal_quantization=False)


def _address_lines(address: Address | None, lang: str) -> list[str]:
    """An address as lines: street lines, then "City, State Postcode" (or "Postcode City" where there is no state),
    then the country, named in the document's language when it is an ISO 3166 code."""
    if address is None:
        return []
    if address.state:
        place = " ".join(
            p for p in (", ".join(p for p in (address.city, address.state) if p), address.postal_code) if p
        )
    else:
        place = " ".join(p for p in (address.postal_code, address.city) if p)
    country = address.country
    if country and len(country) == 2:
        country = Locale.parse(BABEL_LOCALES[lang]).territories.get(country.upper(), country)
    return [p for p in (address.line1, address.line2, place, country) if p]


def _compile(data: dict[str, Any], when: date) -> bytes:
    stamp = when if isinstance(when, datetime) else datetime(when.year, when.month, when.day)
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    source = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return _compiler().compile(
        sys_inputs={"data": source}, timestamp=int(stamp.timestamp()), pdf_standards=PDF_STANDARD
    )
