from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.errors import ValidationFailed
from billing.domain.money import allocate, minor_unit_exponent, normalize_currency, percent_of, round_minor, to_major


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("usd", 2), ("eur", 2), ("jpy", 0), ("krw", 0), ("kwd", 3), ("bhd", 3), ("cny", 2), ("rub", 2)],
)
def test_minor_unit_exponents_follow_iso_4217(currency, exponent):
    assert minor_unit_exponent(currency) == exponent


def test_to_major_is_exact():
    assert to_major(1234, "usd") == Decimal("12.34")
    assert to_major(1234, "jpy") == Decimal("1234")
    assert to_major(1234, "kwd") == Decimal("1.234")


def test_unknown_currency_is_refused_and_codes_are_lower_cased():
    assert normalize_currency(" USD ") == "usd"
    with pytest.raises(ValidationFailed) as caught:
        normalize_currency("usdx")
    assert caught.value.code == "unknown_currency"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", 1), ("1.5", 2), ("2.5", 3), ("2.4999", 2), ("-0.5", -1), ("7", 7)],
)
def test_rounding_rule_is_half_up(value, expected):
    assert round_minor(Decimal(value)) == expected


def test_percent_of_rounds_once():
    assert percent_of(1999, Decimal("8.25")) == 165  # 164.9175
    assert percent_of(250, Decimal("10")) == 25
    assert percent_of(5, Decimal("10")) == 1  # 0.5 rounds up


@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=30),
)
def test_allocation_is_exact_and_proportional(total, weights):
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    if sum(weights) == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        share = Decimal(total) * weight / sum(weights)
        assert share - 1 < part < share + 1  # never more than one unit from the exact share
        if total <= sum(weights):
            assert part <= weight


def test_allocation_gives_leftover_units_to_largest_remainders():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(10, [50, 30, 20]) == [5, 3, 2]
    assert allocate(1, [1, 2]) == [0, 1]
    assert allocate(3, [4, 1]) == [2, 1]  # shares 2.4 and 0.6: the leftover unit goes to the 0.6, not the 2.4
    assert allocate(5, [1, 1]) == [3, 2]  # a tie: the earlier part
    assert allocate(0, [1, 2]) == [0, 0] and allocate(7, [0, 0]) == [0, 0]


@given(
    total=st.integers(min_value=0, max_value=10**6),
    weights=st.lists(st.integers(min_value=0, max_value=10**5), min_size=1, max_size=12),
)
def test_allocation_is_the_largest_remainder_method_exactly(total, weights):
    from fractions import Fraction

    if sum(weights) == 0:
        return
    shares = [Fraction(total * w, sum(weights)) for w in weights]
    floors = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[: total - sum(floors)]:
        floors[i] += 1
    assert allocate(total, weights) == floors
