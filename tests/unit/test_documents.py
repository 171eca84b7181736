"""The invoice and credit-note PDFs, read back as a person's PDF reader would: poppler-utils (``make browser``
installs them) extracts the text (``pdftotext``), lists the fonts (``pdffonts``) and images (``pdfimages``) and
draws the pages (``pdftoppm``). What must be there: the numbers, the amounts exactly as ``format_money`` writes them,
the catalogue's labels in each language, the names as typed (markup characters too), every font embedded and subset,
and the same bytes for the same input."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from billing.documents import render_credit_note_pdf, render_invoice_pdf
from billing.domain.models import Address, CollectionMethod, CreditNote, Invoice, RefundPart
from billing.domain.pricing import Discount, DiscountInput, LineInput, price
from billing.domain.profile import Logo, SellerProfile
from billing.i18n import format_date, format_money, format_number, messages

ISSUED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PAY_URL = "https://pay.example.com/i/in_1/tok_abc123"
MARKUP = r"Ann #1 *bold* _it_ [x](y) $5$ \n <b> {z} @ref // = `c` ~ & 'q' \"d\""
LONG = (
    "Consulting on the migration of the billing database, the reports on what was moved and the follow-up "
    "meetings with the finance team, over three weeks in March"
)
SVG_BLUE = (43, 89, 195)
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
    b'<rect width="120" height="40" rx="6" fill="#2b59c3"/><circle cx="20" cy="20" r="10" fill="#ffffff"/></svg>'
)
PNG_RED = (200, 30, 60)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def _poppler() -> None:
    missing = [tool for tool in ("pdftotext", "pdffonts", "pdfimages", "pdftoppm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: `make browser` installs poppler-utils")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain RGB PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def seller(logo: str | None = "svg", **changes) -> SellerProfile:
    logos = {
        "svg": Logo(content_type="image/svg+xml", data=base64.b64encode(SVG)),
        "png": Logo(content_type="image/png", data=base64.b64encode(png(300, 100, PNG_RED))),
    }
    profile = SellerProfile(
        legal_name="Acme Software GmbH",
        address=Address(line1="Friedrichstraße 68", city="Berlin", postal_code="10117", country="DE"),
        tax_id="DE123456789",
        support_email="billing@acme.example",
        logo=logos[logo] if logo else None,
        footer="Registered in Berlin, HRB 12345. IBAN DE89 3704 0044 0532 0130 00.",
    )
    return profile.model_copy(update=changes)


def invoice(
    lang: str = "en",
    currency: str = "usd",
    *,
    lines: list[LineInput] | None = None,
    discount: Discount | None = None,
    coupons: tuple[DiscountInput, ...] = (),
    paid: bool = False,
    method: CollectionMethod = "send_invoice",
    days: int | None = 30,
    credit: int = 0,
    name: str = "Ivan Petrov",
) -> Invoice:
    lines = lines or [
        LineInput(description="Pro plan", quantity=3, unit_amount=4900, tax_rate_percent=Decimal("20")),
        LineInput(description="Support", quantity=1, unit_amount=15000, tax_rate_percent=Decimal("7.5")),
    ]
    totals = price(lines, discount, coupons)
    due = totals.total - credit
    return Invoice(
        id="in_1",
        tenant_id="ten_1",
        customer_id="cus_1",
        number="INV-2026-000042",
        status="paid" if paid or due == 0 else "open",
        currency=currency,
        collection_method=method,
        days_until_due=days,
        lines=totals.lines,
        subtotal=totals.subtotal,
        discount=totals.discount,
        discounts=totals.discounts,
        tax=totals.tax,
        total=totals.total,
        credit_applied=credit,
        amount_paid=due if paid else 0,
        amount_due=0 if paid else due,
        issued_at=ISSUED,
        due_date=date(2026, 4, 1) if days else ISSUED.date(),
        customer_email="ivan@example.ru",
        customer_name=name,
        customer_locale=lang,
        customer_address=Address(line1="ул. Тверская, д. 7", city="Москва", postal_code="125009", country="RU"),
        created_at=ISSUED,
        updated_at=ISSUED,
    )


def credit_note(amount: int = 7500, reason: str = "requested_by_customer") -> CreditNote:
    return CreditNote(
        id="cn_1",
        tenant_id="ten_1",
        invoice_id="in_1",
        customer_id="cus_1",
        number="CN-2026-000007",
        currency="usd",
        amount=amount,
        reason=reason,
        refunds=[RefundPart(payment_id="pay_1", stripe_refund_id="re_1", amount=amount)],
        created_at=datetime(2026, 3, 20, 15, 0, tzinfo=UTC),
    )


def many_lines(count: int) -> list[LineInput]:
    rates = [Decimal("0"), Decimal("7.5"), Decimal("20")]
    return [
        LineInput(description=f"Seat {i + 1}", quantity=i + 1, unit_amount=1234, tax_rate_percent=rates[i % 3])
        for i in range(count)
    ]


def poppler(tool: str, pdf: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    output = ["-"] if tool == "pdftotext" else []
    return subprocess.run([tool, *args, str(path), *output], capture_output=True, text=True, check=True).stdout


def text_of(pdf: bytes, tmp_path: Path, *, layout: bool = False) -> str:
    """The text of the document, every run of white space (no-break spaces too) as one space: block by block, or
    line by line as the page shows it (``layout``: a label and its amount, a table's row, come out together)."""
    return " ".join(poppler("pdftotext", pdf, tmp_path, *(["-layout"] if layout else [])).split())


def plain(text: str) -> str:
    return " ".join(text.split())


def pages(pdf: bytes, tmp_path: Path) -> list[str]:
    return [plain(page) for page in poppler("pdftotext", pdf, tmp_path, "-layout").split("\f") if page.strip()]


def fonts(pdf: bytes, tmp_path: Path) -> list[tuple[str, str, str]]:
    """(name, emb, sub) of each font of the document, as ``pdffonts`` lists it."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = listing.splitlines()[2:]  # a header and a rule
    return [(row.split()[0], row.split()[-5], row.split()[-4]) for row in rows if row.strip()]


def first_page_pixels(pdf: bytes, tmp_path: Path) -> tuple[int, int, bytes]:
    """Page 1 drawn at 40 dpi as raw RGB (pdftoppm's PPM): width, height, pixels."""
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    ppm = subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "1", str(path)], capture_output=True, check=True
    ).stdout
    magic, width, height, _, pixels = ppm.split(maxsplit=4)
    assert magic == b"P6"
    return int(width), int(height), pixels


