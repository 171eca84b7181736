"""Exact money: integer amounts in a currency's minor unit, as Stripe counts them.

One rounding rule for the whole product: a fractional minor unit is rounded half up (away from zero for the
half) with ``Decimal`` arithmetic, once per invoice line. Nothing here ever touches a float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from billing.domain.errors import ValidationFailed

# ISO 4217 minor units that differ from the usual two decimals.
_ZERO_DECIMAL = frozenset("bif clp djf gnf isk jpy kmf krw pyg rwf ugx uyi vnd vuv xaf xof xpf".split())
_THREE_DECIMAL = frozenset("bhd iqd jod kwd lyd omr tnd".split())
# Every active ISO 4217 code we accept. An unknown code is refused rather than guessed at.
_KNOWN = frozenset(
    """aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn bwp byn bzd cad cdf
    chf clp cny cop crc cup cve czk djf dkk dop dzd egp ern etb eur fjd fkp gbp gel ghs gip gmd gnf gtq gyd hkd hnl
    htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad mdl
    mga mkd mmk mnt mop mru mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron
    rsd rub rwf sar sbd scr sdg sek sgd shp sle sos srd ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah
    ugx usd uyi uyu uzs ves vnd vuv wst xaf xcd xof xpf yer zar zmw zwl""".split()
)

ROUNDING = ROUND_HALF_UP
HUNDRED = Decimal(100)


def normalize_currency(code: str) -> str:
    """Lower-case ISO 4217 code, as Stripe writes it; an unknown code is a validation error."""
    cur = code.strip().lower()
    if cur not in _KNOWN:
        raise ValidationFailed("unknown_currency", f"'{code}' is not an ISO 4217 currency code")
    return cur


def minor_unit_exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has: 0 for JPY and KRW, 3 for KWD and BHD, else 2."""
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


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
