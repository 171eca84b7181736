"""Collection cases on moto: a dunning policy's ``escalate`` step opens one case per invoice (and its finance
e-mail once) however often the sweep fires and its messages are delivered; the case routes and each refusal as a
problem with its code; the listings by age and amount; a promise to pay pausing dunning, kept or broken; and the
invoice resolving its case when it is paid, voided or written off.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.services import payments, tenants
from functions.dunning_sweep import app as sweep_handler
from functions.dunning_worker import app as worker_handler
from functions.notifier import app as notifier
from tests.integration.conftest import FakeLambdaContext, sample_event
from tests.integration.test_collection import DECLINE, call, new_customer, place_invoice, save_card
from tests.integration.test_stripe_webhooks import FakeStripe
from tests.integration.test_workers import (
    NO_FAILURES,
    items,
    outbox,
    receive_all,
    sent_emails,
    set_clock,
    sqs_bodies_event,
    sqs_event,
)

pytestmark = pytest.mark.usefixtures("deps")
ISSUED = date(2026, 11, 23)  # the clock fixture's day
FINANCE = "finance@acme.example"
POLICY = {
    "steps": [
        {"day": 1, "actions": ["email_reminder"]},
        {"day": 3, "actions": ["email_reminder", "escalate"]},
        {"day": 7, "actions": ["final_notice"]},
        {"day": 30, "actions": ["mark_uncollectible"]},
    ]
}


@pytest.fixture
def gateway(deps: Deps) -> FakeStripe:
    fake = FakeStripe()
    deps.__dict__["stripe"] = fake
    deps.env["PUBLIC_BASE_URL"] = "https://billing.example.com"
    return fake


def ok(method: str, path: str, key: str, body: Any = None, expect: int = 200, **headers: str) -> dict[str, Any]:
    status, answer, _ = call(method, path, key, body, headers or None)
    assert status == expect, answer
    return answer


def refused(method: str, path: str, key: str, body: Any, status: int, code: str) -> dict[str, Any]:
    got, answer, headers = call(method, path, key, body)
    assert (got, answer["code"]) == (status, code), answer
    assert headers["Content-Type"] == "application/problem+json"
    return answer


@pytest.fixture
def escalating(key: str) -> None:
    """The tenant's policy escalates on day 3; its profile names a Russian-speaking finance contact."""
    ok("PUT", "/v1/settings/dunning", key, POLICY)
    ok(
        "PUT",
        "/v1/settings/profile",
        key,
        {"legal_name": "Acme GmbH", "finance_email": FINANCE, "default_locale": "ru"},
    )


def send_invoice(key: str, customer_id: str, amount: int) -> dict[str, Any]:
    """A send_invoice invoice due today (no card: dunning only emails and escalates)."""
    order = {
        "customer_id": customer_id,
        "currency": "usd",
        "lines": [{"description": "Consulting", "quantity": 1, "unit_amount": amount}],
        "collection_method": "send_invoice",
        "days_until_due": 0,
    }
    placed = ok("POST", "/v1/orders", key, order, expect=201)
    return ok("GET", f"/v1/invoices/{placed['invoice_id']}", key)


def at_sweep(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9, minutes=5)


def sweep_on(deps: Deps, clock, day: date) -> None:
    """The day's sweep fires twice, and the worker gets every message it fanned out twice (a redelivery)."""
    set_clock(clock, at_sweep(day))
    run = {**sample_event("scheduler_dunning_sweep.json"), "scheduled_time": at_sweep(day).isoformat()}
    for _ in range(2):
        sweep_handler.lambda_handler(run, FakeLambdaContext())
        messages = receive_all(deps.env["DUNNING_QUEUE_URL"])
        if messages:
            event = sqs_event("sqs_dunning.json", messages)
            assert worker_handler.lambda_handler(event, FakeLambdaContext()) == NO_FAILURES
            assert worker_handler.lambda_handler(event, FakeLambdaContext()) == NO_FAILURES


def through(deps: Deps, clock, first: date, last: date) -> None:
    day = first
    while day <= last:
        sweep_on(deps, clock, day)
        day += timedelta(days=1)


