"""Taxes as a customer reads them: each line's rate, the tax by rate, the customer's tax ids and the reverse-charge
or tax-exempt note, on the invoice PDF and in the invoice e-mail, in every language; and the tax report's rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.documents import render_invoice_pdf
from billing.domain.models import Address, Customer, Invoice, TaxExempt, TaxId, Tenant
from billing.domain.pricing import LineInput, TaxRateRef
from billing.domain.profile import default_profile
from billing.i18n import messages, taxes
from billing.notifications.render import render_email
from billing.reports.facts import facts_from_items
from billing.services.notifications import email_context
from tests.unit.test_documents import text_of

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VAT = TaxRateRef(id="txr_1", display_name="VAT", percentage=Decimal(20), jurisdiction="GB")
MWST = TaxRateRef(id="txr_2", display_name="MwSt", percentage=Decimal(19), inclusive=True, jurisdiction="DE")
NOTES = {
    "en": "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC).",
    "ru": "Обратное начисление: НДС уплачивает получатель (ст. 196 Директивы 2006/112/ЕС).",
    "zh": "反向征收：增值税由收票方申报缴纳（欧盟第2006/112/EC号指令第196条）。",
}


def invoice(lang: str = "en", tax_exempt: TaxExempt = "none") -> Invoice:
    customer = Customer(
        id="cus_1",
        tenant_id="ten_1",
        email="ada@example.com",
        name="Ada GmbH",
        locale=lang,
        currency="eur",
        address=Address(city="Berlin", country="DE"),
        tax_exempt=tax_exempt,
        tax_ids=[TaxId(type="eu_vat", value="DE136695976")],
        created_at=NOW,
    )
    taxed = tax_exempt == "none"
    lines = [
        LineInput(description="Pro plan", quantity=1, unit_amount=10000, tax_rate=VAT if taxed else None),
        LineInput(description="Seats", quantity=3, unit_amount=1190, tax_rate=MWST if taxed else None),
    ]
    draft = Invoice.draft(customer, lines, NOW, collection_method="send_invoice", days_until_due=30, order_id="o")
    return draft.finalize("INV-1", NOW)[0]


def test_the_invoice_adds_up_as_worked_out_by_hand():
    issued = invoice()
    # VAT 20 % on 100.00 = 20.00; 3 x 11.90 = 35.70 includes 19 %: 35.70 x 19/119 = 5.70, net 30.00
    assert (issued.subtotal, issued.tax, issued.total) == (13000, 2570, 15570)
    assert [(r.display_name, r.taxable_amount, r.tax_amount) for r in issued.tax_summary] == [
        ("VAT", 10000, 2000),
        ("MwSt", 3000, 570),
    ]


@pytest.mark.parametrize(
    ("lang", "vat", "mwst", "free"),
    [
        ("en", "VAT 20%", "MwSt 19% incl.", "Tax 8.25%"),
        ("ru", "VAT 20 %", "MwSt 19 % вкл.", "Налог 8,25 %"),
        ("zh", "VAT 20%", "MwSt 19%（含税）", "税费 8.25%"),
    ],
)
def test_a_rate_is_written_as_the_language_writes_it(lang, vat, mwst, free):
    assert " ".join(taxes.rate_label(VAT, lang).split()) == vat
    assert " ".join(taxes.rate_label(MWST, lang).split()) == mwst
    freeform = TaxRateRef(display_name="Tax", percentage=Decimal("8.25"))  # the storefront's tax_rate_percent
    assert " ".join(taxes.rate_label(freeform, lang).split()) == free


def test_the_pdf_shows_each_lines_rate_the_tax_by_rate_and_the_tax_ids(tmp_path):
    text = text_of(render_invoice_pdf(invoice(), default_profile("Acme")), tmp_path, layout=True)
    assert "Pro plan 1 €100.00 VAT 20% €100.00" in text
    assert "Seats 3 €11.90 MwSt 19% incl. €35.70" in text
    assert "VAT 20% €100.00 €20.00" in text and "MwSt 19% incl. €30.00 €5.70" in text
    assert "EU VAT DE136695976" in text
    assert "Reverse charge" not in text


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_a_reverse_charge_pdf_states_it_and_charges_no_tax(tmp_path, lang):
    issued = invoice(lang, "reverse")
    assert (issued.tax, issued.total, issued.tax_summary) == (0, 13570, [])
    text = " ".join(text_of(render_invoice_pdf(issued, default_profile("Acme")), tmp_path).split())
    assert NOTES[lang] in text
    assert messages(lang)["tax"]["id_types"]["eu_vat"] + " DE136695976" in text
    assert messages(lang)["pdf"]["taxable_amount"] not in text  # no tax table: the note says why


def email(lang: str, issued: Invoice):
    tenant = Tenant(id="ten_1", name="Acme", created_at=NOW)
    return render_email("invoice_issued", lang, email_context(tenant, issued))


def test_the_invoice_email_shows_the_rates_the_summary_and_the_tax_ids():
    sent = email("en", invoice())
    assert "- Pro plan × 1 (VAT 20%): €100.00" in sent.text
    assert "VAT 20% on €100.00: €20.00" in sent.text and "MwSt 19% incl. on €30.00: €5.70" in sent.text
    assert "Tax IDs: EU VAT DE136695976" in sent.text
    for part in (sent.text, sent.html):
        assert "VAT 20% on €100.00: €20.00" in part and "Reverse charge" not in part


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_the_reverse_charge_email_states_it_in_the_customers_language(lang):
    sent = email(lang, invoice(lang, "reverse"))
    for part in (sent.text, sent.html):
        assert NOTES[lang] in part
        assert "DE136695976" in part


def test_an_exempt_invoice_says_so():
    sent = email("en", invoice("en", "exempt"))
    assert "Tax exempt: no tax is charged on this invoice." in sent.text


def test_the_tax_report_has_a_row_per_rate_object():
    issued = invoice()
    facts = facts_from_items([{"type": "invoice", "doc": issued.model_dump_json()}])
    rows = [
        (r["tax_rate_id"], r["tax_name"], r["tax_rate"], r["jurisdiction"], r["kind"], r["taxable"], r["tax"])
        for r in facts["invoice_taxes"]
    ]
    assert rows == [
        ("txr_1", "VAT", "20", "GB", "exclusive", 10000, 2000),
        ("txr_2", "MwSt", "19", "DE", "inclusive", 3000, 570),
    ]
    json.dumps(facts["invoice_taxes"])  # plain values only
