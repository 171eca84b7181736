from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.domain.errors import ValidationFailed
from billing.domain.plans import Interval, Plan, PlanPrice, PlanRequest, Tier, amount_for, lines_for
from billing.domain.pricing import MAX_AMOUNT

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

TIERS = [
    Tier(up_to=10, unit_amount=100),
    Tier(up_to=100, unit_amount=80, flat_amount=500),
    Tier(up_to=None, unit_amount=50, flat_amount=1000),
]


def tiered(scheme, tiers=TIERS):
    return PlanPrice(currency="usd", scheme=scheme, tiers=tiers)


def request(**overrides):
    body = {
        "name": "Pro plan",
        "interval": {"unit": "month", "count": 1},
        "usage": "licensed",
        "prices": [{"currency": "USD", "scheme": "per_unit", "amount": 1500}],
    }
    body.update(overrides)
    return PlanRequest.model_validate(body)


# --- amount_for: worked examples -------------------------------------------------------------------------------------


def test_flat_is_the_amount_whatever_the_quantity():
    price = PlanPrice(currency="usd", scheme="flat", amount=4900)
    assert [amount_for(price, q) for q in (0, 1, 7)] == [4900, 4900, 4900]
    free = PlanPrice(currency="usd", scheme="flat", amount=0)  # a free plan bills nothing, not one cent
    assert [amount_for(free, q) for q in (0, 1, 7)] == [0, 0, 0]


def test_per_unit_is_quantity_times_amount():
    price = PlanPrice(currency="usd", scheme="per_unit", amount=1500)
    assert amount_for(price, 3) == 4500
    assert amount_for(price, 0) == 0
    assert amount_for(PlanPrice(currency="usd", scheme="per_unit", amount=0), 5) == 0


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (0, 0),  # no tier reached, no flat fee
        (1, 100),
        (10, 1000),
        (11, 1000 + 80 + 500),  # the second tier's flat fee is due with its first unit
        (100, 1000 + 90 * 80 + 500),
        (101, 1000 + 90 * 80 + 500 + 50 + 1000),
        (250, 1000 + 90 * 80 + 500 + 150 * 50 + 1000),
    ],
)
def test_graduated_charges_each_unit_at_its_own_tier(quantity, expected):
    assert amount_for(tiered("tiered_graduated"), quantity) == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [(0, 0), (1, 100), (10, 1000), (11, 11 * 80 + 500), (100, 100 * 80 + 500), (101, 101 * 50 + 1000)],
)
def test_volume_charges_every_unit_at_the_tier_of_the_total(quantity, expected):
    assert amount_for(tiered("tiered_volume"), quantity) == expected


def test_volume_can_cost_less_for_more_so_it_is_not_monotone():
    volume = tiered("tiered_volume")
    assert amount_for(volume, 10) == 1000
    assert amount_for(volume, 11) == 1380
    assert amount_for(volume, 101) == 6050 < amount_for(volume, 100) == 8500  # the next tier is cheaper per unit


def test_negative_quantity_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        amount_for(tiered("tiered_graduated"), -1)
    assert caught.value.code == "negative_quantity"


# --- amount_for: properties against a unit-by-unit brute force --------------------------------------------------------


@st.composite
def tier_lists(draw):
    count = draw(st.integers(min_value=1, max_value=5))
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=60), min_size=count - 1, max_size=count - 1)))
    amounts = st.integers(min_value=0, max_value=10_000)
    return [Tier(up_to=up_to, unit_amount=draw(amounts), flat_amount=draw(amounts)) for up_to in [*bounds, None]]


def tier_of(tiers, unit):
    """The tier a 1-based unit falls in, found by walking the tiers."""
    for tier in tiers:
        if tier.up_to is None or unit <= tier.up_to:
            return tier
    raise AssertionError("the last tier is open")


def brute_graduated(tiers, quantity):
    reached = []
    total = 0
    for unit in range(1, quantity + 1):
        tier = tier_of(tiers, unit)
        total += tier.unit_amount
        if not any(t is tier for t in reached):
            reached.append(tier)
            total += tier.flat_amount
    return total


