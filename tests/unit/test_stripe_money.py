"""Issue 12: every currency we accept, pinned against Stripe's published rules (docs.stripe.com/currencies, the
zero-decimal, three-decimal and special-case sections, and Stripe's notice on ISK), and the one mapping between our
amounts (ISO 4217 minor units) and Stripe's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain import money, stripe_money
from billing.domain.stripe_money import NotChargeable, chargeable, from_stripe, step, to_stripe

# Stripe's lists as published, written out here once more on purpose: the code's copy is what is tested.
STRIPE_ZERO_DECIMAL = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".lower().split()
STRIPE_THREE_DECIMAL = "BHD JOD KWD OMR TND".lower().split()


def test_the_code_holds_stripes_published_lists():
    assert stripe_money.STRIPE_ZERO_DECIMAL == set(STRIPE_ZERO_DECIMAL)
    assert stripe_money.STRIPE_THREE_DECIMAL == set(STRIPE_THREE_DECIMAL)
    assert stripe_money.STRIPE_TWO_DECIMAL_REPRESENTATION == {"isk"}


def expected(currency: str) -> tuple[int, int, int] | None:
    """(our exponent, Stripe's exponent, step in our unit) by Stripe's rules; None where Stripe cannot charge."""
    ours = money.minor_unit_exponent(currency)
    if currency == "isk":
        return 0, 2, 1  # "an ISK amount of 100 represents 1 króna"; whole krónur only
    if currency in STRIPE_ZERO_DECIMAL:
        return ours, 0, 10**ours  # MGA: ISO's 1/100 ariary cannot be charged, whole ariary can
    if currency in STRIPE_THREE_DECIMAL:
        return ours, 3, 10  # the last digit must be 0
    if ours == 3:
        return None  # IQD, LYD: not among Stripe's currencies
    return ours, 2, 1 if ours == 2 else None


@pytest.mark.parametrize("currency", sorted(money.accepted_currencies()))
def test_every_accepted_currency_maps_to_stripe_by_stripes_rules(currency):
    rule = expected(currency)
    if rule is None:
        with pytest.raises(NotChargeable):
            to_stripe(1000, currency)
        return
    ours, theirs, unit = rule
    assert unit is not None, f"{currency}: an ISO exponent of {ours} with no Stripe rule"
    assert (money.minor_unit_exponent(currency), stripe_money.stripe_exponent(currency), step(currency)) == rule
    one_major = 10**ours  # one whole unit of the currency, in our unit
    assert to_stripe(one_major, currency) == 10**theirs  # the same value, as Stripe counts it
    assert from_stripe(10**theirs, currency) == one_major


@pytest.mark.parametrize(
    ("currency", "ours", "stripes"),
    [
        ("usd", 5304, 5304),
        ("jpy", 5304, 5304),
        ("isk", 5000, 500000),  # 5,000 krónur: not 50
        ("mga", 500000, 5000),  # 5,000 ariary: not 500,000
        ("kwd", 5120, 5120),
        ("huf", 123456, 123456),
        ("twd", 99950, 99950),
    ],
)
def test_amounts_cross_the_boundary_at_their_value(currency, ours, stripes):
    assert to_stripe(ours, currency) == stripes and from_stripe(stripes, currency) == ours


@pytest.mark.parametrize(("currency", "amount"), [("kwd", 5124), ("mga", 500050), ("bhd", 1), ("omr", 19)])
def test_an_amount_finer_than_stripe_charges_is_refused_not_rounded(currency, amount):
    with pytest.raises(NotChargeable) as refused:
        to_stripe(amount, currency)
    assert refused.value.code == "amount_not_chargeable"


def test_stripe_never_sends_a_fraction_of_a_krona():
    with pytest.raises(ValueError, match="not a whole amount"):
        from_stripe(150, "isk")


@pytest.mark.parametrize(
    ("currency", "due", "charged"),
    [("kwd", 5124, 5130), ("kwd", 5120, 5120), ("mga", 500001, 500100), ("usd", 1, 1), ("isk", 7, 7), ("jod", 0, 0)],
)
def test_an_amount_due_is_charged_at_the_next_chargeable_amount(currency, due, charged):
    assert chargeable(due, currency) == charged


@given(st.sampled_from(["kwd", "bhd", "mga", "isk", "usd", "jpy"]), st.integers(min_value=0, max_value=10**12))
def test_chargeable_is_the_least_multiple_of_the_step_at_or_above(currency, amount):
    charged = chargeable(amount, currency)
    assert charged % step(currency) == 0 and amount <= charged < amount + step(currency)
    assert from_stripe(to_stripe(charged, currency), currency) == charged


def test_uyi_is_a_fund_code_not_a_currency_anyone_pays_in():
    assert "uyi" not in money.accepted_currencies()
    with pytest.raises(money.ValidationFailed):
        money.normalize_currency("UYI")