def has_colour(pdf: bytes, tmp_path: Path, rgb: tuple[int, int, int], *, right_half_of_top: bool) -> bool:
    width, height, pixels = first_page_pixels(pdf, tmp_path)
    for y in range(height // 6 if right_half_of_top else height):
        for x in range(width // 2 if right_half_of_top else 0, width):
            i = 3 * (y * width + x)
            if all(abs(pixels[i + k] - rgb[k]) <= 12 for k in range(3)):
                return True
    return False


@cache
def rendered(lang: str, currency: str) -> bytes:
    return render_invoice_pdf(
        invoice(lang, currency, discount=Discount(percent_off=Decimal("10")), credit=500), seller(), pay_url=PAY_URL
    )


LANGUAGES = [("en", "usd"), ("zh", "jpy"), ("ru", "kwd")]


@pytest.mark.parametrize(("lang", "currency"), LANGUAGES)
def test_an_invoice_says_in_its_language_who_owes_whom_what_by_when(lang, currency, tmp_path):
    doc = invoice(lang, currency, discount=Discount(percent_off=Decimal("10")), credit=500)
    text = text_of(rendered(lang, currency), tmp_path)
    labels, pdf = messages(lang)["invoice"], messages(lang)["pdf"]

    def money(amount: int) -> str:
        return plain(format_money(amount, currency, lang))

    for label in (
        pdf["invoice_title"],
        pdf["invoice_number"],
        pdf["seller"],
        labels["billed_to"],
        labels["issued"],
        labels["due_date"],
        labels["description"],
        labels["quantity"],
        labels["unit_price"],
        labels["discount"],
        pdf["tax_rate"],
        pdf["taxable_amount"],
        labels["subtotal"],
        labels["total"],
        pdf["credit_applied"],
        labels["amount_paid"],
        labels["amount_due"],
        pdf["payment_terms"],
        pdf["pay_online"],
    ):
        assert plain(label) in text, label
    due_on = plain(format_date(date(2026, 4, 1), lang))
    assert "INV-2026-000042" in text
    assert plain(format_date(ISSUED, lang)) in text and due_on in text
    assert "Acme Software GmbH" in text and "Ivan Petrov" in text and "ivan@example.ru" in text
    assert plain(pdf["tax_id"].format(tax_id="DE123456789")) in text  # "Tax ID: …", "税号：…"
    assert "billing@acme.example" in text and "HRB 12345" in text
    for amount in (doc.subtotal, -doc.discount, doc.tax, doc.total, -doc.credit_applied, doc.amount_due):
        assert money(amount) in text, amount
    for line in doc.lines:
        assert money(line.unit_amount) in text and money(line.amount) in text
        assert money(-line.discount_amount) in text
    assert plain(pdf["amount_due_on"].format(amount=money(doc.amount_due), date=due_on)) in text
    assert plain(pdf["terms_net"].format(days=format_number(30, lang), date=due_on)) in text
    assert PAY_URL in text
    assert plain(pdf["page"].format(page=1, pages=1)) in text


def test_amounts_keep_the_minor_units_of_their_currency(tmp_path):
    assert "¥" in text_of(rendered("zh", "jpy"), tmp_path) and ".00" not in text_of(rendered("zh", "jpy"), tmp_path)
    kwd = invoice("ru", "kwd", discount=Discount(percent_off=Decimal("10")), credit=500)
    assert format_money(kwd.total, "kwd", "ru").count(",") == 1  # three decimals: 12,345 dinars has no other comma
    assert plain(format_money(kwd.total, "kwd", "ru")) in text_of(rendered("ru", "kwd"), tmp_path)


def test_tax_is_summed_per_rate_on_what_is_left_after_the_discount(tmp_path):
    lines = many_lines(6)
    doc = invoice(lines=lines, discount=Discount(amount_off=1000))
    text = text_of(render_invoice_pdf(doc, seller()), tmp_path, layout=True)
    for rate, label in ((Decimal("0"), "0%"), (Decimal("7.5"), "7.5%"), (Decimal("20"), "20%")):
        at_rate = [line for line in doc.lines if line.tax_rate_percent == rate]
        base = sum(line.amount - line.discount_amount for line in at_rate)
        tax = sum(line.tax_amount for line in at_rate)
        assert f"{label} {format_money(base, 'usd', 'en')} {format_money(tax, 'usd', 'en')}" in text
    assert format_money(doc.tax, "usd", "en") in text


def test_a_tax_rate_is_written_as_its_language_writes_a_percentage(tmp_path):
    lines = [LineInput(description="Books", quantity=1, unit_amount=10000, tax_rate_percent=Decimal("7.5"))]
    assert "7,5 %" in text_of(render_invoice_pdf(invoice("ru", "rub", lines=lines), seller()), tmp_path)
    assert "7.5%" in text_of(render_invoice_pdf(invoice("zh", "cny", lines=lines), seller()), tmp_path)


def test_without_a_discount_there_is_no_discount_column_nor_row(tmp_path):
    text = text_of(render_invoice_pdf(invoice(), seller()), tmp_path)
    assert "Discount" not in text
    assert "Discount" in text_of(rendered("en", "usd"), tmp_path)


@pytest.mark.parametrize(
    ("lang", "order_label", "coupon_label"),
    [("en", "Discount", "Discount (Launch)"), ("ru", "Скидка", "Скидка (Launch)"), ("zh", "折扣", "折扣（Launch）")],
)
def test_each_discount_has_its_own_row_under_its_name(tmp_path, lang, order_label, coupon_label):
    launch = DiscountInput(id="di_1", coupon_id="co_1", name="Launch", percent_off=Decimal("20"))
    doc = invoice(lang, discount=Discount(amount_off=1000), coupons=(launch,))
    (order, coupon) = doc.discounts
    assert (order.amount, coupon.amount) == (1000, round((doc.subtotal - 1000) * 0.2))
    text = text_of(render_invoice_pdf(doc, seller()), tmp_path)
    assert f"{order_label} {plain(format_money(-1000, 'usd', lang))}" in plain(text)
    assert f"{coupon_label} {plain(format_money(-coupon.amount, 'usd', lang))}" in plain(text)


def test_a_long_description_wraps_inside_its_column(tmp_path):
    word = "X" * 120  # no break opportunity at all: it must still not run into the next column
    lines = [
        LineInput(description=LONG, quantity=2, unit_amount=150000),
        LineInput(description=word, quantity=1, unit_amount=100),
    ]
    pdf = render_invoice_pdf(invoice(lines=lines), seller())
    text = text_of(pdf, tmp_path)
    assert LONG in text
    boxes = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
        poppler("pdftotext", pdf, tmp_path, "-bbox"),
    )
    qty_column = min(float(x0) for x0, _, _, w in boxes if w == "Qty")
    long_word = [(float(y0), float(x1)) for _, y0, x1, w in boxes if set(w) == {"X"}]
    assert len({y for y, _ in long_word}) >= 2  # broken over lines
    assert max(x1 for _, x1 in long_word) < qty_column
    consulting = [float(y0) for _, y0, _, w in boxes if w in LONG.split()]
    assert len(set(consulting)) >= 2  # the long description wraps


def test_many_lines_run_over_pages_with_the_header_repeated(tmp_path):
    doc = invoice(lines=many_lines(70))
    per_page = pages(render_invoice_pdf(doc, seller()), tmp_path)
    assert len(per_page) >= 2
    for number, page in enumerate(per_page, start=1):
        assert "Description Qty Unit price Tax rate Amount" in page
        assert f"Page {number} of {len(per_page)}" in page
        assert "Invoice INV-2026-000042 · Acme Software GmbH" in page
    text = " ".join(per_page)
    assert all(f"Seat {i} " in text for i in range(1, 71))
    assert f"Amount due {format_money(doc.amount_due, 'usd', 'en')}" in per_page[-1]


def test_an_svg_logo_is_drawn_at_the_top_right(tmp_path):
    assert has_colour(render_invoice_pdf(invoice(), seller("svg")), tmp_path, SVG_BLUE, right_half_of_top=True)
    assert not has_colour(render_invoice_pdf(invoice(), seller(None)), tmp_path, SVG_BLUE, right_half_of_top=False)


def test_a_png_logo_is_embedded_as_an_image_and_drawn_at_the_top_right(tmp_path):
    pdf = render_invoice_pdf(invoice(), seller("png"))
    images = poppler("pdfimages", pdf, tmp_path, "-list").splitlines()[2:]
    assert [row.split()[3:5] for row in images] == [["300", "100"]]
    assert has_colour(pdf, tmp_path, PNG_RED, right_half_of_top=True)


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_a_paid_invoice_says_paid_and_offers_no_pay_link(lang, tmp_path):
    doc = invoice(lang, paid=True, method="charge_automatically", days=None)
    text = text_of(render_invoice_pdf(doc, seller(), pay_url=PAY_URL), tmp_path, layout=True)
    pdf = messages(lang)["pdf"]
    assert messages(lang)["invoice"]["status"]["paid"].upper() in text
    assert PAY_URL not in text and plain(pdf["pay_online"]) not in text
    assert plain(pdf["terms_card"]) in text
    assert plain(f"{messages(lang)['invoice']['amount_due']} {format_money(0, 'usd', lang)}") in text
    open_text = text_of(render_invoice_pdf(invoice(lang), seller(), pay_url=PAY_URL), tmp_path)
    assert messages(lang)["invoice"]["status"]["paid"].upper() not in open_text


def test_payment_terms_follow_the_collection_method(tmp_path):
    card = text_of(render_invoice_pdf(invoice(method="charge_automatically", days=None), seller()), tmp_path)
    assert "Charged automatically to the card on file." in card
    on_receipt = text_of(render_invoice_pdf(invoice(days=0), seller()), tmp_path)
    assert f"Due on receipt: please pay by {format_date(ISSUED, 'en')}." in on_receipt
    net = text_of(render_invoice_pdf(invoice(days=30), seller()), tmp_path)
    assert "Net 30: please pay by April 1, 2026." in net


def test_without_a_pay_link_the_invoice_still_says_what_is_due(tmp_path):
    doc = invoice()
    text = text_of(render_invoice_pdf(doc, seller()), tmp_path)
    assert f"{format_money(doc.amount_due, 'usd', 'en')} due April 1, 2026" in text and "Pay online" not in text


def test_a_credit_note_names_the_invoice_it_corrects_and_why(tmp_path):
    doc, note = invoice("ru"), credit_note()
    text = text_of(render_credit_note_pdf(note, doc, seller()), tmp_path, layout=True)
    pdf = messages("ru")["pdf"]
    for label in (pdf["credit_note_title"], pdf["credit_note_number"], pdf["original_invoice"], pdf["reason"]):
        assert plain(label) in text
    assert "CN-2026-000007" in text and "INV-2026-000042" in text
    assert pdf["reasons"]["requested_by_customer"] in text
    assert plain(format_date(note.created_at, "ru")) in text
    assert plain(pdf["credit_line"].format(number="INV-2026-000042", date=format_date(ISSUED, "ru"))) in text
    assert plain(f"{pdf['amount_credited']} {format_money(7500, 'usd', 'ru')}") in text
    assert plain(f"{pdf['invoice_total']} {format_money(doc.total, 'usd', 'ru')}") in text
    assert pdf["refunded_to"] in text and "Ivan Petrov" in text
    assert plain(pdf["page"].format(page=1, pages=1)) in text


def test_a_credit_note_reason_outside_the_catalogue_is_printed_as_given(tmp_path):
    text = text_of(render_credit_note_pdf(credit_note(reason="goodwill"), invoice(), seller()), tmp_path, layout=True)
    assert "Reason goodwill" in text


@pytest.mark.parametrize(
    "render",
    [
        lambda: rendered("en", "usd"),
        lambda: rendered("zh", "jpy"),
        lambda: rendered("ru", "kwd"),
        lambda: render_credit_note_pdf(credit_note(), invoice("zh"), seller("png")),
    ],
    ids=["en", "zh", "ru", "credit-note"],
)
def test_every_font_is_embedded_and_subset_and_is_one_of_ours(render, tmp_path):
    listed = fonts(render(), tmp_path)
    assert listed
    for name, embedded, subset in listed:
        assert (embedded, subset) == ("yes", "yes"), name
        assert re.fullmatch(r"[A-Z]{6}\+NotoSans(SC)?-Regular(-Identity-H)?", name), name


def test_chinese_and_russian_text_come_out_as_text(tmp_path):
    zh, ru = text_of(rendered("zh", "jpy"), tmp_path), text_of(rendered("ru", "kwd"), tmp_path)
    assert "发票" in zh and "应付金额" in zh and "ул. Тверская, д. 7" in zh and "俄罗斯" in zh  # RU, in Chinese
    assert "Счёт" in ru and "К оплате" in ru and "Германия" in ru  # DE, in Russian


def test_the_same_input_gives_the_same_bytes_even_in_another_process():
    first = render_invoice_pdf(invoice("zh", "jpy"), seller("png"), pay_url=PAY_URL)
    assert render_invoice_pdf(invoice("zh", "jpy"), seller("png"), pay_url=PAY_URL) == first
    script = (
        "import sys; from tests.unit.test_documents import *; "
        "sys.stdout.buffer.write(render_invoice_pdf(invoice('zh', 'jpy'), seller('png'), pay_url=PAY_URL))"
    )
    env_path = f"{REPO}:{REPO / 'layers' / 'billing'}"
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, cwd=REPO, env={"PYTHONPATH": env_path}
    ).stdout
    assert other == first
    assert render_invoice_pdf(invoice("zh", "jpy", name="Someone else"), seller("png"), pay_url=PAY_URL) != first


