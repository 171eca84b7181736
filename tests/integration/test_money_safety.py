"""Money that reaches an invoice which no longer wants it, or that an event names falsely, always lands somewhere
visible: the customer's credit (same currency) or a payment marked unapplied (another currency), with an event;
and only Stripe's own PaymentIntent decides which invoice a payment is for (issue 11, items 1, 3 and 6)."""

from __future__ import annotations

import copy
import uuid

import boto3
import pytest

from billing.adapters import keys
from billing.domain.payments import payment_id
from billing.services import payments
from functions.collector import app as collector
from functions.outbox_relay import app as relay
from tests.integration.conftest import TABLE, FakeLambdaContext, sample_event
from tests.integration.test_refunds_disputes_credit import call, deliver, open_invoice, paid_invoice
from tests.integration.test_refunds_disputes_credit import stripe_fake as stripe_fake  # noqa: F401  (fixture)
from tests.integration.test_stripe_webhooks import receive_messages, sqs_event

pytestmark = pytest.mark.usefixtures("deps")


def new_customer(key, email):
    body = {"email": email, "name": email.split("@")[0].upper(), "locale": "en", "currency": "usd"}
    return call("POST", "/v1/customers", key, body)[1]["id"]


def page_opened(deps, stripe, stripe_fake, invoice, pi_id):
    """The customer opened the invoice's hosted page: its PaymentIntent (``pi_id``) exists at Stripe."""
    stripe_fake.create_payment_intent = lambda payment, customer: stripe_fake.intents.setdefault(
        pi_id,
        {
            "id": pi_id,
            "client_secret": f"{pi_id}_secret",
            "status": "requires_payment_method",
            "amount": payment.amount,
            "amount_received": payment.amount,
            "currency": payment.currency,
            "metadata": {"tenant_id": invoice["tenant_id"], "invoice_id": invoice["id"], "payment_id": payment.id},
        },
    )
    payments.payment_intent_for(deps.context, stripe, invoice["tenant_id"], invoice["id"])


def intent(stripe_fake, tenant_id, invoice_id, amount, currency="usd", **metadata):
    pi_id = f"pi_{len(stripe_fake.intents) + 1}"
    stripe_fake.intents[pi_id] = {
        "id": pi_id,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": amount,
        "amount_received": amount,
        "currency": currency,
        "metadata": {"tenant_id": tenant_id, "invoice_id": invoice_id, **metadata},
    }
    return stripe_fake.intents[pi_id]


def events(deps, aggregate_key, event_type):
    return [e for e in deps.context.repo.events(aggregate_key) if e.type == event_type]


def payment(key, invoice_id, pi_id):
    return next(
        p
        for p in call("GET", f"/v1/invoices/{invoice_id}/payments", key)[1]["data"]
        if p["stripe_payment_intent_id"] == pi_id
    )


