"""The seller on every invoice: a tenant's legal name, address, tax id, support address, logo, footer and default
language. Every PDF and page shows it; a PDF keeps the profile it was rendered with."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Literal

from pydantic import Base64Bytes, ConfigDict, Field, model_validator

from billing.domain.address import SUPPORTED_LOCALES, Address
from billing.domain.base_model import BaseModel

MAX_LOGO_BYTES = 100_000  # far under DynamoDB's 400 KB item, and plenty for a logo
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}svg"


class Logo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: Literal["image/png", "image/svg+xml"]
    data: Base64Bytes  # base64 in JSON, the image's bytes in Python

    @model_validator(mode="after")
    def _is_what_it_says(self) -> Logo:
        if len(self.data) > MAX_LOGO_BYTES:
            raise ValueError(f"a logo is at most {MAX_LOGO_BYTES} bytes")
        if self.content_type == "image/png" and not self.data.startswith(PNG_SIGNATURE):
            raise ValueError("the logo is not a PNG image")
        if self.content_type == "image/svg+xml" and not _is_plain_svg(self.data):
            raise ValueError("the logo is not an SVG image without scripts, entities or external references")
        return self

    def data_uri(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def _is_plain_svg(data: bytes) -> bool:
    """An SVG document with no DOCTYPE (so no entity expansion), no script, no event handler attribute and no
    reference outside itself. Shown only as an image (in <img> and in PDFs), but kept harmless anyway."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        return False
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return False
    if root.tag != SVG_NAMESPACE:
        return False
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1].lower() in ("script", "foreignobject"):
            return False
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                return False
            if local == "href" and not value.startswith("#"):
                return False
    return True


class SellerProfile(BaseModel):
    """What a tenant says of itself on its invoices (``GET/PUT /v1/settings/profile``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    legal_name: str = Field(min_length=1, max_length=200, examples=["Acme Software GmbH"])
    address: Address | None = None
    tax_id: str | None = Field(default=None, max_length=64, examples=["DE123456789"])
    support_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    finance_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=254,
        description="the tenant's own finance contact: where the system writes to the tenant (a collection case "
        "opened, a webhook endpoint disabled); never shown to customers",
    )
    logo: Logo | None = None
    footer: str | None = Field(default=None, max_length=1000, examples=["Registered in Berlin, HRB 12345."])
    default_locale: Literal[SUPPORTED_LOCALES] = "en"  # type: ignore[valid-type]


def default_profile(tenant_name: str) -> SellerProfile:
    """What a tenant that has not said anything yet is shown as: its name."""
    return SellerProfile(legal_name=tenant_name)
