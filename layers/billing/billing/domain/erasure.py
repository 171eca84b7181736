"""Erasure of a customer's personal data: what is erased, what it becomes, and when it is refused. Pure: no I/O
(billing.services.privacy walks the table with it).

Personal data is the customer's e-mail addresses, name, postal address (but its country: the place of supply that
decided the tax stays as evidence), tax id values, external id, and the values of its ``metadata`` (every key but
those the erasure request names in ``keep_metadata``: the tenant knows which of its keys are no one's data).
Each becomes ``TOMBSTONE`` (or nothing); numbers, amounts, dates, lines and tax totals stay, as the law requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from billing.domain.address import Address
from billing.domain.errors import Conflict
from billing.domain.events import DomainEvent

TOMBSTONE = "[erased]"  # the stable marker every erased text becomes
MIN_VALUE_LENGTH = 3  # shorter values ("DE", "7") are no one's data and would match everywhere
CUSTOMER_FIELDS = ("email", "name", "address", "tax_ids", "metadata", "external_id")  # in customer.updated's changes
INVOICE_FIELDS = ("customer_email", "customer_name", "customer_address", "customer_tax_ids")  # the bill-to copy


@dataclass(frozen=True)
class Personal:
    """What is to be erased of one customer: the addresses it had (lower-cased: the e-mail index and the
    suppression list are keyed by them) and every personal text it had (for free text: events, subjects, answers)."""

    customer_id: str
    addresses: frozenset[str]
    values: frozenset[str]
    keep_metadata: frozenset[str]

    def scrub(self, value: Any) -> Any:
        """``value`` (any JSON) with every occurrence of a personal text, in any string at any depth, replaced by
        the tombstone (case-insensitively)."""
        if isinstance(value, str):
            return self._pattern.sub(TOMBSTONE, value) if self._pattern else value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value

    @property
    def _pattern(self) -> re.Pattern[str] | None:
        longest_first = sorted(self.values, key=len, reverse=True)
        return re.compile("|".join(re.escape(v) for v in longest_first), re.IGNORECASE) if longest_first else None


def personal_of(customer: Any, history: Iterable[DomainEvent], keep_metadata: Iterable[str] = ()) -> Personal:
    """The personal data of ``customer`` (a ``Customer``) as it stands and as its events (``history``) show it had:
    every e-mail, name, address, tax id and metadata value a ``customer.updated`` had before or after, and the
    addresses a ``customer.email_suppressed`` names."""
    keep = frozenset(keep_metadata)
    values: set[str] = set()
    addresses: set[str] = set()

    def add(field: str, value: Any) -> None:
        if value is None or value == TOMBSTONE:
            return
        if field == "email":
            addresses.add(str(value).strip().lower())
            values.add(str(value).strip())
        elif field == "address" and isinstance(value, dict):
            values.update(str(v) for k, v in value.items() if v and k != "country")
        elif field == "tax_ids" and isinstance(value, list):
            values.update(str(t.get("value")) for t in value if isinstance(t, dict) and t.get("value"))
        elif field == "metadata" and isinstance(value, dict):
            values.update(str(v) for k, v in value.items() if k not in keep and v)
        elif field in ("name", "external_id"):
            values.add(str(value))

    current = customer.model_dump(mode="json")
    for field in CUSTOMER_FIELDS:
        add(field, current.get(field))
    for event in history:
        if event.type == "customer.updated":
            for field, change in (event.data.get("changes") or {}).items():
                if field in CUSTOMER_FIELDS and isinstance(change, dict):
                    add(field, change.get("before"))
                    add(field, change.get("after"))
        elif event.type == "customer.email_suppressed" and event.data.get("address"):
            add("email", event.data["address"])
    values = {v for v in values if len(v.strip()) >= MIN_VALUE_LENGTH and v != TOMBSTONE}
    return Personal(customer.id, frozenset(addresses), frozenset(values), keep)


def erased_tax_ids(tax_ids: list[Any]) -> list[Any]:
    """Tax ids keep their type (what the reverse charge rested on), not their value."""
    return [t.model_copy(update={"value": TOMBSTONE}) for t in tax_ids]


def kept_country(address: Address | None) -> Address | None:
    return Address(country=address.country) if address and address.country else None


def erased_invoice(invoice: Any) -> Any:
    """An invoice (or its draft) with its bill-to copy tombstoned; its number, lines, amounts, dates, tax summary
    and status as they were."""
    return invoice.model_copy(
        update={
            "customer_email": TOMBSTONE,
            "customer_name": TOMBSTONE,
            "customer_address": kept_country(invoice.customer_address),
            "customer_tax_ids": erased_tax_ids(invoice.customer_tax_ids),
        }
    )


def is_erased_invoice(invoice: Any) -> bool:
    """Whether the invoice's bill-to was erased: nothing is mailed to it any more."""
    return invoice.customer_email == TOMBSTONE