def brute_volume(tiers, quantity):
    if quantity == 0:
        return 0
    tier = tier_of(tiers, quantity)
    return sum(tier.unit_amount for _ in range(quantity)) + tier.flat_amount


@settings(max_examples=150)
@given(tiers=tier_lists(), quantity=st.integers(min_value=0, max_value=150))
def test_tiered_amounts_match_a_unit_by_unit_brute_force(tiers, quantity):
    assert amount_for(tiered("tiered_graduated", tiers), quantity) == brute_graduated(tiers, quantity)
    assert amount_for(tiered("tiered_volume", tiers), quantity) == brute_volume(tiers, quantity)


@settings(max_examples=150)
@given(tiers=tier_lists(), quantity=st.integers(min_value=0, max_value=150), more=st.integers(0, 80))
def test_graduated_never_costs_less_for_more(tiers, quantity, more):
    price = tiered("tiered_graduated", tiers)
    assert amount_for(price, quantity + more) >= amount_for(price, quantity)


@given(amount=st.integers(min_value=0, max_value=MAX_AMOUNT), quantity=st.integers(min_value=0, max_value=10**6))
def test_a_single_open_tier_is_per_unit_plus_its_flat_fee(amount, quantity):
    one = [Tier(up_to=None, unit_amount=amount, flat_amount=7)]
    per_unit = PlanPrice(currency="usd", scheme="per_unit", amount=amount)
    fee = 7 if quantity else 0
    assert amount_for(tiered("tiered_graduated", one), quantity) == amount_for(per_unit, quantity) + fee
    assert amount_for(tiered("tiered_volume", one), quantity) == amount_for(per_unit, quantity) + fee


# --- price validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "usd", "scheme": "flat"},  # no amount
        {"currency": "usd", "scheme": "per_unit", "amount": -1},
        {"currency": "usd", "scheme": "per_unit", "amount": MAX_AMOUNT + 1},
        {"currency": "usd", "scheme": "per_unit", "amount": True},  # a boolean is not an amount
        {"currency": "usd", "scheme": "per_unit", "amount": "100"},
        {"currency": "usd", "scheme": "per_unit", "amount": 100, "tiers": [{"up_to": None, "unit_amount": 1}]},
        {"currency": "usd", "scheme": "tiered_graduated"},  # no tiers
        {"currency": "usd", "scheme": "tiered_graduated", "tiers": []},
        {"currency": "usd", "scheme": "tiered_volume", "amount": 5, "tiers": [{"up_to": None}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": 10}]},  # last tier not open
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": None}, {"up_to": None}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": 10}, {"up_to": 10}, {"up_to": None}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": 20}, {"up_to": 10}, {"up_to": None}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": 0}, {"up_to": None}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": None, "unit_amount": -1}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": None, "flat_amount": MAX_AMOUNT + 1}]},
        {"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": None, "colour": "red"}]},
        {"currency": "usd", "scheme": "monthly", "amount": 5},
    ],
)
def test_malformed_prices_are_refused(body):
    with pytest.raises(ValidationError):
        PlanPrice.model_validate(body)


def test_price_currency_is_normalized_and_unknown_ones_refused():
    assert PlanPrice(currency=" EUR ", scheme="flat", amount=1).currency == "eur"
    with pytest.raises(ValidationFailed) as caught:
        PlanPrice(currency="eurx", scheme="flat", amount=1)
    assert caught.value.code == "unknown_currency"


def test_interval_count_is_1_to_36_and_strict():
    assert Interval(unit="year", count=36).count == 36
    for bad in ({"unit": "month", "count": 0}, {"unit": "month", "count": 37}, {"unit": "day", "count": 1}):
        with pytest.raises(ValidationError):
            Interval.model_validate(bad)
    with pytest.raises(ValidationError):
        Interval.model_validate({"unit": "month", "count": "1"})


# --- plans ----------------------------------------------------------------------------------------------------------


