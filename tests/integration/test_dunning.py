"""Dunning on moto with Stripe's behaviour faked: the sweep and worker handlers play a tenant's policy day by day,
the notifier sends what each step calls for, and every outcome is read back (invoice, outbox, mail log, SES, the
charges Stripe saw, the API's timeline).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import stripe

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.services import dunning, payments, subscriptions
from functions.dunning_sweep import app as sweep_handler
from functions.dunning_worker import app as worker_handler
from functions.notifier import app as notifier
from tests.integration.conftest import FakeLambdaContext, all_failed, sample_event
from tests.integration.numbering import number_drafts
from tests.integration.test_collection import DECLINE, TOTAL, call, get_invoice, new_customer, place_invoice, save_card
from tests.integration.test_stripe_webhooks import FakeStripe
from tests.integration.test_workers import (
    NO_FAILURES,
    mail_log,
    outbox,
    receive_all,
    sent_emails,
    set_clock,
    sqs_bodies_event,
    sqs_event,
)

pytestmark = pytest.mark.usefixtures("deps")
ISSUED = date(2026, 11, 23)  # the clock fixture's day: charge_automatically invoices are due the day they are issued
STOLEN = {**DECLINE, "decline_code": "stolen_card", "message": "Your card was declined."}


@pytest.fixture
def gateway(deps: Deps) -> FakeStripe:
    fake = FakeStripe()
    deps.__dict__["stripe"] = fake
    deps.env["PUBLIC_BASE_URL"] = "https://billing.example.com"
    return fake


@pytest.fixture
def declined_invoice(deps: Deps, gateway: FakeStripe, key: str, tenant_id: str) -> dict[str, Any]:
    """A charge_automatically invoice whose charge at finalization was declined (a soft decline)."""
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    invoice = place_invoice(key, customer_id)
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    failed = payments.collect(deps.context, gateway, tenant_id, invoice["id"], "finalized")
    assert failed is not None and failed.status == "failed"
    return get_invoice(key, invoice["id"])


def on_day(deps: Deps, clock, n: int) -> dict[str, Any]:
    """Day ``n`` after the due date at 09:05 UTC: the sweep fires, the worker takes what it fanned out."""
    when = datetime.combine(ISSUED + timedelta(days=n), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9, minutes=5)
    set_clock(clock, when)
    run = {**sample_event("scheduler_dunning_sweep.json"), "scheduled_time": when.isoformat()}
    swept = sweep_handler.lambda_handler(run, FakeLambdaContext())
    messages = receive_all(deps.env["DUNNING_QUEUE_URL"])
    if messages:
        assert worker_handler.lambda_handler(sqs_event("sqs_dunning.json", messages), FakeLambdaContext()) == (
            NO_FAILURES
        )
    return swept


def notify_all(tenant_id: str, invoice_id: str) -> None:
    """Hand every event of the invoice to the notifier, as the relay would (again: the mail log stops repeats)."""
    docs = [
        json.loads(i["doc"]["S"])
        for t in ("invoice.dunning_step", "invoice.payment_succeeded")
        for i in outbox(keys.invoice(tenant_id, invoice_id), t)
    ]
    if docs:
        event = sqs_bodies_event("sqs_notification.json", *docs)
        assert notifier.lambda_handler(event, FakeLambdaContext()) == NO_FAILURES


def steps(tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    found = [
        json.loads(i["doc"]["S"])["data"] for i in outbox(keys.invoice(tenant_id, invoice_id), "invoice.dunning_step")
    ]
    return sorted(found, key=lambda d: d["step"])


def test_a_declining_card_plays_the_whole_default_policy_each_step_once(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    invoice_id = declined_invoice["id"]
    assert declined_invoice["dunning"]["first_failure_at"] is not None
    for day in range(0, 32):
        gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
        on_day(deps, clock, day)
        notify_all(tenant_id, invoice_id)
        on_day(deps, clock, day)  # a second firing of the same scheduled time, and a redelivery: nothing more
    done = steps(tenant_id, invoice_id)
    assert [s["step"] for s in done] == [0, 1, 2, 3, 4]
    assert [s["email"] for s in done] == [
        "payment_retry_failed",
        "payment_retry_failed",
        "final_notice",
        "service_suspended",
        None,
    ]
    assert [s["next_retry_on"] for s in done] == ["2026-11-26", "2026-11-30", None, None, None]
    assert done[2]["suspend_on"] == "2026-12-07" and done[2]["write_off_on"] == "2026-12-23"
    # one charge at finalization and one per retry step, each with its own idempotency key
    assert len(gateway.charges) == 4 and len(set(gateway.charged_keys)) == 4
    final = get_invoice(key, invoice_id)
    assert final["status"] == "uncollectible" and final["amount_due"] == TOTAL
    days = ["due_date:1", "due_date:3", "due_date:7", "due_date:14", "due_date:30"]
    assert final["dunning"]["steps_done"] == days and final["dunning"]["attention_on"] is None
    kinds = [m["kind"] for m in sorted(mail_log(tenant_id, invoice_id), key=lambda m: m["sent_at"])]
    assert kinds == ["payment_retry_failed", "payment_retry_failed", "final_notice", "service_suspended"]
    assert len(sent_emails()) == 4
    retry_mail = sent_emails()[0]
    assert "November 26, 2026" in retry_mail.body  # the real date of the next retry


def test_a_hard_decline_is_not_retried_until_the_customer_saves_another_card(deps, clock, gateway, key, tenant_id):
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    invoice = place_invoice(key, customer_id)
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": STOLEN})
    payments.collect(deps.context, gateway, tenant_id, invoice["id"], "finalized")
    gateway.calls.clear()

    on_day(deps, clock, 1)
    notify_all(tenant_id, invoice["id"])
    (first,) = steps(tenant_id, invoice["id"])
    assert first["charge"] == {"outcome": "not_charged", "reason": "hard_decline", "decline_code": "stolen_card"}
    assert first["card_update_required"] is True and first["next_retry_on"] is None
    assert gateway.calls_to("charge_off_session") == []
    (mail,) = sent_emails()
    assert "/pay/" in mail.body  # the hosted invoice page, to pay with another card

    # The customer saves another card: the day 3 retry charges it, the invoice is paid, dunning stops.
    intent = gateway.create_setup_intent(tenant_id, customer_id, "cus_x", None)
    gateway.confirm_setup_intent(intent["id"], "pm_card_mastercard")
    payments.save_payment_method(deps.context, gateway, tenant_id, intent["id"])
    on_day(deps, clock, 3)
    notify_all(tenant_id, invoice["id"])
    assert [c["payment_method"] for c in gateway.calls_to("charge_off_session")] == ["pm_card_mastercard"]
    paid = get_invoice(key, invoice["id"])
    assert paid["status"] == "paid" and paid["dunning"]["attention_on"] is None
    assert steps(tenant_id, invoice["id"])[-1]["email"] is None  # the charge collected it: no dunning email
    kinds = sorted(m["kind"] for m in mail_log(tenant_id, invoice["id"]))
    assert kinds == ["payment_retry_failed", "payment_thank_you"]
    for day in range(4, 32):
        on_day(deps, clock, day)
    assert len(steps(tenant_id, invoice["id"])) == 2 and len(gateway.calls_to("charge_off_session")) == 1


def test_an_invoice_paid_before_its_step_gets_no_email_and_no_charge(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    invoice_id = declined_invoice["id"]
    set_clock(clock, datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    paid = payments.retry_now(deps.context, gateway, tenant_id, invoice_id)  # the customer paid an hour before
    assert paid.status == "succeeded"
    gateway.calls.clear()
    stale = sqs_bodies_event("sqs_dunning.json", {"tenant_id": tenant_id, "invoice_id": invoice_id})

    assert on_day(deps, clock, 1)["fanned_out"] == 0  # a paid invoice is off the attention index
    assert worker_handler.lambda_handler(stale, FakeLambdaContext()) == NO_FAILURES  # a message sent before

    assert steps(tenant_id, invoice_id) == [] and gateway.calls == []


def test_two_workers_racing_on_one_step_run_it_once(deps, clock, gateway, key, tenant_id, declined_invoice):
    invoice_id = declined_invoice["id"]
    set_clock(clock, datetime(2026, 11, 24, 9, 5, tzinfo=UTC))
    gateway.outcomes += [{"status": "requires_payment_method", "last_payment_error": DECLINE}]
    repo = deps.context.repo
    real_commit = repo.commit
    raced = []

    def commit_after_the_other_worker(tx):
        if not raced:
            raced.append(True)
            dunning.advance(deps.context, gateway, tenant_id, invoice_id)  # the other worker gets in first
        return real_commit(tx)

    repo.commit = commit_after_the_other_worker
    try:
        dunning.advance(deps.context, gateway, tenant_id, invoice_id)
    finally:
        repo.commit = real_commit

    assert [s["step"] for s in steps(tenant_id, invoice_id)] == [0]
    assert len(outbox(keys.invoice(tenant_id, invoice_id), "invoice.past_due")) == 1
    assert len(gateway.charges) == 2  # the finalization charge and one retry, whoever made the call


def test_stripe_down_retries_the_step_through_the_queue_without_recording_it(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    invoice_id = declined_invoice["id"]
    set_clock(clock, datetime(2026, 11, 24, 9, 5, tzinfo=UTC))
    real_charge = gateway.charge_off_session

    def down(*args, **kwargs):
        raise stripe.APIConnectionError("Stripe is unreachable")

    gateway.charge_off_session = down
    message = sqs_bodies_event("sqs_dunning.json", {"tenant_id": tenant_id, "invoice_id": invoice_id})
    # every record failed: reported as failures, backed off, and back in the queue later
    assert all_failed(worker_handler.lambda_handler(message, FakeLambdaContext()), message)
    assert steps(tenant_id, invoice_id) == []

    gateway.charge_off_session = real_charge
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    assert worker_handler.lambda_handler(message, FakeLambdaContext()) == NO_FAILURES
    assert [s["step"] for s in steps(tenant_id, invoice_id)] == [0] and len(gateway.charges) == 2


def test_ses_down_fails_the_notification_and_logs_nothing(deps, clock, gateway, key, tenant_id, declined_invoice):
    invoice_id = declined_invoice["id"]
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 1)
    mailer = deps.mailer

    class SesDown:
        def send(self, *args, **kwargs):
            raise RuntimeError("SES: Throttling")

    deps.__dict__["mailer"] = SesDown()
    try:
        doc = json.loads(outbox(keys.invoice(tenant_id, invoice_id), "invoice.dunning_step")[0]["doc"]["S"])
        event = sqs_bodies_event("sqs_notification.json", doc)
        assert all_failed(notifier.lambda_handler(event, FakeLambdaContext()), event)
        assert mail_log(tenant_id, invoice_id) == []
    finally:
        deps.__dict__["mailer"] = mailer
    notify_all(tenant_id, invoice_id)
    assert [m["kind"] for m in mail_log(tenant_id, invoice_id)] == ["payment_retry_failed"]


def test_a_dispute_pauses_dunning_and_its_close_resumes_it_later_by_the_pause(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    invoice_id = declined_invoice["id"]
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 1)  # step 0 runs
    # A partial payment made earlier is disputed on day 2: dunning pauses.
    set_clock(clock, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    pay = payments.apply_payment_intent(
        deps.context,
        tenant_id,
        invoice_id,
        "pay_partial",
        gateway.add_intent(amount=1000, amount_received=1000, status="succeeded", currency="usd"),
    )
    payments.record_dispute(deps.context, tenant_id, invoice_id, pay.id, {"id": "dp_1", "status": "needs_response"})
    assert get_invoice(key, invoice_id)["dunning"]["paused"] == "dispute"
    for day in range(3, 10):
        on_day(deps, clock, day)
    assert [s["step"] for s in steps(tenant_id, invoice_id)] == [0]
    status, timeline, _ = call("GET", f"/v1/invoices/{invoice_id}/dunning", key)
    assert status == 200 and timeline["paused"] == "dispute"
    assert [s["state"] for s in timeline["steps"]] == ["done", "paused", "paused", "paused", "paused"]

    # Closed on day 10 (paused since day 2): the day 3 step falls on day 11.
    set_clock(clock, datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    payments.record_dispute(deps.context, tenant_id, invoice_id, pay.id, {"id": "dp_1", "status": "won"})
    on_day(deps, clock, 10)
    assert [s["step"] for s in steps(tenant_id, invoice_id)] == [0]
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 11)
    done = steps(tenant_id, invoice_id)
    assert [s["step"] for s in done] == [0, 1] and done[1]["charge"]["amount"] == TOTAL - 1000


def test_a_payment_plan_pauses_dunning_charges_instalments_and_a_missed_one_resumes_it(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    invoice_id = declined_invoice["id"]
    plan = {"instalments": [{"due_on": "2026-11-30", "amount": 2000}, {"due_on": "2026-12-14", "amount": TOTAL - 2000}]}
    status, agreed, _ = call("POST", f"/v1/invoices/{invoice_id}/payment_plan", key, plan)
    assert status == 201 and agreed["status"] == "active", agreed
    assert call("POST", f"/v1/invoices/{invoice_id}/payment_plan", key, plan)[1]["code"] == "payment_plan_active"
    for day in range(1, 7):
        on_day(deps, clock, day)
    assert steps(tenant_id, invoice_id) == [] and len(gateway.charges) == 1  # paused: only the finalization charge

    on_day(deps, clock, 7)  # 2026-11-30: the first instalment is charged, for its amount
    assert gateway.charges[-1]["amount"] == 2000
    assert get_invoice(key, invoice_id)["amount_due"] == TOTAL - 2000
    on_day(deps, clock, 8)
    assert get_invoice(key, invoice_id)["dunning"]["plan"]["status"] == "active"

    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 21)  # 2026-12-14: the second instalment's charge is declined
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 22)  # the day after: the plan is missed, dunning resumes where it stopped
    invoice = get_invoice(key, invoice_id)
    assert invoice["dunning"]["plan"]["status"] == "missed" and invoice["dunning"]["paused"] is None
    assert len(outbox(keys.invoice(tenant_id, invoice_id), "invoice.payment_plan_missed")) == 1
    # paused from the day it was agreed (day 0) to day 22: the policy's days count on from there
    assert steps(tenant_id, invoice_id) == [] and invoice["dunning"]["attention_on"] == "2026-12-16"
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 23)  # the day 1 step, 22 days late; the day 3 step follows on day 25
    assert [s["step"] for s in steps(tenant_id, invoice_id)] == [0]
    assert steps(tenant_id, invoice_id)[0]["next_retry_on"] == "2026-12-18"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"instalments": [{"due_on": "2026-11-30", "amount": 1}]}, "invalid_payment_plan"),  # not the amount due
        ({"instalments": [{"due_on": "2026-11-01", "amount": TOTAL}]}, "invalid_payment_plan"),  # in the past
        (
            {"instalments": [{"due_on": "2026-12-01", "amount": 1}, {"due_on": "2026-11-30", "amount": TOTAL - 1}]},
            "invalid_payment_plan",
        ),  # out of order
        ({"defer_to": "2028-01-01"}, "invalid_payment_plan"),  # beyond a year
        ({"defer_to": "2026-12-01", "instalments": []}, "invalid_request"),
        ({"instalments": []}, "invalid_request"),  # was a 500 (found by the fuzz test)
        ({}, "invalid_request"),
        ({"instalments": [{"due_on": "2026-12-01", "amount": 0}]}, "invalid_request"),
    ],
)
def test_a_bad_payment_plan_is_refused_and_changes_nothing(deps, gateway, key, tenant_id, declined_invoice, body, code):
    invoice_id = declined_invoice["id"]
    status, problem, _ = call("POST", f"/v1/invoices/{invoice_id}/payment_plan", key, body)
    assert status in (400, 422) and problem["code"] == code, problem
    assert get_invoice(key, invoice_id) == declined_invoice


def test_deferring_the_due_date_and_a_plan_on_a_paid_invoice(deps, clock, gateway, key, tenant_id, declined_invoice):
    invoice_id = declined_invoice["id"]
    status, plan, _ = call("POST", f"/v1/invoices/{invoice_id}/payment_plan", key, {"defer_to": "2026-12-10"})
    assert status == 201 and plan["instalments"] == [{"due_on": "2026-12-10", "amount": TOTAL}]
    payments.retry_now(deps.context, gateway, tenant_id, invoice_id)
    assert get_invoice(key, invoice_id)["status"] == "paid"
    status, problem, _ = call("POST", f"/v1/invoices/{invoice_id}/payment_plan", key, {"defer_to": "2026-12-10"})
    assert (status, problem["code"]) == (409, "invoice_not_payable")


def test_the_timeline_shows_steps_done_and_planned_emails_and_charges(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    invoice_id = declined_invoice["id"]
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 1)
    notify_all(tenant_id, invoice_id)

    status, timeline, _ = call("GET", f"/v1/invoices/{invoice_id}/dunning", key)

    assert status == 200
    assert [(s["on"], s["state"]) for s in timeline["steps"]] == [
        ("2026-11-24", "done"),
        ("2026-11-26", "planned"),
        ("2026-11-30", "planned"),
        ("2026-12-07", "planned"),
        ("2026-12-23", "planned"),
    ]
    assert timeline["steps"][0]["outcome"]["charge"]["outcome"] == "failed"
    assert timeline["next_attention_on"] == "2026-11-26"
    assert [e["kind"] for e in timeline["emails"]] == ["payment_retry_failed"]
    assert [c["status"] for c in timeline["charges"]] == ["failed", "failed"]
    assert all(c["decline_code"] == "card_declined" for c in timeline["charges"])
    assert call("GET", "/v1/invoices/in_nope/dunning", key)[0] == 404


def test_dunning_moves_the_subscription_past_due_then_suspends_it_and_payment_brings_it_back(
    deps, clock, gateway, key, tenant_id
):
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    plan = {
        "name": "Pro",
        "interval": {"unit": "month", "count": 1},
        "prices": [{"currency": "usd", "scheme": "flat", "amount": TOTAL}],
    }
    plan_id = call("POST", "/v1/plans", key, plan)[1]["id"]
    status, sub, _ = call(
        "POST", "/v1/subscriptions", key, {"customer_id": customer_id, "items": [{"plan_id": plan_id}]}
    )
    assert status == 201, sub
    set_clock(clock, datetime(2026, 11, 23, 13, 10, tzinfo=UTC))
    (billed,) = subscriptions.bill_subscriptions(deps.context, tenant_id, [sub["id"]]).billed
    number_drafts(deps)
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    payments.collect(deps.context, gateway, tenant_id, billed.invoice_id, "finalized")

    def sub_status():
        return call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]["status"]

    for day in range(1, 15):
        gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
        on_day(deps, clock, day)
        if day == 1:
            assert sub_status() == "past_due"
    assert sub_status() == "suspended"  # the day 14 step paused service
    gateway.outcomes.clear()
    payments.retry_now(deps.context, gateway, tenant_id, billed.invoice_id)  # the customer paid
    assert get_invoice(key, billed.invoice_id)["status"] == "paid"
    assert sub_status() == "active"


def test_editing_the_policy_mid_dunning_neither_reruns_a_done_step_nor_skips_one(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    """Issue 11, item 7: steps are known by their anchor and day, not their position in the policy. A step inserted
    before steps already done neither makes them run again nor takes the place of one still to come; each retry is
    an attempt of its own."""
    invoice_id = declined_invoice["id"]
    retry = lambda day: {"day": day, "anchor": "due_date", "actions": ["retry_charge"]}  # noqa: E731
    assert call("PUT", "/v1/settings/dunning", key, {"steps": [retry(1), retry(3), retry(7)]})[0] == 200
    for day in (1, 2, 3):
        gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
        on_day(deps, clock, day)
    assert [s["day"] for s in steps(tenant_id, invoice_id)] == [1, 3]

    # while this invoice is in dunning, the tenant inserts a day-2 step before the ones already done
    assert call("PUT", "/v1/settings/dunning", key, {"steps": [retry(1), retry(2), retry(3), retry(7)]})[0] == 200
    for day in (4, 5, 6, 7):
        gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
        on_day(deps, clock, day)
    ran = sorted(s["day"] for s in steps(tenant_id, invoice_id))
    assert ran.count(3) == 1 and 7 in ran  # day 3 not again, day 7 not skipped (day 2 caught up: {1, 2, 3, 7})
    attempts = [p["id"] for p in call("GET", f"/v1/invoices/{invoice_id}/payments", key)[1]["data"]]
    assert len(attempts) == len(set(attempts)) == len(ran) + 1  # finalization + one attempt per step run


def test_a_step_whose_charge_a_crash_left_pending_before_step_ids_is_resumed_not_doubled(
    deps, clock, gateway, key, tenant_id, declined_invoice
):
    """An attempt started under the position-based key (``step-0``) and never answered is resumed with that key:
    Stripe's idempotency makes it the same charge, not a second one."""
    from billing.domain.payments import payment_id

    invoice = deps.context.repo.invoice(tenant_id, declined_invoice["id"])
    legacy = payments._payment_for(deps.context, invoice, payment_id(invoice.id, "step-0"), attempt_key="step-0")
    assert legacy.status == "pending"
    gateway.calls.clear()
    on_day(deps, clock, 1)
    assert gateway.charged_keys == [legacy.id]
    assert deps.context.repo.invoice(tenant_id, invoice.id).dunning.steps_done == ["due_date:1"]


def test_a_position_recorded_before_step_ids_still_counts_as_done():
    from billing.domain.dunning import DEFAULT_POLICY, DunningProgress

    progress = DunningProgress(steps_done=[0])  # the default policy's day-1 step, recorded by its position
    due = progress.due_steps(DEFAULT_POLICY, date(2026, 12, 1), date(2026, 12, 4))
    assert [s.id for s in due] == ["due_date:3"]
