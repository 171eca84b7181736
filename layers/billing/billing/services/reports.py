"""Reports for a tenant's finance team: the question (which report, which days, which currency) checked and
answered from the exported facts, with how fresh they are. The figures are defined in docs/reports.md."""

from __future__ import annotations

import calendar
import csv
import io
import re
from datetime import date, datetime
from typing import Any, Protocol

from billing.domain.errors import NotFound, ValidationFailed
from billing.domain.money import normalize_currency
from billing.reports.catalog import REPORTS, Window
from billing.services.unit import Context

MAX_MONTHS = 36  # a range reports on at most three years at once
FIRST_YEAR, LAST_YEAR = 2000, 2999  # the days a question may name (a day's end must be a day too)


class OpenFacts(Protocol):
    """One tenant's facts, opened (billing.adapters.analytics): every report of one answer runs on one opening."""

    data_through: datetime | None

    def run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...


def parse_day(value: str | None, field: str, *, end: bool = False) -> date | None:
    """``YYYY-MM-DD``, or ``YYYY-MM`` for the month's first day (its last with ``end``)."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", value)
    try:
        if match is None:
            raise ValueError(value)
        year, month = int(match[1]), int(match[2])
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(value)
        if match[3] is not None:
            return date(year, month, int(match[3]))
        return date(year, month, calendar.monthrange(year, month)[1] if end else 1)
    except ValueError:
        raise ValidationFailed(
            "invalid_date",
            f"{field} is a day (YYYY-MM-DD) or a month (YYYY-MM) from {FIRST_YEAR} to {LAST_YEAR}, not {value!r}",
        ) from None


def window(
    ctx: Context,
    tenant_id: str,
    name: str,
    *,
    from_: str | None = None,
    to: str | None = None,
    as_of: str | None = None,
    currency: str | None = None,
    customer_id: str | None = None,
) -> Window:
    """The question asked, checked: by default the twelve months to today (the stack's clock) and as of today."""
    report = REPORTS.get(name)
    if report is None:
        raise NotFound("report_not_found", f"no report {name!r}; the reports are {', '.join(REPORTS)}")
    today = ctx.clock.now().date()
    end = parse_day(to, "to", end=True) or today
    start = parse_day(from_, "from") or _months_before(end.replace(day=1), 11)
    if start > end:
        raise ValidationFailed("invalid_range", f"from ({start}) is after to ({end})")
    if (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
        raise ValidationFailed("range_too_long", f"a report covers at most {MAX_MONTHS} months")
    if customer_id is not None and not report.needs_customer:
        raise ValidationFailed("customer_not_applicable", f"the {name} report is for all customers")
    if report.needs_customer:
        if customer_id is None:
            raise ValidationFailed("customer_required", f"the {name} report is for one customer: give customer_id")
        customer = ctx.repo.customer(tenant_id, customer_id)  # customer_not_found
        if currency is not None and normalize_currency(currency) != customer.currency:
            raise ValidationFailed("currency_not_applicable", f"the customer is billed in {customer.currency}")
        currency = customer.currency
    return Window(
        tenant_id=tenant_id,
        start=start,
        end=end,
        as_of=parse_day(as_of, "as_of") or today,
        currency=normalize_currency(currency) if currency is not None else None,
        customer_id=customer_id,
    )


def run(opened: OpenFacts, name: str, question: Window) -> dict[str, Any]:
    """The report's sections (each a list of rows) from the tenant's ``opened`` facts, with what was asked and how
    fresh the facts are."""
    report = REPORTS[name]
    sections = report.run(opened.run, question)
    return {
        "object": "report",
        "report": name,
        "title": report.title,
        "from": question.start.isoformat(),
        "to": question.end.isoformat(),
        "as_of": question.as_of.isoformat(),
        "currency": question.currency,
        "customer_id": question.customer_id,
        "data_through": opened.data_through.isoformat() if opened.data_through else None,
        "sections": list(sections),
        **{section: [_plain(row) for row in rows] for section, rows in sections.items()},
    }


def section_of(answer: dict[str, Any], section: str | None) -> str:
    """The section asked for (the first by default); one the report has not is refused, whatever the format."""
    chosen = section or answer["sections"][0]
    if chosen not in answer["sections"]:
        raise ValidationFailed("unknown_section", f"the {answer['report']} report has {', '.join(answer['sections'])}")
    return chosen


def csv_file_name(answer: dict[str, Any], section: str | None) -> str:
    return f"{answer['report']}-{section_of(answer, section)}-{answer['from']}-{answer['to']}.csv"


def as_csv(answer: dict[str, Any], section: str | None = None) -> str:
    """One section of an answer as CSV (the first by default): a header row, then one line per row."""
    rows = answer[section_of(answer, section)]
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({k: _inert(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula (OWASP's list)


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, quoted (``'=HYPERLINK(…)``): names come from storefronts'
    users. Numbers (amounts, negative ones too) are not text and stay as they are."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _months_before(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON writes it: days and instants as ISO text, integers as they are."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
