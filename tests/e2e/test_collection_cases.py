"""Human escalation on the local stack, over HTTP as a storefront and a finance person would, the clock moved from
one dunning sweep the stack names to the next: an unpaid invoice, the escalate step opens a case and the finance
contact gets its e-mail (read back from the local SES), a promise to pay pauses dunning, the clock passes the promised
day unpaid, the promise is broken, dunning resumes and its next step runs. Played on a stack started at a plain
instant and on one started in a year's last minutes (the steps fall in the next year; naive date arithmetic breaks)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.clock import now, through_dunning_day
from tests.e2e.conftest import Storefront, serving
from tests.e2e.test_payments import eventually
from tests.e2e.test_storefront import emails_to

STARTS = {
    "2027-04-14T15:00:00Z": "a plain afternoon",
    "2026-12-31T23:58:00Z": "a year's last minutes: due on 31 December, every step and the promise in 2027",
}
FINANCE = "finance.cases@example.com"
POLICY = {
    "steps": [
        {"day": 1, "actions": ["email_reminder"]},
        {"day": 3, "actions": ["escalate"]},
        {"day": 7, "actions": ["final_notice"]},
        {"day": 30, "actions": ["mark_uncollectible"]},
    ]
}


@pytest.fixture(scope="module", params=sorted(STARTS))
def shop(request, tmp_path_factory):
    with serving(tmp_path_factory.mktemp("cases"), start=request.param) as stack:
        yield Storefront(stack)


def ok(answer: Any, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()


def step_on(shop: Storefront, invoice_id: str, step_id: str) -> str:
    timeline = ok(shop.get(f"/v1/invoices/{invoice_id}/dunning"))
    return next(s["on"] for s in timeline["steps"] if f"{s['anchor']}:{s['day']}" == step_id)


def test_escalate_promise_broken_and_dunning_resumes(shop):
    ok(shop.http.put(shop.base + "/v1/settings/dunning", json=POLICY, timeout=30))
    profile = {"legal_name": "Cases GmbH", "finance_email": FINANCE, "default_locale": "zh"}
    ok(shop.http.put(shop.base + "/v1/settings/profile", json=profile, timeout=30))
    customer = ok(
        shop.post(
            "/v1/customers", {"email": "late.payer@example.com", "name": "Lea", "locale": "en", "currency": "eur"}
        ),
        201,
    )
    order = {
        "customer_id": customer["id"],
        "currency": "eur",
        "lines": [{"description": "Audit", "quantity": 1, "unit_amount": 250000}],
        "collection_method": "send_invoice",
        "days_until_due": 0,
    }
    invoice_id = ok(shop.post("/v1/orders", order), 201)["invoice_id"]
    invoice = ok(shop.get(f"/v1/invoices/{invoice_id}"))
    assert invoice["due_date"] == now(shop).date().isoformat()

    # the escalate step's sweep: one case, and the finance contact's e-mail in the profile's language
    escalate_on = step_on(shop, invoice_id, "due_date:3")
    assert escalate_on == (date.fromisoformat(invoice["due_date"]) + timedelta(days=3)).isoformat()
    through_dunning_day(shop, escalate_on)
    case_id = eventually(lambda: shop.get(f"/v1/invoices/{invoice_id}").json()["dunning"]["case_id"])
    assert case_id
    case = ok(shop.get(f"/v1/collection_cases/{case_id}"))
    assert (case["status"], case["amount_due"], case["currency"]) == ("open", 250000, "eur")
    assert case["opened_at"][:10] == escalate_on and case["invoice_amount_due"] == 250000
    listed = ok(shop.get("/v1/collection_cases", status="open"))
    assert [c["id"] for c in listed["data"]] == [case_id]
    (mail,) = emails_to(shop, FINANCE)
    assert mail["kind"] == "collection_case_opened" and mail["locale"] == "zh"
    assert "已立催收案件" in mail["subject"] and invoice["number"] in mail["subject"]

    # a promise to pay three days out pauses dunning
    ok(shop.post(f"/v1/collection_cases/{case_id}/assign", {"assignee": "olga@example.com"}))
    today = now(shop).date()
    promised_on = today + timedelta(days=3)
    promised = ok(shop.post(f"/v1/collection_cases/{case_id}/promise_to_pay", {"date": promised_on.isoformat()}))
    assert promised["status"] == "promise_to_pay"
    dunning = ok(shop.get(f"/v1/invoices/{invoice_id}"))["dunning"]
    assert dunning["paused"] == "promise_to_pay" and dunning["promise_until"] == promised_on.isoformat()
    final_before = step_on(shop, invoice_id, "due_date:7")

    # the promised day passes unpaid: broken the day after, the case back with its assignee, dunning resumed
    through_dunning_day(shop, promised_on.isoformat())
    assert ok(shop.get(f"/v1/collection_cases/{case_id}"))["status"] == "promise_to_pay"  # its day is the customer's
    through_dunning_day(shop, (promised_on + timedelta(days=1)).isoformat())
    broken = eventually(lambda: (c := shop.get(f"/v1/collection_cases/{case_id}").json())["status"] == "assigned" and c)
    assert broken and broken["promises"][0]["status"] == "broken" and broken["notes"][-1]["author"] == "system"
    dunning = ok(shop.get(f"/v1/invoices/{invoice_id}"))["dunning"]
    assert dunning["paused"] is None and dunning["shift_days"] == (promised_on + timedelta(days=1) - today).days

    # the next step runs, moved on by the pause (as after a missed payment plan)
    final_on = step_on(shop, invoice_id, "due_date:7")
    assert date.fromisoformat(final_on) == date.fromisoformat(final_before) + timedelta(days=dunning["shift_days"])
    through_dunning_day(shop, final_on)
    timeline = ok(shop.get(f"/v1/invoices/{invoice_id}/dunning"))
    assert [s["state"] for s in timeline["steps"]][:3] == ["done", "done", "done"]
    kinds = [e["kind"] for e in emails_to(shop, "late.payer@example.com", at_least=3)]
    assert kinds[-1] == "final_notice" and "dunning_reminder" in kinds
    assert datetime.fromisoformat(ok(shop.get("/_local/clock"))["now"]).date().isoformat() == final_on
    assert ok(shop.get(f"/v1/collection_cases/{case_id}"))["status"] == "assigned"  # the case stays open