def test_a_second_payment_intent_paid_for_a_paid_invoice_becomes_the_customers_credit(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, _, _, customer_id = paid_invoice(deps, key, stripe_fake, amount=5000)
    tenant_id = invoice["tenant_id"]
    # the customer paid again from an old hosted page: a second PaymentIntent for the same invoice
    second = intent(stripe_fake, tenant_id, invoice["id"], 5000)
    assert deliver(deps, stripe_fake, tenant_id, "payment_intent.succeeded", second, "evt_second") == "processed"

    after = call("GET", f"/v1/invoices/{invoice['id']}", key)[1]
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("paid", 5000, 0)
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 5000
    recorded = payment(key, invoice["id"], second["id"])
    assert (recorded["status"], recorded["amount_unapplied"], recorded["unapplied_reason"]) == (
        "succeeded",
        5000,
        "invoice_paid",
    )
    [unapplied] = events(deps, keys.invoice(tenant_id, invoice["id"]), "payment.unapplied")
    assert (
        unapplied.data.items()
        >= {"amount": 5000, "currency": "usd", "reason": "invoice_paid", "credited": 5000}.items()
    )
    assert [e.data["amount"] for e in events(deps, keys.customer(tenant_id, customer_id), "customer.credit_added")] == [
        5000
    ]

    # the same event again changes nothing
    deps.context.repo.mark_stripe_event(tenant_id, "evt_second", "received", "2026-12-02T00:00:00+00:00")
    deliver(deps, stripe_fake, tenant_id, "payment_intent.succeeded", second, "evt_second")
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 5000


def test_a_payment_on_a_void_invoice_becomes_the_customers_credit(deps, tenant, stripe_fake):
    key = tenant[1]
    customer_id = new_customer(key, "v@example.com")
    invoice = open_invoice(key, customer_id, 2500)
    assert call("POST", f"/v1/invoices/{invoice['id']}/void", key, {})[0] == 200
    late = intent(stripe_fake, invoice["tenant_id"], invoice["id"], 2500)
    deliver(deps, stripe_fake, invoice["tenant_id"], "payment_intent.succeeded", late, "evt_late")

    after = call("GET", f"/v1/invoices/{invoice['id']}", key)[1]
    assert (after["status"], after["amount_paid"]) == ("void", 0)
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 2500
    assert payment(key, invoice["id"], late["id"])["unapplied_reason"] == "invoice_void"


def test_the_event_body_cannot_name_another_invoice_than_stripes_payment_intent(deps, tenant, stripe_fake):
    key = tenant[1]
    paid_b, pi_b, _, customer_id = paid_invoice(deps, key, stripe_fake, amount=5304)
    tenant_id = paid_b["tenant_id"]
    victim_d = open_invoice(key, customer_id, 5304)
    # a signed event carrying B's real PaymentIntent, with metadata naming D
    forged = {
        **stripe_fake.intents[pi_b],
        "metadata": {
            "tenant_id": tenant_id,
            "invoice_id": victim_d["id"],
            "payment_id": payment_id(victim_d["id"], "attempt-1"),
        },
    }
    deliver(deps, stripe_fake, tenant_id, "payment_intent.succeeded", forged, "evt_forged")

    d_after = call("GET", f"/v1/invoices/{victim_d['id']}", key)[1]
    assert (d_after["status"], d_after["amount_paid"], d_after["amount_due"]) == ("open", 0, 5304)
    assert call("GET", f"/v1/invoices/{victim_d['id']}/payments", key)[1]["data"] == []
    b_after = call("GET", f"/v1/invoices/{paid_b['id']}", key)[1]
    assert (b_after["status"], b_after["amount_paid"]) == ("paid", 5304)
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 0


def test_a_payment_in_another_currency_is_never_counted_against_the_invoice(deps, tenant, stripe_fake):
    key = tenant[1]
    customer_id = new_customer(key, "j@example.com")
    invoice = open_invoice(key, customer_id, 5304)
    yen = intent(stripe_fake, invoice["tenant_id"], invoice["id"], 5304, currency="jpy")
    deliver(deps, stripe_fake, invoice["tenant_id"], "payment_intent.succeeded", yen, "evt_yen")

    after = call("GET", f"/v1/invoices/{invoice['id']}", key)[1]
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, 5304)
    recorded = payment(key, invoice["id"], yen["id"])
    assert (recorded["currency"], recorded["amount"], recorded["amount_unapplied"], recorded["unapplied_reason"]) == (
        "jpy",
        5304,
        5304,
        "currency_mismatch",
    )
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 0  # not the customer's currency
    [unapplied] = events(deps, keys.invoice(invoice["tenant_id"], invoice["id"]), "payment.unapplied")
    assert (unapplied.data["reason"], unapplied.data["credited"]) == ("currency_mismatch", 0)


def test_a_written_off_invoice_is_payable_by_link_and_by_pay_now(deps, tenant, stripe_fake):
    from billing.services import hosted_page

    key = tenant[1]
    customer_id = new_customer(key, "w@example.com")
    invoice = open_invoice(key, customer_id, 4000)
    repo = deps.context.repo
    written_off, _ = repo.invoice(invoice["tenant_id"], invoice["id"]).mark_uncollectible(deps.context.clock.now())
    tx = repo.transaction()
    repo.save_invoice(tx, written_off)
    repo.commit(tx)
    stored = repo.invoice(invoice["tenant_id"], invoice["id"])
    assert stored.payable
    assert hosted_page.pay_url(stored, base_url="https://pay.example") is not None
    link = payments.payment_intent_for(deps.context, FakeIntents(), invoice["tenant_id"], invoice["id"])
    assert link.amount == 4000


class FakeIntents:
    def create_payment_intent(self, payment, stripe_customer_id):
        return {
            "id": "pi_link",
            "client_secret": "pi_link_secret",
            "status": "requires_payment_method",
            "amount": payment.amount,
            "currency": payment.currency,
        }


