"""The facts the reports read: flat rows made from the table's own items (aggregates, their event items and the
MRR history), one schema for every engine.

The same function turns a DynamoDB export (in the cloud) and a Scan of the local stack's table into these rows; the
rows are stored as Parquet partitioned by tenant and month (``billing.reports.store``), and the Glue tables in
template.yaml declare the same columns (tests/unit/test_reports_glue.py holds the two together). Amounts are
integers in minor units, instants UTC timestamps, days dates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# table -> (column, type); ``tenant_id`` and ``month`` (YYYY-MM of the row's own instant) are the partition columns
PARTITIONS = ("tenant_id", "month")
TABLES: dict[str, dict[str, str]] = {
    "customers": {"customer_id": "VARCHAR", "name": "VARCHAR", "currency": "VARCHAR", "created_at": "TIMESTAMP"},
    "invoices": {
        "invoice_id": "VARCHAR",
        "number": "VARCHAR",
        "customer_id": "VARCHAR",
        "subscription_id": "VARCHAR",
        "currency": "VARCHAR",
        "status": "VARCHAR",
        "subtotal": "BIGINT",
        "discount": "BIGINT",
        "tax": "BIGINT",
        "total": "BIGINT",
        "credit_applied": "BIGINT",
        "owed": "BIGINT",  # what the customer was asked to pay when it was issued: max(total, 0) - credit_applied
        "issued_at": "TIMESTAMP",
        "due_date": "DATE",
        "voided_at": "TIMESTAMP",
    },
    "invoice_taxes": {
        "invoice_id": "VARCHAR",
        "currency": "VARCHAR",
        "issued_at": "TIMESTAMP",
        "tax_rate": "VARCHAR",  # the rate in percent as written on the invoice ("20", "7.5")
        "taxable": "BIGINT",  # without tax, after discounts (an inclusive price's tax split out)
        "tax": "BIGINT",
        "tax_rate_id": "VARCHAR",  # the tax rate object ("txr_…"); null: a free-form percent or no rate
        "tax_name": "VARCHAR",  # its display name as the invoice states it ("VAT")
        "jurisdiction": "VARCHAR",  # where it applies ("DE", "US-NY"), if the rate says
        "kind": "VARCHAR",  # exclusive | inclusive
    },
    "invoice_events": {
        "event_id": "VARCHAR",
        "invoice_id": "VARCHAR",
        "type": "VARCHAR",
        "occurred_at": "TIMESTAMP",
        "amount": "BIGINT",  # money the event moved: received, taken back, written off, refunded
        "applied": "BIGINT",  # of money received, what counted against the invoice (the rest became credit)
        "step": "INTEGER",  # a dunning step's position in the policy
        "charge_outcome": "VARCHAR",  # a dunning step's retry: succeeded, failed, not_charged, …
        "decline_code": "VARCHAR",
    },
    "payments": {
        "payment_id": "VARCHAR",
        "invoice_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "currency": "VARCHAR",
        "amount": "BIGINT",
        "status": "VARCHAR",
        "method": "VARCHAR",
        "decline_code": "VARCHAR",
        "created_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
    },
    "credit_notes": {
        "credit_note_id": "VARCHAR",
        "number": "VARCHAR",
        "invoice_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "currency": "VARCHAR",
        "amount": "BIGINT",
        "reason": "VARCHAR",
        "created_at": "TIMESTAMP",
        "kind": "VARCHAR",  # refund (money given back) or credit (no refund: issue 16)
        "credit_to": "VARCHAR",  # a credit's: invoice (what it owes went down) or balance (the customer's credit)
    },
    "mrr_changes": {
        "subscription_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "currency": "VARCHAR",
        "status": "VARCHAR",
        "mrr": "BIGINT",
        "changed_at": "TIMESTAMP",
        "version": "INTEGER",
    },
}
_MONEY_EVENTS = {
    "invoice.finalized",
    "invoice.payment_succeeded",
    "invoice.paid",
    "invoice.past_due",
    "invoice.dunning_step",
    "invoice.reopened",
    "invoice.marked_uncollectible",
    "invoice.refunded",
    "invoice.voided",
    "payment.reversed",  # a payment received outside Stripe taken back: collected goes down by its amount
    "credit_note.issued",  # a credit without refund against what the invoice owes: receivables go down by it
}

Row = dict[str, Any]


def facts_from_items(items: Iterable[dict[str, Any]]) -> dict[str, list[Row]]:
    """Every fact row the items hold, by table. Items of other types (keys, claims, mail log, …) hold none."""
    tables: dict[str, list[Row]] = defaultdict(list)
    for item in items:
        kind = item.get("type")
        if kind == "event":
            if item.get("event_type") in _MONEY_EVENTS:
                tables["invoice_events"].append(_invoice_event(json.loads(item["doc"])))
        elif kind == "mrr_change":
            tables["mrr_changes"].append(_mrr_change(item))
        elif kind in _FROM_DOC:
            for table, row in _FROM_DOC[kind](json.loads(item["doc"])):
                tables[table].append(row)
    tables["mrr_changes"] = _moves_only(tables["mrr_changes"])
    return {name: tables.get(name, []) for name in TABLES}


def _moves_only(changes: list[Row]) -> list[Row]:
    """A subscription's MRR history without the saves that left its MRR as it was (every billing run saves it)."""
    kept: list[Row] = []
    last: dict[str, int] = {}
    for row in sorted(changes, key=lambda r: (r["subscription_id"], r["version"])):
        if last.get(row["subscription_id"]) != row["mrr"]:
            kept.append(row)
        last[row["subscription_id"]] = row["mrr"]
    return kept


