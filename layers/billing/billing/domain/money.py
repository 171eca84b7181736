"""Exact money: integer amounts in a currency's ISO 4217 minor unit (Stripe's differ for a few currencies:
``billing.domain.stripe_money`` maps between the two).

One rounding rule for the whole product: a fractional minor unit is rounded half up (away from zero for the
half) with ``Decimal`` arithmetic, once per invoice line. Nothing here ever touches a float.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal

from billing.domain.errors import ValidationFailed


@functools.cache
def accepted_currencies() -> frozenset[str]:
    """The currencies an invoice can be in: ISO 4217's current table (the ``iso4217`` package ships ISO's own
    list), without fund codes (UYI, CLF…) and units no one pays in (XAD, UYW): only codes that CLDR (Babel) knows
    as some territory's legal tender on the table's publication date. Data, not a hand-written list: a new ISO
    table is a new pin. The two data packages are imported here and in ``minor_unit_exponent``, at the first
    currency looked at (cached), not when the domain is imported: ISO's table is XML parsed at import (≈10 ms)."""
    import iso4217
    from babel.core import get_global
    from babel.numbers import get_territory_currencies

    funds = {
        entry.findtext("Ccy", "").lower()
        for entry in iso4217.raw_xml.findall("CcyTbl/CcyNtry")
        if entry.find("CcyNm") is not None and entry.find("CcyNm").get("IsFund") == "true"  # type: ignore[union-attr]
    }
    iso = {code.lower() for code, row in iso4217.raw_table.items() if (row["CcyMnrUnts"] or "").isdigit()}
    tender = {
        code.lower()
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, start_date=iso4217.__published__, tender=True)
    }
    return frozenset((iso - funds) & tender)


ROUNDING = ROUND_HALF_UP
HUNDRED = Decimal(100)


def normalize_currency(code: str) -> str:
    """Lower-case ISO 4217 code, as Stripe writes it; a code not accepted (``accepted_currencies``) is a
    validation error."""
    cur = code.strip().lower()
    if cur not in accepted_currencies():
        raise ValidationFailed("unknown_currency", f"'{code}' is not a currency an invoice can be in (ISO 4217)")
    return cur


@functools.cache
def minor_unit_exponent(currency: str) -> int:
    """How many decimals the currency's ISO 4217 minor unit has: 0 for JPY and ISK, 3 for KWD and BHD, 2 for most.
    A currency ISO has withdrawn since (BGN, ZWL: invoices issued in it stay readable) has CLDR's."""
    import iso4217
    from babel.numbers import get_currency_precision

    row = iso4217.raw_table.get(currency.upper())
    if row and (row["CcyMnrUnts"] or "").isdigit():
        return int(row["CcyMnrUnts"])
    return get_currency_precision(currency.upper())


def to_major(amount: int, currency: str) -> Decimal:
    """An integer minor-unit amount as an exact Decimal in major units (1234 usd -> 12.34)."""
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


def round_minor(value: Decimal) -> int:
    """Round a fractional minor-unit amount to a whole one by the product's single rounding rule."""
    return int(value.quantize(Decimal(1), rounding=ROUNDING))


def percent_of(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount`` minor units, rounded by the product rule."""
    return round_minor(Decimal(amount) * percent / HUNDRED)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` across ``weights`` in proportion, exactly: the parts always sum to ``total``.

    Largest remainder method: every part gets the floor of its share, and the units left over go one each to the
    parts with the largest remainders (earliest first on ties). No part exceeds its weight when total <= sum.
    """
    weight_sum = sum(weights)
    if total == 0 or weight_sum == 0:
        return [0] * len(weights)
    floors = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors
