"""Issue 12: amounts cross between our unit and Stripe's in the gateway, both ways, for every call that carries one
(the official SDK's client is replaced by a recorder here; the e2e tests run the same calls against localstripe)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from billing.adapters.stripe_gateway import StripeGateway
from billing.domain.payments import Payment
from billing.domain.stripe_money import NotChargeable


class Answer(dict):
    def to_dict(self) -> dict[str, Any]:
        return dict(self)


class Service:
    """One ``client.v1.<service>``: records what was sent, answers as Stripe would (in Stripe's unit)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer, self.sent = answer, []

    def create(self, params: dict[str, Any], options: dict[str, Any] | None = None) -> Answer:
        self.sent.append(params)
        return Answer(self.answer | {k: v for k, v in params.items() if k in ("amount", "currency")})

    def retrieve(self, _id: str, params: Any = None) -> Answer:
        return Answer(self.answer)

    def list(self, params: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(
            data=[SimpleNamespace(created=10**10, id="x", to_dict=lambda: dict(self.answer))], has_more=False
        )


def gateway(**services: Service) -> StripeGateway:
    gw = StripeGateway("sk_test_unused")
    gw.client = SimpleNamespace(v1=SimpleNamespace(**services))
    return gw


def payment(amount: int, currency: str) -> Payment:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    return Payment(
        id="pay_1",
        tenant_id="ten_1",
        invoice_id="in_1",
        customer_id="cus_1",
        amount=amount,
        currency=currency,
        method="off_session",
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(
    ("currency", "ours", "stripes"), [("isk", 5000, 500000), ("mga", 500000, 5000), ("usd", 5304, 5304)]
)
def test_payment_intents_are_sent_in_stripes_unit_and_read_back_in_ours(currency, ours, stripes):
    intents = Service(
        {"id": "pi_1", "object": "payment_intent", "status": "succeeded", "currency": currency, "amount": stripes}
        | {"amount_received": stripes}
    )
    gw = gateway(payment_intents=intents)
    charged = gw.charge_off_session(payment(ours, currency), "cus_s", "pm_card_visa")
    created = gw.create_payment_intent(payment(ours, currency), None)
    assert [sent["amount"] for sent in intents.sent] == [stripes, stripes]
    assert (charged["amount"], charged["amount_received"], created["amount"]) == (ours, ours, ours)
    assert gw.payment_intent("pi_1")["amount_received"] == ours
    assert [i["amount_received"] for i in gw.recent_payment_intents(0)] == [ours]


def test_refunds_and_charges_are_converted_and_an_amount_stripe_cannot_take_is_never_sent():
    refunds = Service({"id": "re_1", "object": "refund", "status": "succeeded", "currency": "isk"})
    charge = {
        "id": "ch_1",
        "object": "charge",
        "currency": "isk",
        "amount": 500000,
        "amount_refunded": 100000,
        "refunds": {"data": [{"id": "re_1", "object": "refund", "currency": "isk", "amount": 100000}]},
    }
    gw = gateway(
        refunds=refunds,
        charges=Service(charge),
        disputes=Service({"object": "dispute", "currency": "isk", "amount": 500000}),
    )
    made = gw.refund("pi_1", 1000, "requested_by_customer", "key-1", currency="isk")
    assert refunds.sent[0]["amount"] == 100000 and made["amount"] == 1000
    read = gw.charge("ch_1")
    assert (read["amount"], read["amount_refunded"], read["refunds"]["data"][0]["amount"]) == (5000, 1000, 1000)
    assert gw.dispute("dp_1")["amount"] == 5000
    with pytest.raises(NotChargeable):
        gw.refund("pi_1", 5124, "other", "key-2", currency="kwd")
    assert len(refunds.sent) == 1  # the refused amount never reached Stripe