# --- voiding closes the door (item 2) ------------------------------------------------------------------------------
class CancellingStripe:
    """Stripe's PaymentIntents as far as voiding needs: cancel an open one; a succeeded one cannot be canceled."""

    def __init__(self, fake):
        self.fake = fake
        self.canceled: list[str] = []

    def __getattr__(self, name):
        return getattr(self.fake, name)

    def cancel_payment_intent(self, payment_intent_id):
        intent = self.fake.intents[payment_intent_id]
        if intent["status"] in ("requires_payment_method", "requires_confirmation", "requires_action"):
            intent["status"] = "canceled"
            self.canceled.append(payment_intent_id)
        return intent


def relayed(deps, tenant_id, invoice_id, event_type="invoice.voided"):
    """The invoice's ``event_type`` outbox item, handed to the relay as its stream record: the messages it put on
    the collector's queue (received, not yet processed)."""
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
        ExpressionAttributeValues={":pk": {"S": keys.invoice(tenant_id, invoice_id)["pk"]}, ":evt": {"S": "EVT#"}},
    )
    (image,) = [i for i in answer["Items"] if i["event_type"]["S"] == event_type]
    record = copy.deepcopy(sample_event("dynamodb_stream_event_item.json")["Records"][0])
    record["eventID"] = uuid.uuid4().hex
    record["dynamodb"]["Keys"] = {"pk": image["pk"], "sk": image["sk"]}
    record["dynamodb"]["NewImage"] = image
    assert relay.lambda_handler({"Records": [record]}, FakeLambdaContext()) == {"batchItemFailures": []}
    messages = [m for m in receive_messages(deps.env["COLLECTIONS_QUEUE_URL"]) if event_type in m["Body"]]
    assert len(messages) == 1, messages
    return messages


def collect(messages):
    """The collector's handler on ``messages``: the ids of the messages it failed (to be retried)."""
    answer = collector.lambda_handler(sqs_event(messages, "collections"), FakeLambdaContext())
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def void(deps, key, invoice):
    """``POST /v1/invoices/{id}/void`` (answered at once), then its ``invoice.voided`` event's message."""
    status, voided = call("POST", f"/v1/invoices/{invoice['id']}/void", key, {})
    assert (status, voided["status"]) == (200, "void"), voided
    return relayed(deps, invoice["tenant_id"], invoice["id"])


def test_voiding_cancels_the_open_payment_intent_and_gives_back_the_credit_applied(deps, tenant, stripe_fake):
    key = tenant[1]
    first, _, _, customer_id = paid_invoice(deps, key, stripe_fake, amount=5000, received=6200)  # 1200 of credit
    invoice = open_invoice(key, customer_id, 3000)
    assert (invoice["credit_applied"], invoice["amount_due"]) == (1200, 1800)
    stripe = CancellingStripe(stripe_fake)
    deps.__dict__["stripe"] = stripe
    page_opened(deps, stripe, stripe_fake, invoice, "pi_link")  # a hosted page opened

    messages = void(deps, key, invoice)
    assert stripe.canceled == []  # the request is one read and one transaction: the cancel follows
    assert payment(key, invoice["id"], "pi_link")["status"] == "requires_payment_method"
    assert collect(messages) == []
    assert stripe.canceled == ["pi_link"]  # the old hosted page can take no money now
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 1200  # the credit is back
    [returned] = [
        e
        for e in events(deps, keys.customer(invoice["tenant_id"], customer_id), "customer.credit_added")
        if e.data.get("invoice_id") == invoice["id"]
    ]
    assert (returned.data["amount"], returned.data["reason"]) == (1200, "invoice_voided")
    assert payment(key, invoice["id"], "pi_link")["status"] == "canceled"


def test_voiding_an_invoice_whose_payment_intent_already_succeeded_keeps_the_money_as_credit(deps, tenant, stripe_fake):
    key = tenant[1]
    customer_id = new_customer(key, "s@example.com")
    invoice = open_invoice(key, customer_id, 3000)
    stripe = CancellingStripe(stripe_fake)
    deps.__dict__["stripe"] = stripe
    page_opened(deps, stripe, stripe_fake, invoice, "pi_paid")  # a hosted page opened
    stripe_fake.intents["pi_paid"]["status"] = "succeeded"  # paid at Stripe; its webhook not here yet

    assert collect(void(deps, key, invoice)) == []
    assert stripe.canceled == []
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 3000
    assert payment(key, invoice["id"], "pi_paid")["unapplied_reason"] == "invoice_void"


