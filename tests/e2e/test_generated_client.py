"""The five tasks a storefront developer's first day is made of, played with a client generated from the running
stack's own ``/openapi.json`` (openapi-python-client), against the local stack, with no hand-signed event and no
workaround: what Stripe.js does in the browser is done with the stripe SDK and the publishable key, as Stripe.js
does. If the document and the API disagree (a status, a field, an error's shape), the generated client misreads the
answer and the task fails.

1. Save a card and charge an order.  2. Pay a send_invoice invoice through its PaymentIntent, as its hosted page
does.  3. A trial subscription, upgraded in its first paid period.  4. A half refund.  5. A dunning timeline.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.e2e.clock import through_billing_of
from tests.e2e.conftest import stripe_client
from tests.e2e.test_payments import eventually, payment_method_for

PACKAGE = "billing_api_client"


@pytest.fixture(scope="module")
def generated(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The client, generated from the stack's document into a temporary package and imported from there."""
    out = tmp_path_factory.mktemp("client") / PACKAGE
    tool = Path(sys.executable).with_name("openapi-python-client")
    document = f"{stack['api_base_url']}/openapi.json"
    made = subprocess.run(
        [str(tool), "generate", "--url", document, "--output-path", str(out), "--meta", "none"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0 and (out / "__init__.py").exists(), made.stdout + made.stderr
    assert "Unable to" not in made.stdout + made.stderr, made.stdout + made.stderr  # every schema understood
    spec = importlib.util.spec_from_file_location(PACKAGE, out / "__init__.py", submodule_search_locations=[str(out)])
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return package


class Api:
    """Calls through the generated client: ``api("orders.place_order", body=…)`` → the parsed answer, as a dict."""

    def __init__(self, stack: dict[str, Any]) -> None:
        client = importlib.import_module(f"{PACKAGE}.client")
        self.client = client.AuthenticatedClient(base_url=stack["api_base_url"], token=stack["api_key"], timeout=60)
        self.models = importlib.import_module(f"{PACKAGE}.models")

    def model(self, name: str, value: dict[str, Any]) -> Any:
        return getattr(self.models, name).from_dict(value)

    def raw(self, operation: str, **kwargs: Any) -> Any:
        tag, name = operation.split(".")
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
        return module.sync_detailed(client=self.client, **kwargs)

    def __call__(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        if "body" in kwargs or operation.split(".")[1].startswith(("create", "place", "pay", "refund", "change")):
            kwargs.setdefault("idempotency_key", str(uuid.uuid4()))
        answer = self.raw(operation, **kwargs)
        assert 200 <= answer.status_code < 300, (operation, answer.status_code, answer.content[:500])
        parsed = answer.parsed
        assert parsed is not None and type(parsed).__name__ != "Problem", (operation, answer.content[:500])
        return parsed.to_dict()


@pytest.fixture(scope="module")
def api(generated: ModuleType, stack: dict[str, Any]) -> Api:
    return Api(stack)


def customer(api: Api, email: str, locale: str = "en") -> dict[str, Any]:
    body = api.model("CreateCustomer", {"email": email, "name": "Ana", "locale": locale, "currency": "usd"})
    return api("customers.create_customer", body=body)


def save_card(api: Api, stack: dict[str, Any], customer_id: str, card: str) -> str:
    setup = api("customers.create_setup_intent", customer_id=customer_id)
    stripe_js = stripe_client(stack)
    stripe_js.v1.setup_intents.confirm(setup["id"], params={"payment_method": payment_method_for(stripe_js, card)})
    saved = eventually(lambda: api("customers.get_customer", customer_id=customer_id).get("default_payment_method"))
    assert saved, "setup_intent.succeeded did not make the card the default"
    return saved


def order(api: Api, customer_id: str, amount: int, method: str = "charge_automatically") -> dict[str, Any]:
    line = {"description": "Pro plan", "quantity": 1, "unit_amount": amount, "tax_rate_percent": "10"}
    body = {"customer_id": customer_id, "currency": "usd", "lines": [line], "collection_method": method}
    placed = api("orders.place_order", body=api.model("PlaceOrder", body))
    return api("invoices.get_invoice", invoice_id=placed["invoice_id"])


def paid(api: Api, invoice_id: str) -> dict[str, Any]:
    found = eventually(lambda: (i := api("invoices.get_invoice", invoice_id=invoice_id))["status"] == "paid" and i)
    assert found, api("invoices.get_invoice", invoice_id=invoice_id)
    return found


def test_1_save_a_card_and_charge_an_order_then_4_refund_half(api, stack):
    buyer = customer(api, "client.card@example.com")
    save_card(api, stack, buyer["id"], "pm_card_visa")
    invoice = paid(api, order(api, buyer["id"], 5000)["id"])
    assert invoice["amount_paid"] == 5500 and invoice["hosted_invoice_url"].startswith(stack["api_base_url"])
    half = api.model("RefundRequest", {"amount": 2750, "reason": "requested_by_customer"})
    note = api("invoices.refund_invoice", invoice_id=invoice["id"], body=half)
    assert note["amount"] == 2750 and note["number"].startswith("CN-")
    after = api("invoices.get_invoice", invoice_id=invoice["id"])
    assert after["amount_refunded"] == 2750
    [listed] = api("invoices.list_credit_notes", invoice_id=invoice["id"])["data"]
    assert listed["id"] == note["id"]


def test_2_pay_a_send_invoice_invoice_as_its_hosted_page_does(api, stack):
    buyer = customer(api, "client.link@example.com", locale="zh")
    invoice = order(api, buyer["id"], 4200, method="send_invoice")
    assert invoice["status"] == "open" and invoice["hosted_invoice_url"]
    assert requests.get(invoice["hosted_invoice_url"], timeout=30).status_code == 200
    intent = api("invoices.create_payment_intent", invoice_id=invoice["id"])
    browser = requests.post(  # Stripe.js: the publishable key and the intent's client secret
        f"{stack['stripe']['api_base']}/v1/payment_intents/{intent['id']}/confirm",
        data={"key": stack["stripe"]["publishable_key"], "client_secret": intent["client_secret"]}
        | {"payment_method": "pm_card_visa"},
        timeout=30,
    )
    assert browser.status_code == 200, browser.text
    assert paid(api, invoice["id"])["amount_paid"] == 4620


def test_3_a_trial_subscription_upgraded_in_its_first_paid_period(api, stack, shop):
    buyer = customer(api, "client.trial@example.com")
    save_card(api, stack, buyer["id"], "pm_card_visa")
    monthly = {"unit": "month", "count": 1}

    def plan(name: str, amount: int) -> dict[str, Any]:
        prices = [{"currency": "usd", "scheme": "per_unit", "amount": amount}]
        return api(
            "subscriptions.create_plan",
            body=api.model("PlanRequest", {"name": name, "interval": monthly, "prices": prices}),
        )

    basic, pro = plan("Basic", 1000), plan("Pro", 3000)
    body = {"customer_id": buyer["id"], "items": [{"plan_id": basic["id"], "quantity": 2}], "trial_days": 7}
    sub = api("subscriptions.create_subscription", body=api.model("CreateSubscription", body))
    assert sub["status"] == "trialing"
    through_billing_of(shop, sub["next_billing_at"])  # the trial ends: the first invoice, charged to the card
    active = api("subscriptions.get_subscription", subscription_id=sub["id"])
    assert active["status"] == "active" and active["current_period_index"] == 1
    [first] = api("invoices.list_invoices", customer_id=buyer["id"])["data"]
    assert paid(api, first["id"])["total"] == 2000
    change = api.model("ChangeSubscription", {"items": [{"plan_id": pro["id"], "quantity": 2}]})
    upgraded = api("subscriptions.change_subscription", subscription_id=sub["id"], body=change)
    assert [i["plan_id"] for i in upgraded["items"]] == [pro["id"]]
    credit, charge = sorted(upgraded["pending_proration"], key=lambda line: line["amount"])
    # the unused share of 2 × Basic back, the same share of 2 × Pro charged: each line rounded once (half-up)
    assert credit["amount"] < 0 < charge["amount"] and abs(charge["amount"] + 3 * credit["amount"]) <= 2


def test_5_a_declining_card_gets_a_dunning_timeline(api, stack):
    buyer = customer(api, "client.declined@example.com", locale="ru")
    save_card(api, stack, buyer["id"], "4000000000000341")
    invoice = order(api, buyer["id"], 2500)
    timeline = eventually(
        lambda: (t := api("invoices.get_dunning_timeline", invoice_id=invoice["id"]))["first_failure_at"] and t
    )
    assert timeline and timeline["invoice_status"] == "open" and timeline["amount_due"] == 2750
    assert [c["status"] for c in timeline["charges"]] == ["failed"]
    assert [s["state"] for s in timeline["steps"]][:1] == ["planned"] and len(timeline["steps"]) == 5


def test_errors_arrive_as_problems_the_client_can_read(api):
    missing = api.raw("invoices.get_invoice", invoice_id="in_missing")
    assert missing.status_code == 404
    # a problem whose code the document lists for this operation (its own model: Problem with the codes' enum)
    assert type(missing.parsed).__name__ == "GetInvoiceResponse404" and missing.parsed.code == "invoice_not_found"
    assert (missing.parsed.status, missing.parsed.type_) == (404, "urn:billing:problem:invoice_not_found")
    bad = api.raw(
        "orders.place_order",
        body=api.model(
            "PlaceOrder",
            {
                "customer_id": "cus_missing",
                "currency": "usd",
                "collection_method": "send_invoice",
                "lines": [{"description": "x", "quantity": 1, "unit_amount": 100}],
            },
        ),
    )
    assert bad.status_code == 404 and bad.parsed.code == "customer_not_found"