def test_customer_text_with_markup_characters_is_printed_as_typed(tmp_path):
    lines = [LineInput(description=MARKUP, quantity=1, unit_amount=100)]
    profile = seller(legal_name=f"Seller {MARKUP}", footer=f"Footer {MARKUP}", tax_id="#1 $2 \\3")
    pdf = render_invoice_pdf(invoice(lines=lines, name=f"Buyer {MARKUP}"), profile)
    text = text_of(pdf, tmp_path)
    for where in ("Seller", "Buyer", "Footer"):
        assert f"{where} {MARKUP}" in text, where
    assert f"{MARKUP} 1 $1.00 0% $1.00" in text_of(pdf, tmp_path, layout=True)
    assert "Tax ID: #1 $2 \\3" in text


def test_the_language_is_the_customers_unless_asked_otherwise(tmp_path):
    doc = invoice("ru").model_copy(update={"customer_locale": "ru-RU"})
    assert "Счёт" in text_of(render_invoice_pdf(doc, seller()), tmp_path)
    assert "发票" in text_of(render_invoice_pdf(doc, seller(), lang="zh_CN"), tmp_path)
    assert "Invoice number" in text_of(
        render_invoice_pdf(doc.model_copy(update={"customer_locale": "de"}), seller()), tmp_path
    )


def test_a_draft_or_a_foreign_invoice_is_refused():
    with pytest.raises(ValueError, match="draft"):
        render_invoice_pdf(invoice().model_copy(update={"number": None, "issued_at": None}), seller())
    with pytest.raises(ValueError, match="corrects invoice in_other"):
        render_credit_note_pdf(credit_note().model_copy(update={"invoice_id": "in_other"}), invoice(), seller())
