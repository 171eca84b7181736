"""A postal address and the languages the product speaks: what the seller profile, a customer and an invoice share.

Their own module, re-exported by billing.domain.models: the seller profile (every e-mail's sender, the notifier)
imports them without the aggregates, their pricing and dunning (docs/benchmarks.md, section 1).
"""

from __future__ import annotations

from billing.domain.base_model import BaseModel

SUPPORTED_LOCALES = ("en", "zh", "ru")


class Address(BaseModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
