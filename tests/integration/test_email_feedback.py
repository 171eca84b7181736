"""Issue 11, item 13: SES bounces and complaints (SNS -> SQS) put an address on the tenant's suppression list; the
notifier emails it no more and the invoice says why, while the invoice itself (its charges, its pay link) goes on."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.services import email_feedback, hosted_page
from functions.email_feedback import app as feedback_handler
from tests.integration import test_dunning
from tests.integration.conftest import FakeLambdaContext, sample_event
from tests.integration.test_collection import DECLINE, call, get_invoice
from tests.integration.test_hosted_page import call as http_call
from tests.integration.test_workers import NO_FAILURES, mail_log, outbox, sent_emails, sqs_bodies_event

pytestmark = pytest.mark.usefixtures("deps")
# an invoice in dunning, as the dunning tests make it
gateway, declined_invoice = test_dunning.gateway, test_dunning.declined_invoice
on_day, notify_all = test_dunning.on_day, test_dunning.notify_all


@pytest.fixture
def sends(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the notifier asked SES for (moto keeps neither tags nor the configuration set), passed on to moto."""
    client = deps.mailer.client
    real, asked = client.send_email, []
    monkeypatch.setattr(client, "send_email", lambda **kw: asked.append(kw) or real(**kw))
    return asked


def notification(sent: dict[str, Any], **change: Any) -> dict[str, Any]:
    """SES's notification about the email ``sent`` (the recorded bounce in events/, with its tags and address)."""
    note = json.loads(sample_event("sqs_ses_bounce.json")["Records"][0]["body"])
    to = sent["Destination"]["ToAddresses"][0]
    note["mail"]["tags"] = {"ses:configuration-set": [sent["ConfigurationSetName"]]} | {
        t["Name"]: [t["Value"]] for t in sent["Tags"]
    }
    note["mail"]["destination"] = [to]
    note["bounce"]["bouncedRecipients"][0]["emailAddress"] = to
    for path, value in change.items():
        *parents, leaf = path.split("__")
        target = note
        for p in parents:
            target = target[p]
        target[leaf] = value
    return note


def feed(*bodies: Any) -> dict[str, Any]:
    return feedback_handler.lambda_handler(sqs_bodies_event("sqs_ses_bounce.json", *bodies), FakeLambdaContext())


def table_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName="billing-test")["Items"]


def test_a_hard_bounce_stops_the_emails_not_the_invoice(deps, clock, gateway, sends, key, tenant_id, declined_invoice):
    invoice_id, customer_id = declined_invoice["id"], declined_invoice["customer_id"]
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 1)
    notify_all(tenant_id, invoice_id)
    [first] = sends
    assert first["ConfigurationSetName"] == "billing-test"
    assert {t["Name"]: t["Value"] for t in first["Tags"]} == {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "invoice_id": invoice_id,
        "kind": "payment_retry_failed",
    }

    assert feed(notification(first)) == NO_FAILURES
    [suppressed] = outbox(keys.customer(tenant_id, customer_id), "customer.email_suppressed")
    data = json.loads(suppressed["doc"]["S"])["data"]
    assert data["reason"] == "bounce" and data["detail"] == "General 5.1.1 smtp; 550 5.1.1 user unknown"
    assert data["invoice_id"] == invoice_id and data["address"] == first["Destination"]["ToAddresses"][0]
    assert feed(notification(first)) == NO_FAILURES  # SQS delivers again: nothing more
    assert len(outbox(keys.customer(tenant_id, customer_id), "customer.email_suppressed")) == 1

    charges, emails = len(gateway.charges), len(sent_emails())
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 3)
    notify_all(tenant_id, invoice_id)
    assert len(gateway.charges) == charges + 1  # dunning goes on: the retry was charged
    assert len(sends) == 1 and len(sent_emails()) == emails  # but no email went
    [skipped] = outbox(keys.invoice(tenant_id, invoice_id), "invoice.email_skipped")
    why = json.loads(skipped["doc"]["S"])["data"]
    assert why["email"] == "payment_retry_failed" and why["reason"] == "address_suppressed"
    assert why["suppressed_because"] == "bounce"
    notify_all(tenant_id, invoice_id)  # the relay hands the step over again: still one record of the skip
    assert len(outbox(keys.invoice(tenant_id, invoice_id), "invoice.email_skipped")) == 1
    assert sorted(str(m.get("skipped")) for m in mail_log(tenant_id, invoice_id)) == ["None", "address_suppressed"]

    status, timeline, _ = call("GET", f"/v1/invoices/{invoice_id}/dunning", key)
    assert status == 200
    assert [(e["kind"], e["skipped"]) for e in timeline["emails"]] == [
        ("payment_retry_failed", None),
        ("payment_retry_failed", "address_suppressed"),
    ]
    # the invoice stays payable through its link
    url = hosted_page.pay_url(deps.context.repo.invoice(tenant_id, invoice_id))
    assert http_call("GET", url.removeprefix(deps.env["PUBLIC_BASE_URL"]))[0] == 200
    assert get_invoice(key, invoice_id)["status"] == "open"


def test_what_suppresses_and_what_does_not(deps, clock, gateway, sends, key, tenant_id, declined_invoice):
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    on_day(deps, clock, 1)
    notify_all(tenant_id, declined_invoice["id"])
    [sent] = sends
    address = sent["Destination"]["ToAddresses"][0]
    transient = notification(sent, bounce__bounceType="Transient", bounce__bounceSubType="MailboxFull")
    delivery = {k: v for k, v in notification(sent, eventType="Delivery").items() if k != "bounce"}
    assert feed(transient, delivery) == NO_FAILURES
    assert deps.context.repo.suppression(tenant_id, address) is None  # SES retries a full mailbox itself

    complaint = {k: v for k, v in notification(sent, eventType="Complaint").items() if k != "bounce"}
    complaint["complaint"] = {
        "complainedRecipients": [{"emailAddress": address.upper()}],  # addresses are compared without case
        "timestamp": "2026-11-24T08:00:00.000Z",
        "feedbackId": "0100019c-complaint",
        "complaintFeedbackType": "abuse",
    }
    envelope = {"Type": "Notification", "MessageId": "m-1", "Message": json.dumps(complaint)}  # without raw delivery
    assert feed(envelope) == NO_FAILURES
    listed = deps.context.repo.suppression(tenant_id, address)
    assert listed["reason"] == "complaint" and listed["detail"] == "abuse"
    assert deps.context.repo.suppression("ten_other", address) is None  # one tenant's list, not every tenant's


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"eventType": "Bounce"}),
        json.dumps({"eventType": "Bounce", "mail": {"messageId": "m", "tags": {}}}),  # no tenant: nobody to act for
        json.dumps({"Type": "Notification", "Message": "{"}),
    ],
)
def test_a_message_that_is_no_ses_notification_is_dropped_and_changes_nothing(deps, body):
    before = table_items()
    assert feed(body) == NO_FAILURES  # retrying cannot make it readable
    assert table_items() == before
    with pytest.raises(email_feedback.NotFeedback):
        email_feedback.suppression(body)
