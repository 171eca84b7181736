"""The seller profile a tenant puts on its invoices, and the logo in it: what is kept, what is refused and why.
A logo is shown as an image on pages and in PDFs, so it must be the image it says it is and carry nothing active."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from billing.domain.models import Address
from billing.domain.profile import MAX_LOGO_BYTES, Logo, SellerProfile, default_profile

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24  # the signature is what is checked: the renderer reads the rest
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'


def logo(data: bytes, content_type: str = "image/svg+xml") -> Logo:
    return Logo(content_type=content_type, data=base64.b64encode(data))


def refusal(make) -> str:
    with pytest.raises(ValidationError) as refused:
        make()
    [error] = refused.value.errors()
    return error["msg"]


def svg(inner: str, root: str = 'xmlns="http://www.w3.org/2000/svg"') -> bytes:
    return f"<svg {root}>{inner}</svg>".encode()


# --- the logo -------------------------------------------------------------------------------------------------------


def test_a_png_or_svg_logo_is_kept_as_its_bytes_and_shown_as_a_data_uri():
    png = logo(PNG, "image/png")
    assert png.data == PNG
    assert png.data_uri() == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert logo(SVG).data_uri() == "data:image/svg+xml;base64," + base64.b64encode(SVG).decode()
    from_json = Logo.model_validate_json(f'{{"content_type": "image/png", "data": "{base64.b64encode(PNG).decode()}"}}')
    assert from_json == png  # base64 in JSON


def test_a_logo_is_a_png_or_an_svg_and_nothing_else():
    assert refusal(lambda: logo(PNG, "image/jpeg"))
    assert refusal(lambda: Logo(content_type="image/png", data=base64.b64encode(PNG), alt="Acme"))


def test_a_logo_is_at_most_100_000_bytes():
    assert MAX_LOGO_BYTES == 100_000
    at_limit = PNG + b"\x00" * (MAX_LOGO_BYTES - len(PNG))
    assert len(logo(at_limit, "image/png").data) == MAX_LOGO_BYTES
    assert refusal(lambda: logo(at_limit + b"\x00", "image/png")) == "Value error, a logo is at most 100000 bytes"


def test_a_png_logo_starts_with_the_png_signature():
    assert refusal(lambda: logo(b"GIF89a" + PNG, "image/png")) == "Value error, the logo is not a PNG image"
    assert refusal(lambda: logo(SVG, "image/png")) == "Value error, the logo is not a PNG image"


@pytest.mark.parametrize(
    "inner",
    [
        "<rect/>",
        '<g id="a"><circle r="1"/></g><use href="#a"/>',  # a reference inside the document
        '<use xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="#a"/>',
        '<text font-family="sans-serif">Acme</text>',
    ],
)
def test_a_plain_svg_logo_is_accepted(inner):
    assert logo(svg(inner)).data == svg(inner)


SVG_REFUSED = "Value error, the logo is not an SVG image without scripts, entities or external references"


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE svg [<!ENTITY a "aaaa">]>' + SVG,  # entity expansion
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">' + SVG,
        b"<!doctype svg>" + SVG,  # in any case
        b'<!entity a "x">' + SVG,
        svg("<!-- <!ENTITY a 'x'> -->"),  # nothing that looks like an entity, even in a comment
        b"not xml at all",
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>',  # not well formed
        b'<html xmlns="http://www.w3.org/2000/svg"/>',  # not an svg root
        b"<svg><rect/></svg>",  # an svg without its namespace is not an SVG image
        svg("<script>alert(1)</script>"),
        svg("<g><SCRIPT>alert(1)</SCRIPT></g>"),  # at any depth, in any case
        svg('<script xmlns="">alert(1)</script>'),  # in no namespace
        svg('<h:script xmlns:h="http://www.w3.org/1999/xhtml">alert(1)</h:script>'),  # in another one
        svg("<foreignObject><div>hi</div></foreignObject>"),
        svg('<rect onload="alert(1)"/>'),
        svg('<rect ONCLICK="alert(1)"/>'),
        svg("", root='xmlns="http://www.w3.org/2000/svg" onload="alert(1)"'),  # on the root too
        svg('<image href="https://tracker.example/pixel.png"/>'),
        svg('<use xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="https://evil.example/a.svg#x"/>'),
    ],
)
def test_an_svg_logo_with_anything_active_or_outside_itself_is_refused(data):
    assert refusal(lambda: logo(data)) == SVG_REFUSED


# --- the profile ----------------------------------------------------------------------------------------------------


def test_a_tenant_that_said_nothing_is_shown_by_its_name_in_english():
    profile = default_profile("Acme")
    assert profile == SellerProfile(legal_name="Acme")
    assert (profile.legal_name, profile.default_locale) == ("Acme", "en")
    assert (profile.address, profile.tax_id, profile.support_email, profile.logo, profile.footer) == (None,) * 5


def test_a_profile_keeps_what_the_tenant_said_without_surrounding_spaces():
    profile = SellerProfile.model_validate(
        {
            "legal_name": "  Acme Software GmbH ",
            "address": {"line1": "Friedrichstraße 68", "city": "Berlin", "country": "DE"},
            "tax_id": " DE123456789",
            "support_email": "billing@acme.example",
            "logo": {"content_type": "image/svg+xml", "data": base64.b64encode(SVG).decode()},
            "footer": "Registered in Berlin, HRB 12345.",
            "default_locale": "ru",
        }
    )
    assert (profile.legal_name, profile.tax_id, profile.default_locale) == ("Acme Software GmbH", "DE123456789", "ru")
    assert profile.address == Address(line1="Friedrichstraße 68", city="Berlin", country="DE")
    assert profile.logo == logo(SVG)


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_a_profile_speaks_a_supported_language(locale):
    assert SellerProfile(legal_name="Acme", default_locale=locale).default_locale == locale


@pytest.mark.parametrize(
    "changes",
    [
        {"legal_name": ""},
        {"legal_name": "   "},  # blank is no name
        {"legal_name": "x" * 201},
        {"tax_id": "x" * 65},
        {"footer": "x" * 1001},
        {"support_email": "billing"},
        {"support_email": "billing@acme"},
        {"support_email": "bil ling@acme.example"},
        {"support_email": "a@b.c" + "x" * 250},  # 255 characters
        {"default_locale": "de"},
        {"website": "https://acme.example"},  # nothing it does not know
    ],
)
def test_a_profile_keeps_its_limits(changes):
    with pytest.raises(ValidationError):
        SellerProfile.model_validate({"legal_name": "Acme", **changes})


def test_a_profile_at_its_limits_is_accepted():
    email = "a@b.c" + "x" * 249  # 254 characters
    profile = SellerProfile(legal_name="x" * 200, tax_id="x" * 64, footer="x" * 1000, support_email=email)
    assert (len(profile.legal_name), len(profile.tax_id), len(profile.footer), profile.support_email) == (
        200,
        64,
        1000,
        email,
    )
    assert SellerProfile(legal_name="A").legal_name == "A"
