"""Taxes, pure: tax ids checked and compacted, the rate's immutability, and the table of which rate a line gets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.domain.errors import ValidationFailed
from billing.domain.models import Address, TaxId
from billing.domain.tax import (
    PlaceRule,
    TaxRate,
    TaxSettings,
    ordered_rules,
    resolve,
    validated_tax_id,
    validated_tax_ids,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("type_", "given", "stored"),
    [
        ("eu_vat", "de 136 695 976", "DE136695976"),
        ("eu_vat", "FR 40 303 265 045", "FR40303265045"),
        ("eu_vat", "EL 094259216", "EL094259216"),
        ("ru_inn", "7707083893", "7707083893"),  # an organisation: 10 digits
        ("ru_inn", "500100732259", "500100732259"),  # a person: 12 digits
        ("cn_uscc", "91110000600037341L", "91110000600037341L"),
        ("gb_vat", "GB 980 7806 84", "980780684"),
        ("us_ein", "04-2103594", "042103594"),
        ("ch_vat", "CHE-107.787.577 IVA", "CHE107787577IVA"),
        ("no_vat", "NO 995 525 828 MVA", "995525828MVA"),
        ("au_abn", "83 914 571 673", "83914571673"),
    ],
)
def test_a_valid_tax_id_is_kept_compact(type_, given, stored):
    assert validated_tax_id(type_, given) == TaxId(type=type_, value=stored)


@pytest.mark.parametrize(
    ("type_", "given"),
    [
        ("eu_vat", "DE136695977"),  # check digit
        ("eu_vat", "US136695976"),  # no EU country
        ("eu_vat", "DE13669597"),  # length
        ("ru_inn", "7707083894"),
        ("ru_inn", "77070838"),
        ("cn_uscc", "91110000600037341M"),
        ("cn_uscc", "9111000060003734"),
        ("gb_vat", "GB980780685"),
        ("us_ein", "07-1234567"),  # 07 is no campus prefix
        ("ch_vat", "CHE-107.787.578 IVA"),
        ("no_vat", "995525829MVA"),
        ("au_abn", "83914571674"),
    ],
)
def test_an_invalid_tax_id_is_refused_naming_its_type(type_, given):
    with pytest.raises(ValidationFailed) as refused:
        validated_tax_id(type_, given)
    assert refused.value.code == "invalid_tax_id" and refused.value.extra["tax_id_type"] == type_


def test_at_most_five_tax_ids_and_none_twice():
    one = TaxId(type="eu_vat", value="DE136695976")
    with pytest.raises(ValidationFailed, match="at most 5"):
        validated_tax_ids([one] * 6)
    with pytest.raises(ValidationFailed) as twice:
        validated_tax_ids([one, TaxId(type="eu_vat", value="de 136695976")])
    assert twice.value.code == "duplicate_tax_id"


def _rate(percentage="20", inclusive=False, jurisdiction=None, active=True, name="VAT") -> TaxRate:
    rate, _ = TaxRate.create(
        "ten_1", NOW, display_name=name, percentage=Decimal(percentage), inclusive=inclusive, jurisdiction=jurisdiction
    )
    return rate if active else rate.model_copy(update={"active": False})


def test_a_rate_changes_only_its_name_and_whether_it_is_active():
    rate = _rate()
    renamed, event = rate.updated({"display_name": "MwSt", "active": False}, NOW)
    assert (renamed.display_name, renamed.active, renamed.percentage) == ("MwSt", False, Decimal(20))
    assert event.type == "tax_rate.updated"
    assert event.data["changes"] == {
        "display_name": {"before": "VAT", "after": "MwSt"},
        "active": {"before": True, "after": False},
    }
    for field, value in [
        ("percentage", Decimal(19)),
        ("inclusive", True),
        ("jurisdiction", "FR"),
        ("description", "x"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            rate.updated({field: value}, NOW)
        assert refused.value.code == "tax_rate_immutable" and refused.value.extra["fields"] == [field]
    same, none = rate.updated({"display_name": "VAT"}, NOW)
    assert same == rate and none is None


@pytest.mark.parametrize(
    ("percentage", "ok"),
    [("0", True), ("100", True), ("8.8750", True), ("8.87501", False), ("100.01", False), ("-1", False)],
)
def test_a_percentage_is_0_to_100_with_at_most_4_decimals(percentage, ok):
    if ok:
        assert _rate(percentage).percentage == Decimal(percentage)
    else:
        with pytest.raises(ValidationFailed):
            _rate(percentage)


@pytest.mark.parametrize("jurisdiction", ["US", "US-NY", "DE", "GB-ENG", "CN-11"])
def test_a_jurisdiction_is_a_country_or_a_subdivision(jurisdiction):
    assert _rate(jurisdiction=jurisdiction).jurisdiction == jurisdiction


@pytest.mark.parametrize("jurisdiction", ["us", "USA", "US-", "US-NEWY", "US NY", ""])
def test_a_jurisdiction_of_another_shape_is_refused(jurisdiction):
    with pytest.raises(ValidationFailed) as refused:
        _rate(jurisdiction=jurisdiction)
    assert refused.value.code == "invalid_jurisdiction"


def test_the_ref_is_a_snapshot_of_the_rate():
    rate = _rate("8.875", jurisdiction="US-NY", name="Sales tax")
    ref = rate.ref()
    assert (ref.id, ref.display_name, ref.percentage, ref.inclusive, ref.jurisdiction) == (
        rate.id,
        "Sales tax",
        Decimal("8.875"),
        False,
        "US-NY",
    )


# --- which rate a line gets ---------------------------------------------------------------------------------------
LINE, PLAN, NY, US, DEFAULT, OLD = (
    _rate("1", name="line"),
    _rate("2", name="plan"),
    _rate("8.875", name="NY", jurisdiction="US-NY"),
    _rate("4", name="US", jurisdiction="US"),
    _rate("19", name="default"),
    _rate("7", name="old", active=False),
)
RATES = {r.id: r for r in (LINE, PLAN, NY, US, DEFAULT, OLD)}
SETTINGS = TaxSettings(
    default_tax_rate_id=DEFAULT.id,
    rules=[PlaceRule(country="US", tax_rate_id=US.id), PlaceRule(country="US", region="NY", tax_rate_id=NY.id)],
)
NEW_YORK, TEXAS, BERLIN = (
    Address(country="US", state="ny"),
    Address(country="US", state="TX"),
    Address(country="DE", city="Berlin"),
)
VAT_ID = [TaxId(type="eu_vat", value="DE136695976")]


@pytest.mark.parametrize(
    ("exempt", "line", "plan", "address", "settings", "expected"),
    [
        ("none", LINE.id, PLAN.id, NEW_YORK, SETTINGS, "line"),  # the line's own rate first
        ("none", None, PLAN.id, NEW_YORK, SETTINGS, "plan"),  # then the plan's
        ("none", None, None, NEW_YORK, SETTINGS, "NY"),  # then the most specific place rule (region, any case)
        ("none", None, None, TEXAS, SETTINGS, "US"),  # a country rule where no region rule matches
        ("none", None, None, BERLIN, SETTINGS, "default"),  # then the tenant's default
        ("none", None, None, None, SETTINGS, "default"),  # no address: the default
        ("none", None, None, NEW_YORK, TaxSettings(), None),  # no settings: no tax
        ("exempt", LINE.id, PLAN.id, NEW_YORK, SETTINGS, None),  # exempt: nothing, whatever the line names
        ("reverse", LINE.id, PLAN.id, BERLIN, SETTINGS, None),  # reverse charge: nothing either
    ],
    # the rates' ids are new at each import: named by their place in the table (xdist's workers collect alike)
    ids=lambda value: "rate" if isinstance(value, str) and value.startswith("txr_") else None,
)
def test_which_rate_a_line_gets(exempt, line, plan, address, settings, expected):
    ref = resolve(
        tax_exempt=exempt,
        tax_ids=VAT_ID,
        address=address,
        settings=settings,
        rates=RATES,
        line_rate_id=line,
        plan_rate_id=plan,
    )
    assert (ref.display_name if ref else None) == expected


def test_the_free_form_percent_is_the_lines_own_rate_without_an_object():
    ref = resolve(
        tax_exempt="none", tax_ids=[], address=NEW_YORK, settings=SETTINGS, rates=RATES, line_percent=Decimal("8.25")
    )
    assert (ref.id, ref.percentage, ref.inclusive) == (None, Decimal("8.25"), False)
    exempt = resolve(
        tax_exempt="exempt", tax_ids=[], address=NEW_YORK, settings=SETTINGS, rates=RATES, line_percent=Decimal("8.25")
    )
    assert exempt is None


def test_a_rate_named_must_exist_and_be_active():
    def refused(**kw):
        with pytest.raises(ValidationFailed) as error:
            resolve(tax_exempt="none", tax_ids=[], address=None, settings=TaxSettings(), rates=RATES, **kw)
        return error.value.code

    assert refused(line_rate_id="txr_nope") == "tax_rate_not_found"
    assert refused(plan_rate_id="txr_nope") == "tax_rate_not_found"
    assert refused(line_rate_id=OLD.id) == "tax_rate_inactive"
    assert refused(plan_rate_id=OLD.id) == "tax_rate_inactive"
    # a subscription's snapshot keeps billing at its rate once it is archived
    kept = resolve(
        tax_exempt="none",
        tax_ids=[],
        address=None,
        settings=TaxSettings(),
        rates=RATES,
        plan_rate_id=OLD.id,
        archived_ok=True,
    )
    assert kept.display_name == "old"


def test_reverse_charge_needs_a_tax_id():
    with pytest.raises(ValidationFailed) as refused:
        resolve(tax_exempt="reverse", tax_ids=[], address=BERLIN, settings=SETTINGS, rates=RATES)
    assert refused.value.code == "reverse_charge_needs_tax_id"


def test_rules_are_kept_most_specific_first_and_one_per_place():
    rules = ordered_rules(SETTINGS.rules)
    assert [(r.country, r.region) for r in rules] == [("US", "NY"), ("US", None)]
    with pytest.raises(ValidationFailed) as twice:
        ordered_rules([*SETTINGS.rules, PlaceRule(country="US", region="ny", tax_rate_id=LINE.id)])
    assert twice.value.code == "duplicate_tax_rule"