def test_voiding_while_stripe_is_unreachable_still_voids(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice = open_invoice(key, new_customer(key, "u@example.com"), 3000)
    stripe = CancellingStripe(stripe_fake)
    page_opened(deps, stripe, stripe_fake, invoice, "pi_unreachable")

    def unreachable(payment_intent_id):
        raise ConnectionError("Stripe is unreachable")

    real_cancel = stripe.cancel_payment_intent
    stripe.cancel_payment_intent = unreachable
    deps.__dict__["stripe"] = stripe
    messages = void(deps, key, invoice)  # the void does not wait for Stripe
    assert collect(messages) == [messages[0]["MessageId"]]  # failed: its queue retries it, backing off
    assert payment(key, invoice["id"], "pi_unreachable")["status"] == "requires_payment_method"
    stripe.cancel_payment_intent = real_cancel  # Stripe is back: the retried message cancels it
    assert collect(messages) == []
    assert stripe.canceled == ["pi_unreachable"]
    assert payment(key, invoice["id"], "pi_unreachable")["status"] == "canceled"


def test_a_payment_intent_recorded_after_the_void_commits_is_canceled_and_a_redelivery_cancels_nothing_twice(
    deps, tenant, stripe_fake
):
    key = tenant[1]
    invoice = open_invoice(key, new_customer(key, "late@example.com"), 3000)
    stripe = CancellingStripe(stripe_fake)
    deps.__dict__["stripe"] = stripe
    messages = void(deps, key, invoice)
    # a hosted page's request read the invoice open before the void; its PaymentIntent is recorded after it
    late = intent(stripe_fake, invoice["tenant_id"], invoice["id"], 3000)
    late["status"] = "requires_payment_method"
    pay_id = payment_id(invoice["id"], "link-3000")
    payments.apply_payment_intent(deps.context, invoice["tenant_id"], invoice["id"], pay_id, late)
    assert payment(key, invoice["id"], late["id"])["status"] == "requires_payment_method"

    assert collect(messages) == []  # the worker reads the payments when it runs: after the void, so it sees it
    assert stripe.canceled == [late["id"]]
    assert payment(key, invoice["id"], late["id"])["status"] == "canceled"
    calls = []
    stripe.cancel_payment_intent = lambda pi_id: calls.append(pi_id)  # anything asked of Stripe now is a second
    assert collect(messages) == []  # redelivered (at least once): nothing is canceled twice
    assert calls == []


def test_a_payment_intent_made_while_the_void_and_its_cancel_ran_is_canceled_by_its_own_request(
    deps, tenant, stripe_fake, monkeypatch
):
    key = tenant[1]
    invoice = open_invoice(key, new_customer(key, "race@example.com"), 3000)
    stripe = CancellingStripe(stripe_fake)
    deps.__dict__["stripe"] = stripe

    def void_and_cancel_meanwhile(payment, customer):  # the page's request read the invoice open before this
        assert collect(void(deps, key, invoice)) == []  # the collector found no PaymentIntent yet
        return stripe_fake.intents.setdefault(
            "pi_race",
            {
                "id": "pi_race",
                "client_secret": "pi_race_secret",
                "status": "requires_payment_method",
                "amount": payment.amount,
                "currency": payment.currency,
                "metadata": {"tenant_id": invoice["tenant_id"], "invoice_id": invoice["id"], "payment_id": payment.id},
            },
        )

    monkeypatch.setattr(stripe_fake, "create_payment_intent", void_and_cancel_meanwhile, raising=False)
    with pytest.raises(payments.Conflict) as refused:
        payments.payment_intent_for(deps.context, stripe, invoice["tenant_id"], invoice["id"])
    assert refused.value.code == "invoice_not_payable"
    assert stripe.canceled == ["pi_race"]  # no PaymentIntent of a void invoice stays payable
    assert payment(key, invoice["id"], "pi_race")["status"] == "canceled"


def test_paying_by_one_route_cancels_the_other_open_payment_intent(deps, tenant, stripe_fake):
    key = tenant[1]
    customer_id = new_customer(key, "o@example.com")
    invoice = open_invoice(key, customer_id, 3000)
    stripe = CancellingStripe(stripe_fake)
    page_opened(deps, stripe, stripe_fake, invoice, "pi_page")  # a hosted page opened
    transfer = intent(stripe_fake, invoice["tenant_id"], invoice["id"], 3000)  # paid another way (another PI)
    deliver(deps, stripe, invoice["tenant_id"], "payment_intent.succeeded", transfer, "evt_other_route")

    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[1]["status"] == "paid"
    assert stripe.canceled == ["pi_page"]


# --- refunds: recorded before Stripe is asked, deduplicated by Stripe's refund id (item 4) -------------------------
class RefundingStripe:
    """Stripe's refunds as the flow meets them: idempotent on their key, carrying our metadata, and a charge whose
    refunds list what Stripe refunded. ``crash_after_refund`` makes the next refund raise after Stripe made it."""

    def __init__(self, fake, pi_id):
        self.fake, self.pi_id, self.crash_after_refund = fake, pi_id, False
        self.made: dict[str, dict] = {}

    def __getattr__(self, name):
        return getattr(self.fake, name)

    def refund(self, payment_intent_id, amount, reason, key, metadata=None, *, currency):
        made = self.made.setdefault(
            key,
            {
                "id": f"re_{len(self.made) + 1}",
                "object": "refund",
                "amount": amount,
                "status": "succeeded",
                "payment_intent": payment_intent_id,
                "charge": "ch_1",
                "metadata": metadata or {},
            },
        )
        if self.crash_after_refund:
            self.crash_after_refund = False
            raise TimeoutError("the Lambda died waiting for Stripe's answer")
        return made

    def charge(self, charge_id):
        refunds = list(self.made.values())
        return {
            "id": "ch_1",
            "object": "charge",
            "payment_intent": self.pi_id,
            "amount_refunded": sum(r["amount"] for r in refunds),
            "refunds": {"data": refunds},
        }


def refund_setup(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, pi_id, _, _ = paid_invoice(deps, key, stripe_fake, amount=5000)
    stripe = RefundingStripe(stripe_fake, pi_id)
    deps.__dict__["stripe"] = stripe
    return key, invoice, stripe


def refund_state(key, invoice_id):
    notes = call("GET", f"/v1/invoices/{invoice_id}/credit_notes", key)[1]["data"]
    return call("GET", f"/v1/invoices/{invoice_id}", key)[1]["amount_refunded"], sorted(n["amount"] for n in notes)


def test_the_refund_webhook_arriving_before_the_credit_note_is_written_counts_once(deps, tenant, stripe_fake):
    key, invoice, stripe = refund_setup(deps, tenant, stripe_fake)
    real_refund = stripe.refund

    def refund_then_webhook(*args, **kwargs):
        made = real_refund(*args, **kwargs)
        if not delivered:  # Stripe's charge.refunded is processed (elsewhere) before our request writes its note
            delivered.append(made)
            deliver(deps, stripe, invoice["tenant_id"], "charge.refunded", stripe.charge("ch_1"), "evt_early")
        return made

    delivered: list[dict] = []

    stripe.refund = refund_then_webhook
    status, note = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1500, "reason": "other"})
    assert status == 201, note
    assert refund_state(key, invoice["id"]) == (1500, [1500])