def case_events(tenant_id: str, case_id: str, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(i["doc"]["S"]) for i in outbox(keys.collection_case(tenant_id, case_id), event_type)]


def notify(*docs: dict[str, Any]) -> None:
    assert notifier.lambda_handler(sqs_bodies_event("sqs_notification.json", *docs), FakeLambdaContext()) == (
        NO_FAILURES
    )


def steps_run(tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    found = [
        json.loads(i["doc"]["S"])["data"] for i in outbox(keys.invoice(tenant_id, invoice_id), "invoice.dunning_step")
    ]
    return sorted(found, key=lambda d: d["step"])


def escalated_case(deps, clock, key, tenant_id, amount: int = 12000) -> tuple[dict[str, Any], dict[str, Any]]:
    """An invoice dunning escalated on day 3: (invoice, case)."""
    invoice = send_invoice(key, new_customer(key), amount)
    through(deps, clock, ISSUED, ISSUED + timedelta(days=3))
    case_id = ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]["case_id"]
    assert case_id
    return invoice, ok("GET", f"/v1/collection_cases/{case_id}", key)


# --- the escalate step -----------------------------------------------------------------------------------------
@pytest.mark.usefixtures("escalating")
def test_the_escalate_step_opens_one_case_and_emails_the_finance_contact_once(deps, clock, key, tenant_id):
    invoice = send_invoice(key, new_customer(key), 12000)
    through(deps, clock, ISSUED, ISSUED + timedelta(days=5))

    done = steps_run(tenant_id, invoice["id"])
    assert [s["step_id"] for s in done] == ["due_date:1", "due_date:3"]  # each step once, for all the redeliveries
    case_id = done[1]["collection_case_id"]
    assert case_id == "case_" + invoice["id"].removeprefix("in_")  # derived from the invoice
    (opened,) = case_events(tenant_id, case_id, "collection_case.opened")
    assert opened["data"]["invoice_id"] == invoice["id"] and opened["data"]["amount_due"] == 12000
    assert opened["data"]["changes"] == {"status": {"before": None, "after": "open"}}
    assert [i["sk"]["S"] for i in items(keys.collection_case(tenant_id, case_id)["pk"], "CASE")] == ["CASE"]

    case = ok("GET", f"/v1/collection_cases/{case_id}", key)
    assert case["status"] == "open" and case["assignee"] is None and case["opened_by_step"] == "due_date:3"
    assert (case["amount_due"], case["currency"], case["invoice_id"]) == (12000, "usd", invoice["id"])
    assert (case["invoice_status"], case["invoice_amount_due"]) == ("open", 12000)
    assert case["opened_at"] == at_sweep(ISSUED + timedelta(days=3)).isoformat().replace("+00:00", "Z")

    before = len(sent_emails())
    notify(opened, opened)  # the relay delivers the event twice: one e-mail
    notify(opened)
    mails = sent_emails()[before:]
    assert len(mails) == 1 and mails[0].destinations["ToAddresses"] == [FINANCE]
    assert "Открыто дело о взыскании" in mails[0].subject and invoice["number"] in mails[0].subject  # ru: profile's
    assert "120,00" in mails[0].body
    logged = deps.context.repo.mail_log(keys.collection_case(tenant_id, case_id))
    assert [(m["kind"], m["to"], m["locale"]) for m in logged] == [("collection_case_opened", FINANCE, "ru")]


def test_no_finance_email_means_no_email_and_a_logged_reason(deps, clock, key, tenant_id):
    ok("PUT", "/v1/settings/dunning", key, POLICY)
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    (opened,) = case_events(tenant_id, case["id"], "collection_case.opened")
    before = len(sent_emails())
    notify(opened)
    assert len(sent_emails()) == before
    (logged,) = deps.context.repo.mail_log(keys.collection_case(tenant_id, case["id"]))
    assert logged["skipped"] == "no_finance_email" and "message_id" not in logged