def test_create_keys_prices_by_currency_and_raises_an_event():
    req = request(
        prices=[
            {"currency": "USD", "scheme": "per_unit", "amount": 1500},
            {"currency": "eur", "scheme": "per_unit", "amount": 1400},
        ],
        trial_days=14,
    )
    plan, events = Plan.create("ten_1", req, NOW)
    assert plan.id.startswith("plan_")
    assert sorted(plan.prices) == ["eur", "usd"]
    assert plan.prices["usd"].amount == 1500
    assert (plan.trial_days, plan.interval, plan.usage, plan.created_at) == (
        14,
        Interval(unit="month"),
        "licensed",
        NOW,
    )
    assert [e.type for e in events] == ["plan.created"]
    assert events[0].aggregate_id == plan.id
    assert plan.price_for("EUR").amount == 1400


def test_a_currency_without_a_price_is_refused():
    plan, _ = Plan.create("ten_1", request(), NOW)
    with pytest.raises(ValidationFailed) as caught:
        plan.price_for("jpy")
    assert caught.value.code == "no_price_for_currency"


def test_two_prices_in_one_currency_are_refused():
    with pytest.raises(ValidationFailed) as caught:
        request(
            prices=[
                {"currency": "usd", "scheme": "flat", "amount": 1},
                {"currency": "USD", "scheme": "flat", "amount": 2},
            ]
        )
    assert caught.value.code == "duplicate_currency"


def test_a_metered_plan_may_not_have_a_flat_price():
    with pytest.raises(ValidationFailed) as caught:
        request(usage="metered", prices=[{"currency": "usd", "scheme": "flat", "amount": 100}])
    assert caught.value.code == "flat_price_on_metered_plan"
    assert request(usage="metered").usage == "metered"


@pytest.mark.parametrize(
    "overrides",
    [
        {"trial_days": True},
        {"trial_days": -1},
        {"trial_days": 731},
        {"name": ""},
        {"prices": []},
        {"colour": "red"},
        {"interval": {"unit": "month", "count": 1, "anchor": 3}},
        {"usage": "prepaid"},
    ],
)
def test_bad_plan_requests_are_refused(overrides):
    with pytest.raises(ValidationError):
        request(**overrides)


def test_a_stored_plan_reloads_from_json():
    plan, _ = Plan.create(
        "ten_1",
        request(prices=[{"currency": "usd", "scheme": "tiered_volume", "tiers": [t.model_dump() for t in TIERS]}]),
        NOW,
    )
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


# --- lines_for -------------------------------------------------------------------------------------------------------

START = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # 00:00 in New York
END = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # 00:00 in New York, after the clocks went forward


def test_per_unit_line_names_the_plan_quantity_and_local_period():
    plan, _ = Plan.create("ten_1", request(), NOW)
    [line] = lines_for(plan, plan.prices["usd"], 3, START, END, tz="America/New_York")
    assert line.description == "Pro plan × 3 (1 Mar 2026 – 1 Apr 2026)"
    assert (line.quantity, line.unit_amount) == (3, 1500)


def test_period_dates_are_the_customers_local_dates():
    plan, _ = Plan.create("ten_1", request(), NOW)
    [line] = lines_for(plan, plan.prices["usd"], 1, START, END, tz="Asia/Tokyo")
    assert line.description == "Pro plan × 1 (1 Mar 2026 – 1 Apr 2026)"  # 14:00 / 13:00 in Tokyo: same dates
    [line] = lines_for(plan, plan.prices["usd"], 1, START, END, tz="Pacific/Honolulu")
    assert line.description == "Pro plan × 1 (28 Feb 2026 – 31 Mar 2026)"


def test_flat_line_is_one_unit_of_the_amount():
    [line] = lines_for("Basic", PlanPrice(currency="usd", scheme="flat", amount=900), 1, START, END)
    assert (line.description, line.quantity, line.unit_amount) == ("Basic (1 Mar 2026 – 1 Apr 2026)", 1, 900)


def test_tiered_line_is_one_unit_of_the_tiered_amount_and_names_the_quantity():
    [line] = lines_for("API calls", tiered("tiered_graduated"), 101, START, END)
    assert line.quantity == 1
    assert line.unit_amount == amount_for(tiered("tiered_graduated"), 101)
    assert line.description == "API calls – 101 units, graduated tiers (1 Mar 2026 – 1 Apr 2026)"
    [line] = lines_for("API calls", tiered("tiered_volume"), 1, START, END)
    assert line.description == "API calls – 1 unit, volume tiers (1 Mar 2026 – 1 Apr 2026)"