def _month(instant: str) -> str:
    return _ts(instant)[:7]


def _customer(doc: dict[str, Any]) -> Iterable[tuple[str, Row]]:
    yield (
        "customers",
        {
            "tenant_id": doc["tenant_id"],
            "customer_id": doc["id"],
            "name": doc["name"],
            "currency": doc["currency"],
            "created_at": _ts(doc["created_at"]),
            "month": _month(doc["created_at"]),
        },
    )


def _invoice(doc: dict[str, Any]) -> Iterable[tuple[str, Row]]:
    issued = doc.get("issued_at")
    if issued is None:  # a draft is no fact yet
        return
    common = {
        "tenant_id": doc["tenant_id"],
        "invoice_id": doc["id"],
        "currency": doc["currency"],
        "issued_at": _ts(issued),
    }
    yield (
        "invoices",
        {
            **common,
            "number": doc["number"],
            "customer_id": doc["customer_id"],
            "subscription_id": doc.get("subscription_id"),
            "status": doc["status"],
            **{k: doc[k] for k in ("subtotal", "discount", "tax", "total", "credit_applied")},
            "owed": max(doc["total"], 0) - doc["credit_applied"],
            "due_date": doc.get("due_date"),
            "voided_at": _ts(doc.get("voided_at")),
            "month": _month(issued),
        },
    )
    month = _month(issued)
    if doc.get("tax_summary"):  # one row per rate object of the invoice's own summary (billing.domain.pricing)
        for row in doc["tax_summary"]:
            yield "invoice_taxes", {
                **common,
                "tax_rate": _rate(row["percentage"]),
                "taxable": row["taxable_amount"],
                "tax": row["tax_amount"],
                "tax_rate_id": row.get("tax_rate_id"),
                "tax_name": row.get("display_name"),
                "jurisdiction": row.get("jurisdiction"),
                "kind": "inclusive" if row.get("inclusive") else "exclusive",
                "month": month,
            }
        return
    by_rate: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # an invoice from before the summary
    for line in doc["lines"]:
        rate = _rate(line["tax_rate_percent"])
        by_rate[rate][0] += line["amount"] - line["discount_amount"]
        by_rate[rate][1] += line["tax_amount"]
    for rate, (taxable, tax) in sorted(by_rate.items()):
        row = {"tax_rate": rate, "taxable": taxable, "tax": tax, "tax_rate_id": None, "tax_name": None}
        yield "invoice_taxes", {**common, **row, "jurisdiction": None, "kind": "exclusive", "month": month}