@pytest.mark.usefixtures("escalating")
def test_a_suppressed_finance_address_gets_no_email_either(deps, clock, key, tenant_id):
    tx = deps.context.repo.transaction()
    deps.context.repo.suppress(tx, tenant_id, FINANCE, {"reason": "bounce", "at": "2026-11-01T00:00:00Z"})
    deps.context.repo.commit(tx)
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    (opened,) = case_events(tenant_id, case["id"], "collection_case.opened")
    before = len(sent_emails())
    notify(opened)
    assert len(sent_emails()) == before
    (logged,) = deps.context.repo.mail_log(keys.collection_case(tenant_id, case["id"]))
    assert (logged["skipped"], logged["to"]) == ("address_suppressed", FINANCE)


# --- the routes ------------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("escalating")
def test_a_case_is_assigned_annotated_and_resolved_each_change_an_event(deps, clock, key, tenant_id):
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    path = f"/v1/collection_cases/{case['id']}"
    assigned = ok("POST", f"{path}/assign", key, {"assignee": "olga@acme.example"}, **{"Idempotency-Key": "a-1"})
    assert assigned["status"] == "assigned" and assigned["assignee"] == "olga@acme.example"
    status, replay, headers = call(
        "POST", f"{path}/assign", key, {"assignee": "olga@acme.example"}, {"Idempotency-Key": "a-1"}
    )
    assert status == 200 and headers.get("Idempotent-Replayed") == "true" and replay == assigned
    noted = ok("POST", f"{path}/notes", key, {"text": "Called the customer: pays next week."})
    assert noted["notes"][-1]["author"] == "olga@acme.example" and noted["version"] == assigned["version"] + 1
    noted = ok("POST", f"{path}/notes", key, {"text": "Sent a statement.", "author": "ivan"})
    assert [n["author"] for n in noted["notes"]] == ["olga@acme.example", "ivan"]
    resolved = ok("POST", f"{path}/resolve", key, {"resolution": "disputed", "note": "the customer disputes the scope"})
    assert resolved["status"] == "resolved" and resolved["resolution"] == {
        "code": "disputed",
        "note": "the customer disputes the scope",
        "by": "user",
    }
    assert resolved["resolved_at"] is not None
    key_of = keys.collection_case(tenant_id, case["id"])
    (assigned_event,) = [json.loads(i["doc"]["S"]) for i in outbox(key_of, "collection_case.assigned")]
    assert assigned_event["actor"] == {"type": "api_key", "id": tenants.key_id(tenants.hash_key(key))}
    assert assigned_event["data"]["changes"] == {
        "status": {"before": "open", "after": "assigned"},
        "assignee": {"before": None, "after": "olga@acme.example"},
    }
    assert len(outbox(key_of, "collection_case.note_added")) == 2
    (resolved_event,) = outbox(key_of, "collection_case.resolved")
    assert json.loads(resolved_event["doc"]["S"])["data"]["changes"]["resolution"] == {
        "before": None,
        "after": "disputed",
    }
    # a resolved case takes no more changes
    refused("POST", f"{path}/notes", key, {"text": "late"}, 409, "collection_case_add_note_not_allowed")
    refused("POST", f"{path}/resolve", key, {"resolution": "other"}, 409, "collection_case_resolve_not_allowed")
    refused("POST", f"{path}/assign", key, {"assignee": "x"}, 409, "collection_case_assign_not_allowed")