def erased_change(field: str, value: Any, personal: Personal) -> Any:
    """A ``customer.updated`` change's before or after of ``field``, erased."""
    if value is None:
        return None
    if field == "metadata" and isinstance(value, dict):
        return {k: (v if k in personal.keep_metadata else TOMBSTONE) for k, v in value.items()}
    if field == "address" and isinstance(value, dict):
        return {k: (v if k == "country" or v is None else TOMBSTONE) for k, v in value.items()}
    if field == "tax_ids" and isinstance(value, list):
        return [{**t, "value": TOMBSTONE} if isinstance(t, dict) else TOMBSTONE for t in value]
    return TOMBSTONE


def erased_event(event: DomainEvent, personal: Personal) -> DomainEvent:
    """``event`` with no personal data in its ``data``: a ``customer.updated``'s personal changes tombstoned,
    then every personal text anywhere in it (a suppression's address, a sign-in's typed address)."""
    data = dict(event.data)
    changes = data.get("changes")
    if event.type == "customer.updated" and isinstance(changes, dict):
        data["changes"] = {
            field: (
                {side: erased_change(field, change.get(side), personal) for side in ("before", "after")}
                if field in CUSTOMER_FIELDS and isinstance(change, dict)
                else change
            )
            for field, change in changes.items()
        }
    return event.model_copy(update={"data": personal.scrub(data)})


def erased_answer(body: Any, personal: Personal, erased_customer: dict[str, Any]) -> Any:
    """An idempotency claim's stored answer about the customer: the customer itself becomes its erased state (a
    replay answers what a read would), an invoice its tombstoned bill-to, anything else scrubbed of personal texts."""
    if not isinstance(body, dict):
        return personal.scrub(body)
    if body.get("id") == personal.customer_id:
        return erased_customer
    answer = dict(body)
    for field in INVOICE_FIELDS:
        if field not in answer:
            continue
        if field == "customer_address":
            answer[field] = {"country": c} if (c := (answer[field] or {}).get("country")) else None
        elif field == "customer_tax_ids":
            answer[field] = [{**t, "value": TOMBSTONE} for t in answer[field] or []]
        else:
            answer[field] = TOMBSTONE
    return personal.scrub(answer)


def refusal(customer: Any, invoices: list[Any], subscriptions: list[Any], force: bool) -> Conflict | None:
    """Why the customer may not be erased now (None: it may). Money owed (an open invoice with an amount due, a
    payment plan's too, or a debit balance) and an open dispute refuse it unless ``force`` (an admin key's);
    what is still being billed (a subscription not canceled, a draft invoice) refuses it always: ending it is the
    tenant's decision, with its own final invoice or credit, and an erasure never bills."""
    live = sorted(s.id for s in subscriptions if s.status != "canceled")
    if live:
        return Conflict(
            "customer_has_subscriptions",
            f"customer {customer.id} has subscriptions that are not canceled: cancel them first",
            subscription_ids=live,
        )
    drafts = sorted(i.id for i in invoices if i.status == "draft")
    if drafts:
        return Conflict(
            "customer_has_draft_invoices",
            f"customer {customer.id} has invoices being drafted: finalize or delete them first",
            invoice_ids=drafts,
        )
    if force:
        return None
    disputed = sorted(i.id for i in invoices if i.dispute_open)
    if disputed:
        return Conflict(
            "customer_dispute_open",
            f"customer {customer.id} has a dispute open; erase it once it is closed (or force, with an admin key)",
            invoice_ids=disputed,
        )
    owed = sorted(i.id for i in invoices if i.status == "open" and i.amount_due > 0)
    if owed or customer.credit_balance < 0:
        return Conflict(
            "customer_owes_money",
            f"customer {customer.id} owes money (open invoices or a debit balance); erase it once settled "
            "(or force, with an admin key)",
            invoice_ids=owed,
            balance=customer.credit_balance,
        )
    return None
