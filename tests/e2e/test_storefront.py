"""The local stack over HTTP, as a storefront under development uses it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import boto3
import requests

from tests.e2e.clock import through_dunning_day

CUSTOMER = {"email": "olga@example.com", "name": "Ольга Иванова", "locale": "ru", "currency": "rub"}


def order(customer_id, **extra):
    return {
        "customer_id": customer_id,
        "currency": "rub",
        "lines": [{"description": "Тариф «Команда»", "quantity": 5, "unit_amount": 99000, "tax_rate_percent": "20"}],
        "collection_method": "send_invoice",
        "days_until_due": 10,
        **extra,
    }


def emails_to(shop, address, at_least=1, timeout=20.0):
    """The emails sent to ``address``, once there are ``at_least`` and each is in the notifier's log (which it
    writes right after SES took the mail)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in shop.get("/_local/emails").json()["emails"] if address in e["to"]]
        if (len(found) >= at_least and all(e["kind"] for e in found)) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_description_file_names_every_endpoint(stack):
    assert stack["api_base_url"].startswith("http://127.0.0.1:")
    assert stack["aws"]["endpoint_url"].startswith("http://127.0.0.1:")
    assert stack["stripe"]["api_base"].startswith("http://127.0.0.1:")
    assert stack["stripe"]["webhook_secret"].startswith("whsec_")
    assert stack["api_key"].startswith("bk_")
    # The AWS endpoint is a real one: the table the API writes to can be read with boto3.
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack["aws"]["endpoint_url"],
        region_name=stack["aws"]["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    assert dynamodb.describe_table(TableName=stack["aws"]["table_name"])["Table"]["TableStatus"] == "ACTIVE"
    # So is Stripe's: localstripe answers the official API shape.
    assert requests.get(f"{stack['stripe']['api_base']}/v1/customers", auth=("sk_test_local", ""), timeout=5).ok


def test_order_to_numbered_invoice_to_email_in_the_customers_language(shop, stack):
    customer = shop.post("/v1/customers", {**CUSTOMER, "email": "olga.main@example.com"}).json()
    placed = shop.post("/v1/orders", order(customer["id"]), **{"Idempotency-Key": "order-olga-1"})
    assert placed.status_code == 201, placed.text
    invoice = shop.get(f"/v1/invoices/{placed.json()['invoice_id']}").json()
    assert invoice["number"].startswith("INV-") and invoice["status"] == "open"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (495000, 99000, 594000)
    # the storefront's "Pay now" button: the invoice's hosted page, served by this stack
    assert invoice["hosted_invoice_url"].startswith(f"{stack['api_base_url']}/pay/{stack['tenant_id']}.")
    page = requests.get(invoice["hosted_invoice_url"], timeout=10)
    assert page.status_code == 200 and invoice["number"] in page.text
    [email] = emails_to(shop, "olga.main@example.com")
    assert invoice["number"] in email["subject"]
    assert (email["kind"], email["invoice_id"], email["locale"]) == ("invoice_issued", invoice["id"], "ru")
    sent, issued = (datetime.fromisoformat(t) for t in (email["sent_at"], invoice["issued_at"]))
    assert issued <= sent < issued + timedelta(minutes=1)  # on the stack's clock, as the invoice's times are
    assert "Счёт" in email["subject"]
    assert "5\u00a0940,00" in email["html"].replace("\u202f", "\u00a0")  # ru formatting of 594000 kopecks


def test_an_address_ses_reports_bounced_is_not_emailed_again(shop):
    """SES's mailbox simulator, as the local stack plays it: the first email bounces for good; the next invoice's
    email is not sent, and its timeline says why; the invoice itself is issued and payable as ever."""
    address = "bounce@simulator.amazonses.com"
    customer = shop.post("/v1/customers", {**CUSTOMER, "email": address}).json()
    assert shop.post("/v1/orders", order(customer["id"])).status_code == 201
    assert len(emails_to(shop, address)) == 1  # sent; SES reports the bounce to the feedback queue
    assert shop.post("/_local/drain").status_code == 200  # the bounce is taken: the address is suppressed
    second = shop.post("/v1/orders", order(customer["id"])).json()["invoice_id"]
    deadline = time.monotonic() + 20
    while not (emails := shop.get(f"/v1/invoices/{second}/dunning").json()["emails"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [(e["kind"], e["skipped"], e["message_id"]) for e in emails] == [
        ("invoice_issued", "address_suppressed", None)
    ]
    assert len(emails_to(shop, address, at_least=2, timeout=1)) == 1
    invoice = shop.get(f"/v1/invoices/{second}").json()
    assert invoice["status"] == "open" and invoice["hosted_invoice_url"]


def test_fifty_concurrent_identical_requests_create_one_customer(shop, stack):
    body = {**CUSTOMER, "email": "same@example.com"}
    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(
            pool.map(lambda _: shop.post("/v1/customers", body, **{"Idempotency-Key": "burst-1"}), range(50))
        )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack["aws"]["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    customer_id = answers[0].json()["id"]
    key = {"pk": {"S": f"T#{stack['tenant_id']}#CUS#{customer_id}"}, "sk": {"S": "CUSTOMER"}}
    assert "Item" in dynamodb.get_item(TableName=stack["aws"]["table_name"], Key=key)


def test_moving_the_clock_fires_the_dunning_sweep_and_reminds_in_russian(shop):
    customer = shop.post("/v1/customers", {**CUSTOMER, "email": "olga.late@example.com"}).json()
    invoice_id = shop.post("/v1/orders", order(customer["id"])).json()["invoice_id"]
    assert len(emails_to(shop, "olga.late@example.com")) == 1
    first_step = shop.get(f"/v1/invoices/{invoice_id}/dunning").json()["steps"][0]
    advanced = through_dunning_day(shop, first_step["on"])
    [sweeps] = [s for name, s in advanced["schedules"].items() if name.endswith("dunning-sweep")]
    assert sweeps["last"] == f"{first_step['on']}T09:05:00Z" and sweeps["totals"]["fanned_out"] >= 1
    assert shop.get(f"/v1/invoices/{invoice_id}").json()["past_due"] is True
    reminders = emails_to(shop, "olga.late@example.com", at_least=2)
    assert len(reminders) == 2
    assert "olga.late@example.com" in reminders[1]["to"]


def test_bad_input_gets_a_problem_document_over_http(shop, stack):
    answer = shop.post("/v1/orders", {"customer_id": "cus_x"})
    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_request"
    assert requests.get(stack["api_base_url"] + "/v1/invoices", timeout=5).status_code == 401
    assert shop.post("/_local/clock/advance", {"days": -1}).status_code == 400


def test_openapi_document_is_served(stack):
    doc = requests.get(stack["api_base_url"] + "/openapi.json", timeout=5).json()
    assert "/v1/orders" in doc["paths"]
