"""Invoice number formats such as ``INV-{yyyy}-{seq:06}``.

A format is literal text with placeholders: ``{yyyy}``, ``{yy}``, ``{mm}`` (of the finalization date, in UTC) and
exactly one ``{seq}`` or ``{seq:0N}``. The sequence restarts with each period that the format names (a format
with ``{yyyy}`` numbers each year from 1), so the counter is kept per tenant, series and period.
"""

from __future__ import annotations

import re
from datetime import datetime

from billing.domain.errors import ValidationFailed

_TOKEN = re.compile(r"\{(yyyy|yy|mm|seq(?::0(\d))?)\}")
_ANY_BRACE = re.compile(r"[{}]")
DEFAULT_FORMAT = "INV-{yyyy}-{seq:06}"
DEFAULT_CREDIT_NOTE_FORMAT = "CN-{yyyy}-{seq:06}"


def validate_format(fmt: str) -> str:
    tokens = [m.group(1) for m in _TOKEN.finditer(fmt)]
    if sum(t.startswith("seq") for t in tokens) != 1:
        raise ValidationFailed("invalid_number_format", "the number format needs exactly one {seq} or {seq:0N}")
    if _ANY_BRACE.search(_TOKEN.sub("", fmt)):
        raise ValidationFailed("invalid_number_format", "allowed placeholders: {yyyy} {yy} {mm} {seq} {seq:0N}")
    if len(fmt) > 40:  # (it has a {seq}: never empty)
        raise ValidationFailed("invalid_number_format", "the number format must be 1 to 40 characters")
    return fmt


def period_key(fmt: str, when: datetime) -> str:
    """The period whose counter a number issued at ``when`` draws from."""
    tokens = {m.group(1) for m in _TOKEN.finditer(fmt)}
    if "mm" in tokens:
        return when.strftime("%Y-%m")
    if tokens & {"yyyy", "yy"}:
        return when.strftime("%Y")
    return "all"


def render(fmt: str, when: datetime, seq: int) -> str:
    def one(match: re.Match[str]) -> str:
        token, width = match.group(1), match.group(2)
        if token == "yyyy":
            return when.strftime("%Y")
        if token == "yy":
            return when.strftime("%y")
        if token == "mm":
            return when.strftime("%m")
        return str(seq).zfill(int(width)) if width else str(seq)

    return _TOKEN.sub(one, fmt)


# The billing run's drafts are numbered by one writer per tenant and series (billing.services.invoice_numbering):
# the internal event that names them, and the FIFO message group it travels in.
DRAFTED = "invoices.drafted"


def writer_group(tenant_id: str, series: str) -> str:
    """The FIFO message group of a series' drafts: one writer at a time per tenant and series."""
    return f"{tenant_id}#{series}"