def test_a_refund_retried_after_a_crash_without_an_idempotency_key_refunds_once(deps, tenant, stripe_fake):
    key, invoice, stripe = refund_setup(deps, tenant, stripe_fake)
    stripe.crash_after_refund = True
    with pytest.raises(TimeoutError):
        call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1500, "reason": "other"})
    status, _ = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1500, "reason": "other"})
    assert status == 201
    assert len(stripe.made) == 1 and refund_state(key, invoice["id"]) == (1500, [1500])
    # a second refund asked after the first is recorded is a refund of its own
    assert call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1500, "reason": "other"})[0] == 201
    assert len(stripe.made) == 2 and refund_state(key, invoice["id"]) == (3000, [1500, 1500])


def test_a_crashed_refund_is_completed_by_its_webhook(deps, tenant, stripe_fake):
    key, invoice, stripe = refund_setup(deps, tenant, stripe_fake)
    stripe.crash_after_refund = True
    with pytest.raises(TimeoutError):
        call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1200, "reason": "duplicate"})
    assert refund_state(key, invoice["id"]) == (0, [])
    deliver(deps, stripe, invoice["tenant_id"], "charge.refunded", stripe.charge("ch_1"), "evt_after_crash")
    assert refund_state(key, invoice["id"]) == (1200, [1200])  # the money refunded has its credit note