def _payment(doc: dict[str, Any]) -> Iterable[tuple[str, Row]]:
    yield (
        "payments",
        {
            "tenant_id": doc["tenant_id"],
            "payment_id": doc["id"],
            **{k: doc.get(k) for k in ("invoice_id", "customer_id", "currency", "amount", "status", "method")},
            "decline_code": doc.get("decline_code"),
            "created_at": _ts(doc["created_at"]),
            "updated_at": _ts(doc["updated_at"]),
            "month": _month(doc["created_at"]),
        },
    )


def _credit_note(doc: dict[str, Any]) -> Iterable[tuple[str, Row]]:
    yield (
        "credit_notes",
        {
            "tenant_id": doc["tenant_id"],
            "credit_note_id": doc["id"],
            **{k: doc[k] for k in ("number", "invoice_id", "customer_id", "currency", "amount", "reason")},
            "created_at": _ts(doc["created_at"]),
            "kind": doc.get("kind", "refund"),
            "credit_to": doc.get("credit_to"),
            "month": _month(doc["created_at"]),
        },
    )


_FROM_DOC = {"customer": _customer, "invoice": _invoice, "payment": _payment, "credit_note": _credit_note}
ITEM_TYPES = frozenset({"event", "mrr_change", *_FROM_DOC})  # the item types that hold facts; the rest hold none


def _invoice_event(doc: dict[str, Any]) -> Row:
    data = doc["data"]
    amount = data.get("amount")
    if doc["type"] == "invoice.marked_uncollectible":
        amount = data.get("amount_due")  # what was written off
    charge = data.get("charge") or {}
    return {
        "tenant_id": doc["tenant_id"],
        "event_id": doc["id"],
        "invoice_id": doc["aggregate_id"],
        "type": doc["type"],
        "occurred_at": _ts(doc["occurred_at"]),
        "amount": amount,
        "applied": _applied(doc["type"], data),
        "step": data.get("step") if doc["type"] == "invoice.dunning_step" else None,
        "charge_outcome": charge.get("outcome"),
        "decline_code": charge.get("decline_code"),
        "month": _month(doc["occurred_at"]),
    }


def _applied(event_type: str, data: dict[str, Any]) -> int | None:
    """Of the money an event moved, what counted against the invoice: a payment less what went to credit; a
    reversal's part owed again on the invoice (the rest came off the credit)."""
    if event_type == "invoice.payment_succeeded":
        return data["amount"] - data.get("overpaid", 0)
    if event_type == "payment.reversed":
        return data.get("owed_again")
    if event_type == "credit_note.issued":  # what a credit note took off what the invoice owes (a refund: nothing)
        return data["amount"] if data.get("kind") == "credit" and data.get("credit_to") == "invoice" else 0
    return None


def _mrr_change(item: dict[str, Any]) -> Row:
    return {
        **{k: item[k] for k in ("tenant_id", "subscription_id", "customer_id", "currency", "status")},
        "changed_at": _ts(item["changed_at"]),
        "mrr": int(item["mrr"]),
        "version": int(item["sk"].removeprefix("MRR#")),
        "month": _month(item["changed_at"]),
    }


def _rate(percent: str | int | Decimal) -> str:
    """A tax rate as a plain decimal without trailing zeros: 20.00 -> "20", 7.50 -> "7.5"."""
    return format(Decimal(str(percent)).normalize(), "f")


def _ts(instant: str | None) -> str | None:
    """An ISO instant as UTC without its offset (what a TIMESTAMP column holds in every engine)."""
    if instant is None:
        return None
    return datetime.fromisoformat(instant).astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