@pytest.mark.usefixtures("escalating")
def test_every_refusal_is_a_problem_with_its_code_and_changes_nothing(deps, clock, key, tenant_id):
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    path = f"/v1/collection_cases/{case['id']}"
    today = (ISSUED + timedelta(days=3)).isoformat()
    refused("GET", "/v1/collection_cases/case_nope", key, None, 404, "collection_case_not_found")
    refused("POST", "/v1/collection_cases/case_nope/assign", key, {"assignee": "x"}, 404, "collection_case_not_found")
    refused("POST", f"{path}/assign", key, {}, 422, "invalid_request")
    refused("POST", f"{path}/assign", key, {"assignee": ""}, 422, "invalid_request")
    refused("POST", f"{path}/notes", key, {"text": "x" * 2001}, 422, "invalid_request")
    refused("POST", f"{path}/notes", key, {"text": "   "}, 422, "invalid_note")
    refused("POST", f"{path}/notes", key, {"text": "x", "extra": 1}, 422, "invalid_request")
    refused("POST", f"{path}/resolve", key, {"resolution": "forgiven"}, 422, "invalid_request")
    # a promise is made to whoever holds the case
    refused(
        "POST", f"{path}/promise_to_pay", key, {"date": "2026-12-10"}, 409, "collection_case_record_promise_not_allowed"
    )
    ok("POST", f"{path}/assign", key, {"assignee": "olga"})
    refused("POST", f"{path}/promise_to_pay", key, {"date": today}, 422, "invalid_promise_date")
    refused("POST", f"{path}/promise_to_pay", key, {"date": "2027-03-01"}, 422, "invalid_promise_date")
    refused(
        "POST", f"{path}/promise_to_pay", key, {"date": "2026-12-10", "amount": 12001}, 422, "invalid_promise_amount"
    )
    refused("POST", f"{path}/promise_to_pay", key, {"date": "2026-12-10", "amount": 0}, 422, "invalid_request")
    refused("POST", f"{path}/promise_to_pay", key, {"date": "2026-12-10", "amount": "5"}, 422, "invalid_request")
    refused("POST", f"{path}/promise_to_pay", key, {"date": "soon"}, 422, "invalid_request")
    after = ok("GET", path, key)
    assert after["status"] == "assigned" and after["promises"] == [] and after["notes"] == []
    assert ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]["paused"] is None
    ok("POST", f"{path}/promise_to_pay", key, {"date": "2026-12-10"})
    refused(
        "POST", f"{path}/promise_to_pay", key, {"date": "2026-12-11"}, 409, "collection_case_record_promise_not_allowed"
    )


def listing(key: str, **query: str) -> dict[str, Any]:
    from functions.api import app as api
    from tests.integration.conftest import http_event

    answer = api.lambda_handler(http_event("GET", "/v1/collection_cases", key, query=query), FakeLambdaContext())
    return {"status": answer["statusCode"], **json.loads(answer["body"])}


@pytest.mark.usefixtures("escalating")
def test_the_listings_by_age_and_amount_one_page_at_a_time(deps, clock, key, tenant_id):
    customer = new_customer(key)
    amounts = [5000, 90000, 1000]  # issued a day apart: escalated a day apart, oldest first
    invoices = []
    for n, amount in enumerate(amounts):
        set_clock(clock, at_sweep(ISSUED + timedelta(days=n)) - timedelta(hours=1))
        invoices.append(send_invoice(key, customer, amount))
    through(deps, clock, ISSUED, ISSUED + timedelta(days=5))
    by_age = listing(key, status="open")
    assert by_age["status"] == 200
    assert [c["invoice_id"] for c in by_age["data"]] == [i["id"] for i in invoices]
    assert [c["amount_due"] for c in listing(key, status="open", sort="amount")["data"]] == [90000, 5000, 1000]
    assert [c["amount_due"] for c in listing(key, sort="amount")["data"]] == [90000, 5000, 1000]
    # one page at a time, the cursor continuing its own listing only
    first = listing(key, sort="amount", limit="2")
    assert [c["amount_due"] for c in first["data"]] == [90000, 5000] and first["has_more"]
    rest = listing(key, sort="amount", limit="2", cursor=first["next_cursor"])
    assert [c["amount_due"] for c in rest["data"]] == [1000]
    assert listing(key, sort="age", cursor=first["next_cursor"])["code"] == "invalid_cursor"
    # a status change moves a case between the status listings
    ok("POST", f"/v1/collection_cases/{by_age['data'][0]['id']}/assign", key, {"assignee": "olga"})
    assert [c["amount_due"] for c in listing(key, status="open")["data"]] == [90000, 1000]
    assert [c["amount_due"] for c in listing(key, status="assigned")["data"]] == [5000]
    assert [c["amount_due"] for c in listing(key)["data"]] == [5000, 90000, 1000]  # every status, by age
    assert listing(key, status="resolved")["data"] == []
    assert (listing(key, sort="oldest")["status"], listing(key, status="closed")["code"]) == (422, "invalid_request")
    assert listing(key, limit="0")["status"] == 422
    assert listing(key, customer_id="cus_1")["code"] == "unknown_query_parameter"  # never silently ignored
    # another tenant sees none of them
    from billing.services import tenants

    _, other = tenants.create_tenant(deps.context, "Other")
    assert listing(other)["data"] == []
    refused("GET", f"/v1/collection_cases/{by_age['data'][0]['id']}", other, None, 404, "collection_case_not_found")


