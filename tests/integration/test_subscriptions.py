"""Subscriptions on moto: plans and subscriptions through the API handler, the hourly billing run and the invoice
worker through their handlers, every invoice read back. The clock is moved to each run's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.services import subscriptions
from functions.api import app as api
from functions.billing_run import app as billing_run_handler
from functions.invoice_worker import app as invoice_worker
from tests.integration.conftest import FakeLambdaContext, http_event, sample_event
from tests.integration.test_workers import (
    NO_FAILURES,
    call,
    outbox,
    receive_all,
    set_clock,
    sqs_bodies_event,
    sqs_event,
)

pytestmark = pytest.mark.usefixtures("deps")
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the clock fixture's time

MONTHLY = {"unit": "month", "count": 1}
FLAT = {"name": "Pro", "interval": MONTHLY, "prices": [{"currency": "usd", "scheme": "flat", "amount": 4900}]}
SEATS = {"name": "Seats", "interval": MONTHLY, "prices": [{"currency": "usd", "scheme": "per_unit", "amount": 1200}]}
API_CALLS = {
    "name": "API calls",
    "interval": MONTHLY,
    "usage": "metered",
    "prices": [
        {
            "currency": "usd",
            "scheme": "tiered_graduated",
            "tiers": [{"up_to": 1000, "unit_amount": 0}, {"up_to": None, "unit_amount": 2}],
        }
    ],
}


@pytest.fixture
def key(tenant: tuple[str, str]) -> str:
    return tenant[1]


@pytest.fixture
def tenant_id(tenant: tuple[str, str]) -> str:
    return tenant[0]


def created(status_body: tuple[int, Any]) -> dict[str, Any]:
    status, body = status_body
    assert status == 201, body
    return body


def plan(key: str, body: dict[str, Any]) -> str:
    return created(call("POST", "/v1/plans", key, body))["id"]


def customer(key: str, tz: str = "UTC", email: str = "ana@example.com") -> str:
    body = {"email": email, "name": "Ana", "locale": "en", "currency": "usd", "timezone": tz}
    return created(call("POST", "/v1/customers", key, body))["id"]


def subscribe(key: str, customer_id: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "items": items, "collection_method": "send_invoice", **extra}
    return created(call("POST", "/v1/subscriptions", key, body))


def billing_run(deps: Deps, clock, when: datetime) -> dict[str, Any]:
    """The hourly run at ``when``, then the worker on everything it fanned out (batches of 10, as Lambda polls)."""
    set_clock(clock, when)
    run = {**sample_event("scheduler_billing_run.json"), "scheduled_time": when.isoformat()}
    swept = billing_run_handler.lambda_handler(run, FakeLambdaContext())
    messages = receive_all(deps.env["BILLING_QUEUE_URL"])
    for n in range(0, len(messages), 10):
        batch = sqs_event("sqs_billing.json", messages[n : n + 10])
        assert invoice_worker.lambda_handler(batch, FakeLambdaContext()) == NO_FAILURES
    return swept


def after(instant: str | datetime) -> datetime:
    """The first hourly run (at :10) at least RUN_DELAY after ``instant``."""
    at = (datetime.fromisoformat(instant) if isinstance(instant, str) else instant) + subscriptions.RUN_DELAY
    run = at.replace(minute=10, second=0, microsecond=0)
    return run if run >= at else run + timedelta(hours=1)


def invoices_of(key: str, customer_id: str) -> list[dict[str, Any]]:
    event = http_event("GET", "/v1/invoices", key, query={"customer_id": customer_id, "limit": "100"})
    answer = api.lambda_handler(event, FakeLambdaContext())
    assert answer["statusCode"] == 200, answer
    return sorted(json.loads(answer["body"])["data"], key=lambda i: i["number"])


def test_a_subscription_is_billed_once_per_period_whatever_the_duplicates(deps, clock, key, tenant_id):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}, {"plan_id": plan(key, SEATS), "quantity": 3}])
    assert sub["status"] == "active" and sub["next_billing_at"] == "2026-11-23T12:00:00Z"

    run_at = after(sub["next_billing_at"])
    assert billing_run(deps, clock, run_at)["fanned_out"] == 1
    assert billing_run(deps, clock, run_at)["duplicate"] is True  # the same scheduled time fired again
    assert billing_run(deps, clock, run_at + timedelta(hours=1))["fanned_out"] == 0  # billed: off the index
    # a message delivered twice, late: the period is billed, nothing more
    stale = sqs_bodies_event("sqs_billing.json", {"tenant_id": tenant_id, "subscription_id": sub["id"]})
    assert invoice_worker.lambda_handler(stale, FakeLambdaContext()) == NO_FAILURES

    (invoice,) = invoices_of(key, cus)
    assert invoice["number"] == "INV-2026-000001" and invoice["subscription_id"] == sub["id"]
    assert invoice["period_index"] == 0 and invoice["total"] == 4900 + 3 * 1200
    assert [li["description"] for li in invoice["lines"]] == [
        "Pro (23 Nov 2026 – 23 Dec 2026)",
        "Seats × 3 (23 Nov 2026 – 23 Dec 2026)",
    ]
    billed = call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]
    assert billed["current_period_index"] == 1 and billed["next_billing_at"] == "2026-12-23T12:00:00Z"
    assert len(outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")) == 1
