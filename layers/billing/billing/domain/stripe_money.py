"""Our amounts and Stripe's: the one mapping between them (docs/money.md has both rule sets side by side).

Our amounts are integers in the currency's ISO 4217 minor unit (``billing.domain.money``). Stripe's API counts in
the same unit for most currencies, and differs for a few (Stripe's "Supported currencies" page, its zero-decimal,
three-decimal and special-case sections):

- zero-decimal at Stripe: an amount is whole units. ISO agrees for all of them but MGA, which ISO gives two
  decimals (we count 1/100 ariary, Stripe whole ariary: a factor of 100, and only whole ariary can be charged);
- three-decimal at Stripe (BHD, JOD, KWD, OMR, TND): ISO's unit, but the last digit must be 0 (5.124 KWD is sent
  as 5120 or 5130): only multiples of 10 fils can be charged or refunded;
- ISK: zero-decimal in ISO (and for us), two-decimal in Stripe's API, where 100 is 1 króna and an amount must be
  a multiple of 100: we send 100 times our amount;
- HUF and TWD are two-decimal both in ISO and in Stripe's charges (Stripe makes only their payouts whole units,
  which is no business of ours);
- ISO three-decimal currencies Stripe does not list (IQD, LYD) cannot be charged through Stripe.

Every amount sent to Stripe goes through ``to_stripe``, every amount read from Stripe through ``from_stripe``
(both in the gateway adapter: PaymentIntents, refunds, charges, disputes, and so webhooks and reconciliation, which
read Stripe's objects through it). ``chargeable`` is how an amount due is settled where Stripe charges in coarser
steps than our unit: the next chargeable amount at or above it, the difference kept as the customer's credit.
"""

from __future__ import annotations

from billing.domain.errors import ValidationFailed
from billing.domain.money import minor_unit_exponent

# Stripe's published lists (docs.stripe.com/currencies): zero-decimal currencies, and three-decimal currencies
# whose amounts must end in 0.
STRIPE_ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
STRIPE_THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
# Special cases: a currency Stripe represents with two decimals although it has none (ISK: 100 is 1 króna).
STRIPE_TWO_DECIMAL_REPRESENTATION = frozenset({"isk"})


class NotChargeable(ValidationFailed):
    """An amount or a currency Stripe cannot take as it is."""

    code = "not_chargeable_at_stripe"


def stripe_exponent(currency: str) -> int:
    """How many decimals an amount has in Stripe's API."""
    if currency in STRIPE_TWO_DECIMAL_REPRESENTATION:
        return 2
    if currency in STRIPE_ZERO_DECIMAL:
        return 0
    if currency in STRIPE_THREE_DECIMAL:
        return 3
    if minor_unit_exponent(currency) == 3:
        raise NotChargeable("currency_not_chargeable", f"Stripe does not charge {currency.upper()}")
    return 2


def can_charge(currency: str) -> bool:
    """Whether Stripe charges this currency at all."""
    try:
        stripe_exponent(currency)
    except NotChargeable:
        return False
    return True


def step(currency: str) -> int:
    """The smallest amount, in our unit, that Stripe can charge or refund: every chargeable amount is a multiple."""
    shift = minor_unit_exponent(currency) - stripe_exponent(currency)
    units = 10**shift if shift > 0 else 1
    if currency in STRIPE_THREE_DECIMAL:
        units *= 10  # the last digit must be 0
    return units


def chargeable(amount: int, currency: str) -> int:
    """``amount`` (ours) rounded up to what Stripe can charge: a payment collects it and the difference is the
    customer's credit, so the invoice is paid in full."""
    unit = step(currency)
    return -(-amount // unit) * unit


def to_stripe(amount: int, currency: str) -> int:
    """Our ``amount`` in Stripe's unit. Refuses an amount Stripe cannot take (not a multiple of ``step``)."""
    if amount % step(currency):
        raise NotChargeable(
            "amount_not_chargeable",
            f"Stripe takes {currency.upper()} amounts in steps of {step(currency)} minor units; {amount} is not one",
        )
    shift = stripe_exponent(currency) - minor_unit_exponent(currency)
    return amount * 10**shift if shift >= 0 else amount // 10**-shift


def from_stripe(amount: int, currency: str) -> int:
    """Stripe's ``amount`` in our unit (exact: Stripe's units are never finer than ours, but for ISK, whose
    amounts Stripe keeps in multiples of 100)."""
    shift = minor_unit_exponent(currency) - stripe_exponent(currency)
    if shift >= 0:
        return amount * 10**shift
    whole, rest = divmod(amount, 10**-shift)
    if rest:
        raise ValueError(f"Stripe gave {amount} {currency}, not a whole amount in our unit")
    return whole