# --- promises to pay -------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("escalating")
def test_a_broken_promise_resumes_dunning_moved_on_by_the_pause_and_the_case_stays_open(deps, clock, key, tenant_id):
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    path = f"/v1/collection_cases/{case['id']}"
    ok("POST", f"{path}/assign", key, {"assignee": "olga"})
    promised_on = ISSUED + timedelta(days=10)
    promised = ok("POST", f"{path}/promise_to_pay", key, {"date": promised_on.isoformat(), "note": "CFO promised"})
    assert promised["status"] == "promise_to_pay" and promised["notes"][-1]["text"] == "CFO promised"
    assert promised["promises"][0]["status"] == "pending" and promised["promises"][0]["on"] == promised_on.isoformat()
    paused = ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]
    assert (
        paused["paused"] == "promise_to_pay" and paused["attention_on"] == (promised_on + timedelta(days=1)).isoformat()
    )
    timeline = ok("GET", f"/v1/invoices/{invoice['id']}/dunning", key)
    assert [s["state"] for s in timeline["steps"]] == ["done", "done", "paused", "paused"]
    assert (timeline["paused"], timeline["promise_until"]) == ("promise_to_pay", promised_on.isoformat())
    assert timeline["collection_case_id"] == case["id"]

    through(deps, clock, ISSUED + timedelta(days=4), promised_on)  # the final notice's day 7 falls in the pause
    assert [s["step_id"] for s in steps_run(tenant_id, invoice["id"])] == ["due_date:1", "due_date:3"]
    assert ok("GET", path, key)["status"] == "promise_to_pay"

    sweep_on(deps, clock, promised_on + timedelta(days=1))  # unpaid: broken
    broken = ok("GET", path, key)
    assert broken["status"] == "assigned" and broken["promises"][0]["status"] == "broken"
    assert broken["notes"][-1]["author"] == "system" and "broken" in broken["notes"][-1]["text"]
    (event,) = case_events(tenant_id, case["id"], "collection_case.promise_broken")
    assert event["data"]["paid"] == 0 and event["data"]["target"] == 12000
    resumed = ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]
    assert resumed["paused"] is None and resumed["shift_days"] == 8  # paused from day 3 to day 11
    final_on = ISSUED + timedelta(days=7 + 8)
    assert resumed["attention_on"] == final_on.isoformat()
    through(deps, clock, promised_on + timedelta(days=2), final_on)
    done = steps_run(tenant_id, invoice["id"])
    assert [s["step_id"] for s in done] == ["due_date:1", "due_date:3", "due_date:7"]
    assert done[2]["email"] == "final_notice"
    assert ok("GET", path, key)["status"] == "assigned"  # the case stays open


@pytest.mark.usefixtures("escalating")
def test_a_kept_partial_promise_resumes_dunning_and_says_so(deps, clock, key, tenant_id, gateway):
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    invoice = place_invoice(key, customer_id)
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    payments.collect(deps.context, gateway, tenant_id, invoice["id"], "finalized")
    through(deps, clock, ISSUED, ISSUED + timedelta(days=3))
    case_id = ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]["case_id"]
    path = f"/v1/collection_cases/{case_id}"
    ok("POST", f"{path}/assign", key, {"assignee": "olga"})
    ok("POST", f"{path}/promise_to_pay", key, {"date": (ISSUED + timedelta(days=5)).isoformat(), "amount": 1000})
    set_clock(clock, at_sweep(ISSUED + timedelta(days=4)))
    payments.collect(deps.context, gateway, tenant_id, invoice["id"], "part", amount=1000)
    assert ok("GET", f"/v1/invoices/{invoice['id']}", key)["status"] == "open"
    through(deps, clock, ISSUED + timedelta(days=4), ISSUED + timedelta(days=6))
    kept = ok("GET", path, key)
    assert kept["status"] == "assigned" and kept["promises"][0]["status"] == "kept"
    assert case_events(tenant_id, case_id, "collection_case.promise_kept")
    assert ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]["paused"] is None


