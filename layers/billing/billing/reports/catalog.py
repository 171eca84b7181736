"""The reports a tenant can ask for: what each takes, which SQL files answer it, and the figures derived from their
rows (rates and days, exact: ratios of integers rounded half up). docs/reports.md defines every figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing.reports import engine

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Window:
    """What a report is asked about: a range of days (months reports take the months it touches), a day for the
    aging, a currency or all, and a customer for a statement."""

    tenant_id: str
    start: date
    end: date
    as_of: date
    currency: str | None = None
    customer_id: str | None = None

    @property
    def from_month(self) -> date:
        return self.start.replace(day=1)

    @property
    def to_month(self) -> date:
        return self.end.replace(day=1)

    def params(self) -> dict[str, engine.Param]:
        return {
            "tenant_id": self.tenant_id,
            "currency": self.currency,
            "customer_id": self.customer_id,
            "from_month": self.from_month,
            "to_month": self.to_month,
            "from_date": self.start,
            "as_of": self.as_of,
            # the end of a day: everything before the next midnight (UTC)
            "cutoff": _end_of(self.as_of),
            "to_cutoff": _end_of(self.end),
        }


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time())


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    sections: dict[str, str]  # section -> SQL file; the first is the report's rows (and its CSV by default)
    derive: Callable[[dict[str, Rows]], dict[str, Rows]] = lambda sections: sections
    needs_customer: bool = False

    def run(self, run_query: Callable[[str, dict[str, engine.Param]], Rows], window: Window) -> dict[str, Rows]:
        params = window.params()
        sections = {}
        for section, sql in self.sections.items():
            wanted = engine.parameters(sql)
            sections[section] = run_query(sql, {k: v for k, v in params.items() if k in wanted})
        return self.derive(sections)


def percent(part: int, whole: int) -> str | None:
    """``part`` of ``whole`` in percent with two decimals, as text ("97.50"); None when ``whole`` is 0."""
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def ratio(value: int, over: int, places: str = "0.1") -> str | None:
    if not over:
        return None
    return str((Decimal(value) / Decimal(over)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def _aging(sections: dict[str, Rows]) -> dict[str, Rows]:
    rows = sections["customers"]
    return {
        "customers": [r for r in rows if r["customer_id"] is not None],
        "totals": [
            {k: v for k, v in r.items() if k not in ("customer_id", "customer_name")}
            for r in rows
            if r["customer_id"] is None
        ],
    }


def _mrr(sections: dict[str, Rows]) -> dict[str, Rows]:
    for row in sections["months"]:
        kept = row["mrr_start"] + row["expansion"] + row["contraction"] + row["churn"]
        row["net_revenue_retention"] = percent(kept, row["mrr_start"])
    return sections


def _collections(sections: dict[str, Rows]) -> dict[str, Rows]:
    for row in sections["months"]:
        row["collection_rate"] = percent(row["collected"], row["invoiced"])
        row["days_sales_outstanding"] = ratio(row["receivables_end"] * row["days_in_month"], row["invoiced"])
        row["average_days_to_recover"] = ratio(row["days_to_recover_total"], row["recovered"])
    for row in sections["decline_codes"]:
        row["recovery_rate"] = percent(row["invoices_paid"], row["invoices"])
    return sections


def _statement(sections: dict[str, Rows]) -> dict[str, Rows]:
    entries = sections["entries"]
    opening, rest = entries[0], entries[1:]
    closing = rest[-1]["balance"] if rest else opening["balance"]
    return {"entries": rest, "balances": [{"opening_balance": opening["amount"], "closing_balance": closing}]}


REPORTS: dict[str, Report] = {
    r.name: r
    for r in [
        Report("aging", "Receivables aging", {"customers": "aging"}, _aging),
        Report("mrr", "MRR and ARR with movements", {"months": "mrr"}, _mrr),
        Report("revenue", "Revenue", {"months": "revenue", "tax": "revenue_tax"}),
        Report(
            "collections",
            "Collections and dunning",
            {"months": "collections", "steps": "collections_steps", "decline_codes": "collections_declines"},
            _collections,
        ),
        Report("statement", "Customer statement", {"entries": "statement"}, _statement, needs_customer=True),
    ]
}
