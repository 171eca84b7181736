"""billing.domain.erasure: what is personal, what it becomes, and when an erasure is refused (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from billing.domain import erasure
from billing.domain.errors import Conflict, IllegalTransition
from billing.domain.events import DomainEvent
from billing.domain.models import Address, Customer, TaxId

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def customer(**changes) -> Customer:
    fields = {
        "id": "cus_1",
        "tenant_id": "ten_1",
        "email": "Ada@Example.com",
        "name": "Ada Lovelace",
        "locale": "en",
        "currency": "eur",
        "external_id": "crm-ada",
        "address": Address(line1="12 St James's Square", city="London", postal_code="SW1Y 4JH", country="GB"),
        "tax_ids": [TaxId(type="gb_vat", value="GB980780684")],
        "metadata": {"crm_id": "C-9", "nickname": "Countess"},
        "default_payment_method": "pm_1",
        "created_at": NOW,
    }
    return Customer(**{**fields, **changes})


def updated(**changes) -> DomainEvent:
    return DomainEvent.new("customer.updated", "ten_1", "customer", "cus_1", NOW, changes=changes)


def test_personal_data_is_what_the_customer_has_and_had_but_kept_metadata_and_the_country():
    history = [
        updated(
            email={"before": "old@example.org", "after": "Ada@Example.com"},
            name={"before": "A. Byron", "after": "Ada Lovelace"},
        ),
        DomainEvent.new("customer.email_suppressed", "ten_1", "customer", "cus_1", NOW, address="bounced@example.net"),
    ]
    personal = erasure.personal_of(customer(), history, keep_metadata=["crm_id"])
    assert personal.addresses == {"ada@example.com", "old@example.org", "bounced@example.net"}
    assert {"Ada Lovelace", "A. Byron", "London", "SW1Y 4JH", "GB980780684", "crm-ada", "Countess"} <= personal.values
    assert not {"C-9", "GB", "en", "eur"} & personal.values


def test_scrub_replaces_personal_text_anywhere_case_insensitively_and_leaves_the_rest():
    personal = erasure.personal_of(customer(), [])
    scrubbed = personal.scrub({"subject": "Invoice for ADA LOVELACE", "n": 3, "to": ["ada@example.com"], "id": "in_1"})
    assert scrubbed == {"subject": "Invoice for [erased]", "n": 3, "to": ["[erased]"], "id": "in_1"}
    assert personal.scrub(scrubbed) == scrubbed  # a tombstone is no personal data: doing it again changes nothing


def test_a_customer_updated_event_loses_its_personal_changes_and_keeps_the_others():
    event = updated(
        email={"before": "old@example.org", "after": "ada@example.com"},
        metadata={"before": {"crm_id": "C-9"}, "after": {"crm_id": "C-9", "nickname": "Countess"}},
        address={"before": None, "after": {"city": "London", "country": "GB"}},
        locale={"before": "en", "after": "ru"},
    )
    personal = erasure.personal_of(customer(), [event], keep_metadata=["crm_id"])
    changes = erasure.erased_event(event, personal).data["changes"]
    assert changes["email"] == {"before": "[erased]", "after": "[erased]"}
    assert changes["metadata"]["after"] == {"crm_id": "C-9", "nickname": "[erased]"}
    assert changes["address"] == {"before": None, "after": {"city": "[erased]", "country": "GB"}}
    assert changes["locale"] == {"before": "en", "after": "ru"}


def test_the_erased_customer_keeps_ids_country_tax_id_types_and_kept_metadata_and_is_erased_for_good():
    erased, event = customer().erase(NOW, keep_metadata=["crm_id"])
    assert (erased.email, erased.name, erased.status, erased.erased_at) == ("[erased]", "[erased]", "erased", NOW)
    assert erased.address == Address(country="GB") and erased.tax_ids == [TaxId(type="gb_vat", value="[erased]")]
    assert (erased.metadata, erased.external_id, erased.default_payment_method) == ({"crm_id": "C-9"}, None, None)
    assert event.type == "customer.erased" and event.data == {"erased_at": NOW.isoformat(), "kept_metadata": ["crm_id"]}
    with pytest.raises(Conflict) as refused:
        erased.ensure_active()
    assert refused.value.code == "customer_erased"
    with pytest.raises(IllegalTransition):
        erased.erase(NOW)


def invoice(id_: str, status: str = "paid", amount_due: int = 0, dispute_open: bool = False):
    return SimpleNamespace(id=id_, status=status, amount_due=amount_due, dispute_open=dispute_open)


@pytest.mark.parametrize(
    ("invoices", "balance", "subscriptions", "force", "code"),
    [
        ([invoice("in_1")], 0, [], False, None),
        ([invoice("in_1", "open", 500)], 0, [], False, "customer_owes_money"),
        ([invoice("in_1", "open", 500)], 0, [], True, None),
        ([invoice("in_1", "open", 0)], 0, [], False, None),  # credited in full: nothing owed
        ([invoice("in_1", "uncollectible", 500)], 0, [], False, None),  # written off by the tenant
        ([], -100, [], False, "customer_owes_money"),  # a debit balance
        ([invoice("in_1", dispute_open=True)], 0, [], False, "customer_dispute_open"),
        ([invoice("in_1", dispute_open=True)], 0, [], True, None),
        ([invoice("in_1", "draft", 900)], 0, [], True, "customer_has_draft_invoices"),
        ([], 0, [SimpleNamespace(id="sub_1", status="active")], True, "customer_has_subscriptions"),
        ([], 0, [SimpleNamespace(id="sub_1", status="canceled")], False, None),
    ],
)
def test_an_erasure_is_refused_while_billed_and_while_owed_or_disputed_unless_forced(
    invoices, balance, subscriptions, force, code
):
    refused = erasure.refusal(customer(credit_balance=balance), invoices, subscriptions, force)
    assert (refused.code if refused else None) == code