def test_two_dashboard_refunds_of_the_same_amount_are_two_credit_notes(deps, tenant, stripe_fake):
    key, invoice, stripe = refund_setup(deps, tenant, stripe_fake)
    for n in (1, 2):
        stripe.made[f"dash-{n}"] = {
            "id": f"re_dash{n}",
            "object": "refund",
            "amount": 500,
            "status": "succeeded",
            "charge": "ch_1",
            "metadata": {},
        }
        deliver(deps, stripe, invoice["tenant_id"], "charge.refunded", stripe.charge("ch_1"), f"evt_dash{n}")
        deliver(deps, stripe, invoice["tenant_id"], "charge.refunded", stripe.charge("ch_1"), f"evt_dash{n}_again")
    assert refund_state(key, invoice["id"]) == (1000, [500, 500])


# --- a lost dispute (item 6) -----------------------------------------------------------------------------------------
def test_a_lost_dispute_reopens_the_amount_and_collection_starts_again(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, pi_id, pay_id, _ = paid_invoice(deps, key, stripe_fake, amount=5000)
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": pi_id, "status": "needs_response", "amount": 5000}
    stripe_fake.disputes["dp_1"] = dispute
    deliver(deps, stripe_fake, invoice["tenant_id"], "charge.dispute.created", dispute, "evt_d1")
    stripe_fake.disputes["dp_1"] = {**dispute, "status": "lost"}
    for event_id in ("evt_d2", "evt_d3"):  # twice: it counts once
        deliver(
            deps, stripe_fake, invoice["tenant_id"], "charge.dispute.closed", stripe_fake.disputes["dp_1"], event_id
        )

    after = call("GET", f"/v1/invoices/{invoice['id']}", key)[1]
    assert (after["status"], after["amount_paid"], after["amount_due"], after["dispute_open"]) == (
        "open",
        0,
        5000,
        False,
    )
    assert after["due_date"] == deps.context.clock.now().date().isoformat()  # collection counts from the loss
    [lost] = [p for p in call("GET", f"/v1/invoices/{invoice['id']}/payments", key)[1]["data"] if p["id"] == pay_id]
    assert (lost["dispute_status"], lost["amount_disputed_lost"]) == ("lost", 5000)
    [reopened] = events(deps, keys.invoice(invoice["tenant_id"], invoice["id"]), "invoice.reopened")
    assert (reopened.data["reason"], reopened.data["amount"]) == ("dispute_lost", 5000)
    timeline = call("GET", f"/v1/invoices/{invoice['id']}/dunning", key)[1]
    assert timeline["next_attention_on"] is not None  # the dunning sweep will chase it again


@pytest.mark.parametrize("headers", [{"Idempotency-Key": "refund-all-1"}, {}], ids=["with a key", "without a key"])
def test_a_full_refund_retried_after_its_webhook_wrote_the_credit_note_is_answered_not_refused(
    deps, tenant, stripe_fake, headers
):
    key, invoice, stripe = refund_setup(deps, tenant, stripe_fake)
    stripe.crash_after_refund = True
    path, body = f"/v1/invoices/{invoice['id']}/refunds", {"reason": "other"}  # all that is refundable
    with pytest.raises(TimeoutError):
        call("POST", path, key, body, headers)
    deliver(deps, stripe, invoice["tenant_id"], "charge.refunded", stripe.charge("ch_1"), "evt_before_retry")
    assert refund_state(key, invoice["id"]) == (5000, [5000])  # nothing refundable is left
    status, note = call("POST", path, key, body, headers)  # the storefront retries
    assert (status, note["amount"]) == (201, 5000)  # the refund it asked for, not "exceeds refundable"
    assert len(stripe.made) == 1 and refund_state(key, invoice["id"]) == (5000, [5000])
    status, problem = call("POST", path, key, body)  # a new request (answered ones are not resumed): nothing left
    assert (status, problem["code"]) == (422, "refund_exceeds_refundable")


def test_an_overpayment_kept_as_credit_is_not_refundable_again_from_the_invoice(deps, tenant, stripe_fake):
    key = tenant[1]
    invoice, pi_id, _, customer_id = paid_invoice(deps, key, stripe_fake, amount=5000, received=6200)
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 1200  # the 1200 overpaid
    deps.__dict__["stripe"] = RefundingStripe(stripe_fake, pi_id)
    status, note = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"reason": "requested_by_customer"})
    assert (status, note["amount"]) == (201, 5000)  # what the invoice kept, not 6200: the 1200 is credit already
    status, problem = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1, "reason": "other"})
    assert (status, problem["code"]) == (422, "refund_exceeds_refundable")
    assert call("GET", f"/v1/customers/{customer_id}", key)[1]["credit_balance"] == 1200