@pytest.mark.usefixtures("escalating")
def test_an_invoice_paid_before_the_promised_day_resolves_its_case_as_paid(deps, clock, key, tenant_id, gateway):
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    invoice = place_invoice(key, customer_id)
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    payments.collect(deps.context, gateway, tenant_id, invoice["id"], "finalized")
    through(deps, clock, ISSUED, ISSUED + timedelta(days=3))
    case_id = ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]["case_id"]
    path = f"/v1/collection_cases/{case_id}"
    ok("POST", f"{path}/assign", key, {"assignee": "olga"})
    ok("POST", f"{path}/promise_to_pay", key, {"date": (ISSUED + timedelta(days=9)).isoformat()})
    set_clock(clock, at_sweep(ISSUED + timedelta(days=5)))
    payments.collect(deps.context, gateway, tenant_id, invoice["id"], "customer-paid")  # succeeds
    assert ok("GET", f"/v1/invoices/{invoice['id']}", key)["status"] == "paid"
    resolved = ok("GET", path, key)
    assert resolved["status"] == "resolved" and resolved["resolution"]["code"] == "paid"
    assert resolved["resolution"]["by"] == "system" and resolved["promises"][0]["status"] == "kept"
    (event,) = case_events(tenant_id, case_id, "collection_case.resolved")
    assert event["data"]["resolution"] == "paid"
    through(deps, clock, ISSUED + timedelta(days=6), ISSUED + timedelta(days=11))  # nothing more happens
    assert len(case_events(tenant_id, case_id, "collection_case.resolved")) == 1
    assert not case_events(tenant_id, case_id, "collection_case.promise_broken")


@pytest.mark.usefixtures("escalating")
def test_a_wire_that_pays_the_invoice_resolves_its_case_as_a_stripe_payment_does(deps, clock, key, tenant_id):
    invoice, case = escalated_case(deps, clock, key, tenant_id, amount=12000)
    received = clock.now().isoformat()
    wire = {"amount": invoice["amount_due"], "method": "bank_transfer", "reference": "WIRE-77", "received_at": received}
    ok("POST", f"/v1/invoices/{invoice['id']}/payments", key, wire, expect=201)
    assert ok("GET", f"/v1/invoices/{invoice['id']}", key)["status"] == "paid"
    resolved = ok("GET", f"/v1/collection_cases/{case['id']}", key)
    assert resolved["status"] == "resolved" and resolved["resolution"]["code"] == "paid"
    (event,) = case_events(tenant_id, case["id"], "collection_case.resolved")
    assert event["data"]["resolution"] == "paid"


@pytest.mark.usefixtures("escalating")
def test_a_voided_or_written_off_invoice_resolves_its_case(deps, clock, key, tenant_id):
    voided, voided_case = escalated_case(deps, clock, key, tenant_id)
    ok("POST", f"/v1/invoices/{voided['id']}/void", key)
    assert ok("GET", f"/v1/collection_cases/{voided_case['id']}", key)["resolution"]["code"] == "other"

    set_clock(clock, at_sweep(ISSUED + timedelta(days=4)) - timedelta(hours=2))
    written = send_invoice(key, new_customer(key), 3000)
    through(deps, clock, ISSUED + timedelta(days=4), ISSUED + timedelta(days=4 + 30))
    assert ok("GET", f"/v1/invoices/{written['id']}", key)["status"] == "uncollectible"
    case_id = ok("GET", f"/v1/invoices/{written['id']}", key)["dunning"]["case_id"]
    case = ok("GET", f"/v1/collection_cases/{case_id}", key)
    assert case["status"] == "resolved" and case["resolution"] == {
        "code": "written_off",
        "note": "The invoice was written off.",
        "by": "system",
    }


@pytest.mark.usefixtures("escalating")
def test_resolving_a_case_with_a_pending_promise_resumes_dunning(deps, clock, key, tenant_id):
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    path = f"/v1/collection_cases/{case['id']}"
    ok("POST", f"{path}/assign", key, {"assignee": "olga"})
    ok("POST", f"{path}/promise_to_pay", key, {"date": (ISSUED + timedelta(days=20)).isoformat()})
    set_clock(clock, at_sweep(ISSUED + timedelta(days=6)))
    resolved = ok("POST", f"{path}/resolve", key, {"resolution": "other", "note": "handed to the lawyers"})
    assert resolved["promises"][0]["status"] == "broken"
    dunning = ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]
    assert dunning["paused"] is None and dunning["shift_days"] == 3 and dunning["promise_until"] is None


