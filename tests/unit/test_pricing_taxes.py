"""Tax rates (exclusive and inclusive) and discount lists in the invoice arithmetic: figures worked out by hand, and
the identities that hold for every mix (billing.domain.pricing; docs/money.md)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.errors import ValidationFailed
from billing.domain.money import minor_unit_exponent
from billing.domain.pricing import Discount, DiscountInput, LineInput, TaxRateRef, price

NY = TaxRateRef(id="txr_ny", display_name="Sales tax", percentage=Decimal("8.875"), jurisdiction="US-NY")
VAT20_INCL = TaxRateRef(id="txr_vat", display_name="VAT", percentage=Decimal(20), inclusive=True, jurisdiction="DE")
JCT10_INCL = TaxRateRef(id="txr_jct", display_name="消費税", percentage=Decimal(10), inclusive=True, jurisdiction="JP")


def line(qty, unit, rate=None, **kw):
    return LineInput(description="x", quantity=qty, unit_amount=unit, tax_rate=rate, **kw)


def test_an_inclusive_price_is_split_and_the_total_stays_the_price():
    totals = price([line(1, 11000, JCT10_INCL)])  # ¥11,000 including 10 %: 11000 x 10/110 = 1000 exactly
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (10000, 0, 1000, 11000)
    vat = price([line(1, 10000, VAT20_INCL)])  # €100.00 incl. 20 %: 10000 x 20/120 = 1666.67 -> 1667
    assert (vat.subtotal, vat.tax, vat.total) == (8333, 1667, 10000)
    assert vat.lines[0].amount == 10000 and vat.lines[0].net_amount == 8333


def test_included_tax_is_rounded_once_half_up():
    assert price([line(1, 63, JCT10_INCL)]).tax == 6  # 63 x 10/110 = 5.727 -> 6
    assert price([line(1, 9, VAT20_INCL)]).tax == 2  # 9 x 20/120 = 1.5 -> 2 (the half goes up), net 7
    assert price([line(1, 3, VAT20_INCL)]).subtotal == 2  # 3 x 20/120 = 0.5 -> 1 of tax, 2 net
    assert price([line(1, -9, VAT20_INCL)]).tax == -2  # a credit: the half goes away from zero too


def test_mixed_rates_with_a_coupon_worked_by_hand():
    # 2 x $19.99 taxed at New York's 8.875 % (exclusive) and 1 x 12.00 at 20 % VAT included, 20 % off everything:
    #   base 3998 + 1200 = 5198; 20 % = 1039.6 -> 1040, split 3998:1200 -> 799.9... : floors 799 / 240, the unit
    #   left goes to the larger remainder: 800 / 240
    #   line 1: 3998 - 800 = 3198, tax 3198 x 8.875 % = 283.8225 -> 284; costs 3482
    #   line 2: 1200 - 240 = 960 includes 960 x 20/120 = 160 of tax; net 1200 - 200 = 1000, net after discount 800
    #   subtotal 3998 + 1000 = 4998, discount 800 + 200 = 1000, tax 444, total 4442 = 3482 + 960
    coupon = DiscountInput(id="di_1", coupon_id="co_20", name="20 % off", percent_off=Decimal(20))
    totals = price([line(2, 1999, NY), line(1, 1200, VAT20_INCL)], discounts=[coupon])
    assert [p.discount_amount for p in totals.lines] == [800, 240]
    assert [p.tax_amount for p in totals.lines] == [284, 160]
    assert [p.net_amount for p in totals.lines] == [3998, 1000]
    assert [p.net_discount for p in totals.lines] == [800, 200]
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (4998, 1000, 444, 4442)
    assert [(d.id, d.amount) for d in totals.discounts] == [("di_1", 1000)]
    summary = [(s.tax_rate_id, s.taxable_amount, s.tax_amount, s.inclusive) for s in totals.tax_summary]
    assert summary == [("txr_ny", 3198, 284, False), ("txr_vat", 800, 160, True)]


def test_discounts_apply_in_order_on_what_is_still_owed_and_only_to_their_plans():
    # 10 % on everything first: 10000 + 5000 -> 1000 + 500; then 1000 off the add-on only, of the 4500 it still owes
    lines = [line(1, 10000, plan_id="plan_base"), line(1, 5000, plan_id="plan_addon")]
    first = DiscountInput(id="di_a", name="10 %", percent_off=Decimal(10))
    second = DiscountInput(id="di_b", name="1000 off add-on", amount_off=1000, plan_ids=["plan_addon"])
    totals = price(lines, discounts=[first, second])
    assert [p.discount_amount for p in totals.lines] == [1000, 1500]
    assert [(d.id, d.amount) for d in totals.discounts] == [("di_a", 1500), ("di_b", 1000)]
    assert totals.total == 15000 - 2500


def test_an_amount_off_larger_than_what_is_owed_is_capped_there():
    totals = price([line(1, 700)], discounts=[DiscountInput(id="di", name="big", amount_off=1000)])
    assert (totals.discount, totals.total) == (700, 0)


def test_an_orders_own_discount_comes_first_and_still_refuses_more_than_the_subtotal():
    totals = price([line(1, 1000)], Discount(amount_off=100), [DiscountInput(id="di", name="10 %", percent_off=10)])
    assert [(d.id, d.amount) for d in totals.discounts] == [("order", 100), ("di", 90)]
    with pytest.raises(ValidationFailed) as caught:
        price([line(1, 1000)], Discount(amount_off=1001))
    assert caught.value.code == "discount_exceeds_subtotal"


def test_credits_and_lines_marked_not_discountable_take_no_discount():
    lines = [line(1, 3000), line(1, -1000), line(1, 2000, discountable=False)]
    totals = price(lines, discounts=[DiscountInput(id="di", name="50 %", percent_off=50)])
    assert [p.discount_amount for p in totals.lines] == [1500, 0, 0]


def test_the_free_form_percent_still_works_as_an_exclusive_rate():
    totals = price([LineInput(description="x", quantity=1, unit_amount=1000, tax_rate_percent=Decimal("8.25"))])
    assert (totals.tax, totals.total) == (83, 1083)  # 82.5 -> 83
    assert totals.tax_summary[0].tax_rate_id is None and totals.tax_summary[0].percentage == Decimal("8.25")


# --- identities for every mix ------------------------------------------------------------------------------------

rates = st.one_of(
    st.none(),
    st.builds(
        lambda p, inclusive: TaxRateRef(id=f"txr_{p}_{inclusive}", display_name="T", percentage=p, inclusive=inclusive),
        st.decimals(min_value=0, max_value=100, places=4),
        st.booleans(),
    ),
)


@st.composite
def invoices(draw):
    exponent = minor_unit_exponent(draw(st.sampled_from(["jpy", "usd", "kwd"])))
    unit_max = 10 ** (4 + exponent)  # the same prices in yen, cents and fils: the rules have no exponent in them
    lines = draw(
        st.lists(
            st.builds(
                line,
                st.integers(min_value=1, max_value=50),
                st.integers(min_value=-unit_max, max_value=unit_max),
                rates,
                plan_id=st.sampled_from([None, "plan_a", "plan_b"]),
                discountable=st.booleans(),
            ),
            min_size=1,
            max_size=12,
        )
    )
    discounts = draw(
        st.lists(
            st.one_of(
                st.builds(
                    lambda p, plans: DiscountInput(id="di_p", name="p", percent_off=p, plan_ids=plans),
                    st.decimals(min_value="0.01", max_value=100, places=2),
                    st.sampled_from([None, ["plan_a"], ["plan_b", "plan_a"]]),
                ),
                st.builds(
                    lambda a: DiscountInput(id="di_a", name="a", amount_off=a),
                    st.integers(min_value=1, max_value=unit_max * 20),
                ),
            ),
            max_size=3,
        )
    )
    return lines, discounts


@given(invoices())
def test_total_is_subtotal_less_discount_plus_tax_for_every_mix_of_rates(invoice):
    lines, discounts = invoice
    totals = price(lines, discounts=discounts)
    assert totals.total == totals.subtotal - totals.discount + totals.tax
    assert totals.total == sum(p.total for p in totals.lines)  # what each line costs, summed
    assert totals.discount == sum(d.amount for d in totals.discounts)
    assert totals.tax == sum(s.tax_amount for s in totals.tax_summary)
    taxed = [p for p in totals.lines if p.tax_rate is not None]
    assert sum(s.taxable_amount for s in totals.tax_summary) == sum(p.net_amount - p.net_discount for p in taxed)
    for p, given_line in zip(totals.lines, lines, strict=True):
        rate = p.tax_rate
        after = p.amount - p.discount_amount
        if p.amount <= 0 or not given_line.discountable:
            assert p.discount_amount == 0
        else:
            assert 0 <= p.discount_amount <= p.amount
            assert 0 <= p.net_discount <= p.net_amount
        if rate is None:
            assert p.tax_amount == 0 and p.net_amount == p.amount
        elif rate.inclusive:  # the tax is the rounded share of what the customer pays
            assert abs(p.tax_amount - Decimal(after) * rate.percentage / (100 + rate.percentage)) <= Decimal("0.5")
        else:
            assert abs(p.tax_amount - Decimal(after) * rate.percentage / 100) <= Decimal("0.5")
