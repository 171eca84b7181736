"""Coupons, promotion codes and applied discounts (billing.domain.coupons): every refusal, the durations, the
mid-period rule and proration with a discount, with figures worked out by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.domain.coupons import (
    Coupon,
    CouponTerms,
    Discount,
    PaidShare,
    PromotionCode,
    Restrictions,
    check_applicable,
    discount_proration,
    effective,
    normalize_code,
    paid_shares,
)
from billing.domain.errors import Conflict, IllegalTransition, ValidationFailed
from billing.domain.pricing import LineInput, price
from billing.domain.proration import ProrationLine

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def coupon(**kw) -> Coupon:
    terms = {"name": "Launch", "duration": "once", "percent_off": Decimal(20), **kw}
    return Coupon.create("t_1", NOW, **terms)[0]


def promo(c: Coupon | None = None, **kw) -> PromotionCode:
    return PromotionCode.create("t_1", c or coupon(), NOW, code=kw.pop("code", "Spring20"), **kw)[0]


# --- coupons -------------------------------------------------------------------------------------------------------
def test_a_coupon_is_percent_xor_amount_off_with_exact_terms():
    assert coupon().id.startswith("co_")
    assert coupon(id="SPRING-2026").id == "SPRING-2026"
    assert coupon(percent_off=Decimal("12.5")).percent_off == Decimal("12.5")
    amount = coupon(percent_off=None, amount_off={"USD": 500, "jpy": 500})
    assert amount.amount_off == {"usd": 500, "jpy": 500}
    bad = [
        {"percent_off": None},
        {"amount_off": {"usd": 5}},  # both
        {"percent_off": Decimal(0)},
        {"percent_off": Decimal("100.01")},
        {"percent_off": Decimal("12.345")},  # at most 2 decimals
        {"percent_off": 12.5},  # a float is never a percent
        {"percent_off": None, "amount_off": {}},
        {"percent_off": None, "amount_off": {"usd": 0}},
        {"duration": "repeating"},
        {"duration": "repeating", "duration_in_periods": 121},
        {"duration": "forever", "duration_in_periods": 3},
        {"max_redemptions": 0},
        {"redeem_by": NOW},
        {"applies_to_plans": []},
        {"id": "no spaces"},
    ]
    for terms in bad:
        with pytest.raises(ValidationFailed):
            coupon(**terms)


def test_only_name_and_metadata_change_and_an_archived_coupon_takes_no_redemptions():
    c = coupon(metadata={"campaign": "spring"})
    renamed, events = c.update(NOW, name="Spring", metadata={"campaign": None, "team": "growth"})
    assert (renamed.name, renamed.metadata) == ("Spring", {"team": "growth"})
    assert events[0].type == "coupon.updated"
    assert events[0].data["changes"]["name"] == {"before": "Launch", "after": "Spring"}
    assert c.update(NOW, name="Launch") == (c, [])  # nothing changed: no event
    archived, events = c.archive(NOW)
    assert archived.status == "archived" and events[0].type == "coupon.archived"
    with pytest.raises(IllegalTransition):
        archived.archive(NOW)
    with pytest.raises(Conflict, match="archived"):
        archived.check_redeemable(NOW, "usd")
    assert not archived.valid_at(NOW) and c.valid_at(NOW)


@pytest.mark.parametrize(
    ("terms", "at", "currency", "code"),
    [
        ({"redeem_by": NOW + timedelta(days=1)}, NOW + timedelta(days=1), "usd", "coupon_expired"),
        ({"max_redemptions": 3}, NOW, "usd", "coupon_max_redemptions"),
        ({"percent_off": None, "amount_off": {"usd": 500}}, NOW, "eur", "coupon_currency"),
    ],
)
def test_coupon_refusals(terms, at, currency, code):
    c = coupon(**terms)
    if "max_redemptions" in terms:
        c = c.model_copy(update={"times_redeemed": 3})
    with pytest.raises(Conflict) as refused:
        c.check_redeemable(at, currency)
    assert refused.value.code == code
    assert not c.valid_at(at) or code == "coupon_currency"


def test_a_coupon_for_listed_plans_needs_one_of_them():
    terms = coupon(applies_to_plans=["plan_pro"]).terms()
    check_applicable(terms, ["plan_basic", "plan_pro"])
    with pytest.raises(Conflict) as refused:
        check_applicable(terms, ["plan_basic", None])
    assert refused.value.code == "coupon_not_applicable"
    check_applicable(coupon().terms(), [None])  # a coupon for every plan applies to any line


# --- promotion codes -----------------------------------------------------------------------------------------------
def test_codes_are_unique_in_any_case_and_well_formed():
    assert normalize_code("spring20") == normalize_code("SPRING20") == promo().lookup
    for bad in ("ab", "x" * 65, "has space", "ünï"):
        with pytest.raises(ValidationFailed):
            normalize_code(bad)


def refusal(p: PromotionCode, *, at=NOW, currency="usd", has_invoice=False, amount=None, mine=0) -> str | None:
    try:
        p.check_redeemable(at, currency, has_invoice=has_invoice, amount=amount, customer_redemptions=mine)
    except Conflict as error:
        return error.code
    return None


def test_promotion_code_refusals():
    assert refusal(promo()) is None
    assert refusal(promo(active=False)) == "promotion_code_inactive"
    assert refusal(promo(expires_at=NOW + timedelta(hours=1)), at=NOW + timedelta(hours=1)) == "promotion_code_expired"
    used_up = promo(max_redemptions=2).model_copy(update={"times_redeemed": 2})
    assert refusal(used_up) == "promotion_code_max_redemptions"
    once_each = promo(restrictions=Restrictions(per_customer_limit=1))
    assert refusal(once_each, mine=1) == "promotion_code_customer_limit" and refusal(once_each) is None
    first = promo(restrictions=Restrictions(first_time_transaction=True))
    assert refusal(first, has_invoice=True) == "promotion_code_first_time_only" and refusal(first) is None
    minimum = promo(restrictions=Restrictions(minimum_amount={"USD": 5000}))
    assert minimum.restrictions.minimum_amount == {"usd": 5000}
    assert refusal(minimum, amount=4999) == "promotion_code_minimum_amount"
    assert refusal(minimum, amount=5000) is None
    assert refusal(minimum, currency="eur", amount=9999) == "promotion_code_minimum_amount"  # no minimum in eur
    assert refusal(promo(restrictions=Restrictions(minimum_amount={})), amount=1) is None  # {}: no minimum
    with pytest.raises(Conflict):
        promo(coupon().archive(NOW)[0])  # no new code for an archived coupon
    with pytest.raises(ValidationFailed):
        promo(expires_at=NOW)


def test_deactivating_a_code_is_an_update_event():
    p = promo()
    off, events = p.set_active(False, NOW)
    assert not off.active and events[0].type == "promotion_code.updated"
    assert events[0].data["changes"] == {"active": {"before": True, "after": False}}
    assert off.set_active(False, NOW) == (off, [])


# --- durations -----------------------------------------------------------------------------------------------------
PERIOD = timedelta(days=30)


def test_once_discounts_the_first_invoice_only():
    d = Discount.apply(coupon(), "cus_1", NOW, subscription_id="sub_1")
    assert d.id.startswith("di_") and d.in_effect(NOW) and d.end is None
    after, ended = d.after_invoice(NOW + PERIOD, NOW + timedelta(hours=1))
    assert ended and after.end == NOW + timedelta(hours=1)
    assert not after.in_effect(NOW + PERIOD)  # the next period's start


def test_repeating_discounts_n_periods_and_ends_with_the_nth():
    d = Discount.apply(coupon(duration="repeating", duration_in_periods=3), "cus_1", NOW, subscription_id="sub_1")
    assert d.periods_left == 3
    starts = [NOW + PERIOD * k for k in range(5)]
    discounted = []
    for k, start in enumerate(starts):
        if d.in_effect(start):
            discounted.append(k)
            d, ended = d.after_invoice(start + PERIOD, start)
            assert ended == (k == 2)
    assert discounted == [0, 1, 2]
    assert d.end == starts[3] and d.periods_left == 0 and d.invoices == 3


def test_a_customers_repeating_discount_lasts_months_from_its_start_and_forever_never_ends():
    d = Discount.apply(coupon(duration="repeating", duration_in_periods=2), "cus_1", NOW)
    assert d.end == datetime(2026, 5, 1, 12, 0, tzinfo=UTC) and d.periods_left is None
    assert d.after_invoice(None, NOW)[1] is False  # invoices do not use it up
    forever = Discount.apply(coupon(duration="forever"), "cus_1", NOW, subscription_id="sub_1")
    for _ in range(50):
        forever, ended = forever.after_invoice(NOW + PERIOD, NOW)
        assert not ended
    assert forever.in_effect(NOW + PERIOD * 100)


def test_mid_period_rule_a_discount_applies_to_invoices_whose_period_starts_while_it_is_in_effect():
    period_start = NOW
    attached = Discount.apply(coupon(duration="forever"), "cus_1", NOW + timedelta(days=10), subscription_id="s")
    assert not attached.in_effect(period_start)  # started mid-period: this period's invoice is not discounted
    assert attached.in_effect(period_start + PERIOD)  # the next one is
    removed = Discount.apply(coupon(duration="forever"), "cus_1", NOW - PERIOD, subscription_id="s").removed(
        NOW + timedelta(days=10)
    )
    assert removed.in_effect(period_start)  # this period was discounted ...
    assert not removed.in_effect(period_start + PERIOD)  # ... the next is not


def test_the_subscriptions_own_discount_wins_over_its_customers():
    own = Discount.apply(coupon(), "cus_1", NOW, subscription_id="s")
    theirs = Discount.apply(coupon(percent_off=Decimal(50)), "cus_1", NOW)
    assert effective(own, theirs, NOW) is own
    assert effective(None, theirs, NOW) is theirs
    assert effective(own.removed(NOW), theirs, NOW) is theirs
    assert effective(None, None, NOW) is None


def test_as_input_takes_the_amount_in_the_invoices_currency():
    d = Discount.apply(coupon(percent_off=None, amount_off={"usd": 500}, applies_to_plans=["p"]), "c", NOW)
    given = d.as_input("usd")
    assert (given.id, given.amount_off, given.percent_off, given.plan_ids) == (d.id, 500, None, ["p"])
    with pytest.raises(Conflict):
        d.as_input("eur")
    totals = price(
        [
            LineInput(description="Pro", quantity=1, unit_amount=2000, plan_id="p"),
            LineInput(description="Other", quantity=1, unit_amount=1000, plan_id="q"),
        ],
        discounts=[given],
    )
    assert (totals.discount, totals.total) == (500, 2500)
    assert [(x.name, x.amount) for x in totals.discounts] == [("Launch", 500)]


# --- proration in a discounted period --------------------------------------------------------------------------------
TWENTY = CouponTerms(id="co_1", name="20 %", percent_off=Decimal(20), duration="forever")


def lines(*specs):
    return [ProrationLine(key=k, kind=kind, description=f"{kind} {k}", amount=a) for k, kind, a in specs]


def test_a_credit_gives_back_what_was_paid_and_the_rest_is_discounted_when_in_effect():
    # Pro at 3000 a period, 20 % off: paid 2400. Half-way, a change to Team at 5000:
    #   credit -1500 x 2400/3000 = -1200; charge 2500 - 20 % (500) = 2000
    paid = {"pro": PaidShare(paid=2400, charged=3000, label="20 % off")}
    out, after = discount_proration(lines(("pro", "credit", -1500), ("team", "charge", 2500)), paid, TWENTY)
    assert [(x.amount, x.discountable) for x in out] == [(-1200, False), (2000, False)]
    assert out[0].description == "credit pro (20 % off)" and out[1].description == "charge team (20 % off)"
    assert after["team"] == PaidShare(paid=2000, charged=2500, label="20 % off")


def test_a_discount_that_ended_mid_period_credits_the_discounted_price_and_charges_in_full():
    paid = {"pro": PaidShare(paid=2400, charged=3000, label="20 % off")}
    out, _ = discount_proration(lines(("pro", "credit", -1500), ("team", "charge", 2500)), paid, None)
    assert [x.amount for x in out] == [-1200, 2500]
    assert out[1].description == "charge team"


def test_a_discount_that_started_mid_period_credits_in_full_and_discounts_the_rest():
    out, _ = discount_proration(lines(("pro", "credit", -1500), ("team", "charge", 2500)), {}, TWENTY)
    assert [x.amount for x in out] == [-1500, 2000]


def test_chained_changes_never_credit_more_than_was_paid():
    paid = {"pro": PaidShare(paid=2400, charged=3000, label="20 % off")}
    first, paid = discount_proration(lines(("pro", "credit", -1500), ("team", "charge", 2500)), paid, TWENTY)
    # later, 1/4 of the period left: the Team charge (2500 for half a period) is credited for half of it
    second, _ = discount_proration(lines(("team", "credit", -1250), ("pro", "charge", 750)), paid, None)
    assert second[0].amount == -1000  # 1250 x 2000/2500
    assert -second[0].amount <= first[1].amount


def test_rounding_of_a_discounted_credit_is_half_up_once():
    paid = {"p": PaidShare(paid=667, charged=1000, label="33.3 % off")}  # 1000 - 33.3 % (333)
    out, _ = discount_proration(lines(("p", "credit", -333)), paid, None)
    assert out[0].amount == -222  # 333 x 0.667 = 222.111 -> 222
    plain = CouponTerms(id="c", name="x", percent_off=Decimal("12.5"), duration="once", applies_to_plans=["a"])
    out, _ = discount_proration(lines(("a", "charge", 1001), ("b", "charge", 1001)), {}, plain)
    assert [x.amount for x in out] == [876, 1001]  # 1001 x 12.5 % = 125.125 -> 125 off; b is not a listed plan


def test_an_amount_off_is_not_taken_on_a_proration_charge_but_its_share_is_on_the_credit():
    amount = CouponTerms(id="c", name="5 off", amount_off={"usd": 500}, duration="forever")
    paid = {"pro": PaidShare(paid=2500, charged=3000, label="discount taken")}
    out, _ = discount_proration(lines(("pro", "credit", -1500), ("team", "charge", 2500)), paid, amount)
    assert [x.amount for x in out] == [-1250, 2500]
    assert out[0].description.endswith("(discount taken)")


def test_paid_shares_sum_what_each_plans_lines_charged_and_paid():
    totals = price(
        [
            LineInput(description="Pro", quantity=1, unit_amount=3000, plan_id="pro"),
            LineInput(description="Seat", quantity=3, unit_amount=1000, plan_id="seat"),
        ],
        discounts=[Discount.apply(coupon(applies_to_plans=["pro"]), "c", NOW).as_input("usd")],
    )
    shares = paid_shares(totals.lines)
    assert shares == {"pro": PaidShare(paid=2400, charged=3000), "seat": PaidShare(paid=3000, charged=3000)}