def test_the_preview_shows_the_escalate_step_and_the_case_it_opened(deps, clock, key, tenant_id):
    invoice = send_invoice(key, new_customer(key), 4000)
    preview = ok("POST", "/v1/settings/dunning/preview", key, {"invoice_id": invoice["id"], "policy": POLICY})
    assert [(s["day"], s["actions"], s["state"]) for s in preview["steps"]] == [
        (1, ["email_reminder"], "planned"),
        (3, ["email_reminder", "escalate"], "planned"),
        (7, ["final_notice"], "planned"),
        (30, ["mark_uncollectible"], "planned"),
    ]
    assert preview["collection_case_id"] is None
    ok("PUT", "/v1/settings/dunning", key, POLICY)
    through(deps, clock, ISSUED, ISSUED + timedelta(days=3))
    preview = ok("POST", "/v1/settings/dunning/preview", key, {"invoice_id": invoice["id"]})
    assert preview["collection_case_id"] == "case_" + invoice["id"].removeprefix("in_")
    assert [s["state"] for s in preview["steps"]] == ["past", "past", "planned", "planned"]
    bad = {**POLICY, "steps": [{"day": 3, "actions": ["escalate", "mark_uncollectible"]}]}
    refused("PUT", "/v1/settings/dunning", key, bad, 422, "invalid_request")


@pytest.mark.usefixtures("escalating")
def test_a_promise_and_a_payment_plan_do_not_hold_dunning_at_once(deps, clock, key, tenant_id):
    customer = new_customer(key)
    invoice, other = send_invoice(key, customer, 5000), send_invoice(key, customer, 6000)
    through(deps, clock, ISSUED, ISSUED + timedelta(days=3))
    path, other_path = (
        f"/v1/collection_cases/{ok('GET', f'/v1/invoices/{i}', key)['dunning']['case_id']}"
        for i in (invoice["id"], other["id"])
    )
    ok("POST", f"{path}/assign", key, {"assignee": "olga"})
    promise_on = (ISSUED + timedelta(days=8)).isoformat()
    ok("POST", f"{path}/promise_to_pay", key, {"date": promise_on})
    plan = {"defer_to": (ISSUED + timedelta(days=20)).isoformat()}
    refused("POST", f"/v1/invoices/{invoice['id']}/payment_plan", key, plan, 409, "promise_to_pay_active")
    # the tenant settles on a plan: the case resolves as payment_plan, then the plan is agreed
    ok("POST", f"{path}/resolve", key, {"resolution": "payment_plan"})
    ok("POST", f"/v1/invoices/{invoice['id']}/payment_plan", key, plan, expect=201)
    assert ok("GET", f"/v1/invoices/{invoice['id']}", key)["dunning"]["paused"] == "payment_plan"
    # and a promise cannot come on top of a plan
    ok("POST", f"/v1/invoices/{other['id']}/payment_plan", key, plan, expect=201)
    ok("POST", f"{other_path}/assign", key, {"assignee": "olga"})
    refused("POST", f"{other_path}/promise_to_pay", key, {"date": promise_on}, 409, "dunning_paused")


@pytest.mark.usefixtures("escalating")
def test_a_credit_note_that_credits_what_is_due_resolves_its_case_as_a_payment_does(deps, clock, key, tenant_id):
    invoice, case = escalated_case(deps, clock, key, tenant_id, amount=12000)
    body = {"amount": 12000, "reason": "product_unsatisfactory", "credit_to": "invoice"}
    ok("POST", f"/v1/invoices/{invoice['id']}/credit_notes", key, body, expect=201)
    paid = ok("GET", f"/v1/invoices/{invoice['id']}", key)
    assert (paid["status"], paid["amount_due"], paid["amount_paid"]) == ("paid", 0, 0)
    resolved = ok("GET", f"/v1/collection_cases/{case['id']}", key)
    assert resolved["status"] == "resolved" and resolved["resolution"]["code"] == "paid"
