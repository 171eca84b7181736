from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.errors import ValidationFailed
from billing.domain.pricing import Discount, LineInput, price


def line(qty, unit, rate="0"):
    return LineInput(description="x", quantity=qty, unit_amount=unit, tax_rate_percent=Decimal(rate))


def test_worked_example_with_percent_discount_and_mixed_tax():
    totals = price([line(2, 1999, "8.25"), line(1, 500, "0")], Discount(percent_off=Decimal("10")))
    assert totals.subtotal == 4498
    assert totals.discount == 450  # 449.8 -> 450
    assert [p.discount_amount for p in totals.lines] == [400, 50]  # 399.8 + 50.0 by largest remainder... exact
    assert [p.tax_amount for p in totals.lines] == [297, 0]  # (3998 - 400) * 8.25% = 296.835 -> 297
    assert totals.tax == 297
    assert totals.total == 4498 - 450 + 297


def test_amount_off_larger_than_subtotal_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        price([line(1, 100)], Discount(amount_off=101))
    assert caught.value.code == "discount_exceeds_subtotal"


def test_amount_off_of_the_whole_subtotal_makes_the_invoice_free():
    totals = price([line(1, 100, "20")], Discount(amount_off=100))
    assert (totals.discount, totals.tax, totals.total) == (100, 0, 0)


def test_zero_decimal_currency_amounts_stay_whole_units():
    totals = price([line(3, 1000, "10")])  # JPY: 3,000 yen + 10% consumption tax
    assert (totals.subtotal, totals.tax, totals.total) == (3000, 300, 3300)


def test_no_lines_is_refused():
    with pytest.raises(ValidationFailed):
        price([])


lines_strategy = st.lists(
    st.builds(
        line,
        st.integers(min_value=1, max_value=1000),
        st.integers(min_value=0, max_value=10**6),  # 20 lines stay under the ceiling, tax included
        st.decimals(min_value=0, max_value=100, places=4).map(str),
    ),
    min_size=1,
    max_size=20,
)
discount_strategy = st.one_of(
    st.none(),
    st.builds(lambda p: Discount(percent_off=p), st.decimals(min_value="0.0001", max_value=100, places=4)),
)


@given(lines=lines_strategy, discount=discount_strategy)
def test_total_is_subtotal_less_discount_plus_tax_to_the_unit(lines, discount):
    totals = price(lines, discount)
    assert totals.subtotal == sum(p.amount for p in totals.lines)
    assert totals.discount == sum(p.discount_amount for p in totals.lines)
    assert totals.tax == sum(p.tax_amount for p in totals.lines)
    assert totals.total == totals.subtotal - totals.discount + totals.tax
    assert 0 <= totals.discount <= totals.subtotal
    for p in totals.lines:
        assert 0 <= p.discount_amount <= p.amount
        assert p.tax_amount >= 0
        exact_tax = (p.amount - p.discount_amount) * p.tax_rate_percent / 100
        assert abs(p.tax_amount - exact_tax) <= Decimal("0.5")


@given(lines=lines_strategy, amount_off=st.integers(min_value=1, max_value=10**6))
def test_fixed_discount_is_taken_exactly_when_it_fits(lines, amount_off):
    subtotal = sum(li.quantity * li.unit_amount for li in lines)
    if amount_off > subtotal:
        with pytest.raises(ValidationFailed):
            price(lines, Discount(amount_off=amount_off))
    else:
        assert price(lines, Discount(amount_off=amount_off)).discount == amount_off


def test_a_total_above_the_ceiling_is_refused():
    from billing.domain.pricing import MAX_AMOUNT

    assert price([line(1, MAX_AMOUNT)]).total == MAX_AMOUNT
    with pytest.raises(ValidationFailed) as caught:
        price([line(1, MAX_AMOUNT, "0.01")])
    assert caught.value.code == "amount_too_large"


def test_the_ceiling_is_on_the_total_after_the_discount():
    from billing.domain.pricing import MAX_AMOUNT

    # a subtotal over the ceiling, brought under it by the discount: the total is what Stripe would charge
    totals = price([line(1, MAX_AMOUNT), line(1, 1000)], Discount(amount_off=1000))
    assert totals.total == MAX_AMOUNT
    with pytest.raises(ValidationFailed):
        price([line(1, MAX_AMOUNT), line(1, 1001)], Discount(amount_off=1000))
