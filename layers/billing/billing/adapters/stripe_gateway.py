"""The payment gateway: Stripe through the official SDK's ``StripeClient``.

Every POST carries an idempotency key derived from our own ids, so a Lambda retried at any point sends Stripe the
same request again and gets the first answer back, never a second charge. Every object we create carries our
tenant id (and invoice, payment or customer id) in its metadata: that is how a webhook finds its way home.

Amounts cross here, and only here, between our unit and Stripe's (``billing.domain.stripe_money``): every amount
sent is ``to_stripe``, every object read (PaymentIntents, refunds, charges, disputes: what webhooks and
reconciliation act on too) has its amounts ``from_stripe``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import stripe

from billing.domain.stripe_money import from_stripe, to_stripe

AMOUNT_FIELDS = ("amount", "amount_received", "amount_capturable", "amount_captured", "amount_refunded")


def _ours(obj: dict[str, Any]) -> dict[str, Any]:
    """A Stripe object with its amounts (and its refunds' amounts) in our unit."""
    if currency := obj.get("currency"):
        for name in AMOUNT_FIELDS:
            if isinstance(obj.get(name), int):
                obj[name] = from_stripe(obj[name], currency)
    refunds = obj.get("refunds")
    for refund in (refunds.get("data") or []) if isinstance(refunds, dict) else []:
        _ours(refund)
    return obj


def _plain(obj: Any) -> dict[str, Any]:
    return _ours(obj.to_dict() if hasattr(obj, "to_dict") else dict(obj))


class StripeGateway:
    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        options: dict[str, Any] = {"max_network_retries": 2}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self.client = stripe.StripeClient(api_key, **options)

    def create_customer(self, tenant_id: str, customer_id: str, email: str, name: str) -> str:
        created = self.client.v1.customers.create(
            params={"email": email, "name": name, "metadata": {"tenant_id": tenant_id, "customer_id": customer_id}},
            options={"idempotency_key": f"customer-{customer_id}"},
        )
        return created.id

    def update_customer(self, stripe_customer_id: str, email: str, name: str, idempotency_key: str) -> None:
        """Our customer's name and e-mail, at Stripe too (receipts and the Dashboard show them)."""
        self.client.v1.customers.update(
            stripe_customer_id, params={"email": email, "name": name}, options={"idempotency_key": idempotency_key}
        )

    def delete_customer(self, stripe_customer_id: str) -> bool:
        """Delete the Stripe customer (an erasure: its name, e-mail, address and saved cards go; its charges and
        refunds stay, naming only its id). False if it was gone already: a retried erasure is done. A DELETE
        needs no idempotency key (Stripe takes none: it is idempotent by itself)."""
        try:
            self.client.v1.customers.delete(stripe_customer_id)
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing" or error.http_status == 404:
                return False
            raise
        return True

    def create_setup_intent(self, tenant_id: str, customer_id: str, stripe_customer_id: str, key: str | None) -> dict:
        created = self.client.v1.setup_intents.create(
            params={
                "customer": stripe_customer_id,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": {"tenant_id": tenant_id, "customer_id": customer_id},
            },
            options={"idempotency_key": key} if key else {},
        )
        return _plain(created)

    def setup_intent(self, setup_intent_id: str) -> dict[str, Any]:
        return _plain(self.client.v1.setup_intents.retrieve(setup_intent_id))

    def payment_method(self, payment_method_id: str) -> dict[str, Any]:
        return _plain(self.client.v1.payment_methods.retrieve(payment_method_id))

    def charge_off_session(self, payment: Any, stripe_customer_id: str, payment_method: str) -> dict[str, Any]:
        """Create and confirm a PaymentIntent for the payment, off session. A decline is an answer, not an error:
        the PaymentIntent Stripe returns with the card error is given back like any other."""
        try:
            created = self.client.v1.payment_intents.create(
                params={
                    "amount": to_stripe(payment.amount, payment.currency),
                    "currency": payment.currency,
                    "customer": stripe_customer_id,
                    "payment_method": payment_method,
                    "off_session": True,
                    "confirm": True,
                    "payment_method_types": ["card"],
                    "metadata": {
                        "tenant_id": payment.tenant_id,
                        "invoice_id": payment.invoice_id,
                        "payment_id": payment.id,
                    },
                },
                options={"idempotency_key": payment.id},
            )
            return _plain(created)
        except stripe.CardError as error:
            intent = (error.json_body or {}).get("error", {}).get("payment_intent")
            if intent:
                return _ours(dict(intent))
            body = (error.json_body or {}).get("error", {})
            return {
                "id": None,
                "status": "requires_payment_method",
                "last_payment_error": {
                    "code": body.get("code"),
                    "decline_code": body.get("decline_code"),
                    "message": body.get("message"),
                },
            }

    def create_payment_intent(self, payment: Any, stripe_customer_id: str | None) -> dict[str, Any]:
        """A PaymentIntent the customer confirms on session (Stripe.js on the hosted invoice page)."""
        params: dict[str, Any] = {
            "amount": to_stripe(payment.amount, payment.currency),
            "currency": payment.currency,
            "payment_method_types": ["card"],
            "metadata": {"tenant_id": payment.tenant_id, "invoice_id": payment.invoice_id, "payment_id": payment.id},
        }
        if stripe_customer_id:
            params["customer"] = stripe_customer_id
        return _plain(self.client.v1.payment_intents.create(params=params, options={"idempotency_key": payment.id}))

    def refund(
        self,
        payment_intent_id: str,
        amount: int,
        reason: str | None,
        key: str,
        metadata: dict[str, str] | None = None,
        *,
        currency: str,
    ) -> dict[str, Any]:
        """Refund ``amount`` (ours, in the payment's ``currency``) of the PaymentIntent."""
        params: dict[str, Any] = {
            "payment_intent": payment_intent_id,
            "amount": to_stripe(amount, currency),
            "metadata": metadata or {},
        }
        if reason in ("duplicate", "fraudulent", "requested_by_customer"):
            params["reason"] = reason
        return _plain(self.client.v1.refunds.create(params=params, options={"idempotency_key": key}))

    def recent_payment_intents(self, since: int) -> Iterator[dict[str, Any]]:
        return self._recent(self.client.v1.payment_intents, since)

    def recent_refunds(self, since: int) -> Iterator[dict[str, Any]]:
        return self._recent(self.client.v1.refunds, since)

    def recent_disputes(self, since: int) -> Iterator[dict[str, Any]]:
        return self._recent(self.client.v1.disputes, since)

    @staticmethod
    def _recent(service: Any, since: int) -> Iterator[dict[str, Any]]:
        """Objects created at or after ``since`` (epoch seconds), newest first, page by page (Stripe lists newest
        first, so paging stops at the first older one)."""
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = service.list(params=params)
            for found in page.data:
                if found.created < since:
                    return
                yield _plain(found)
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id

    def charge(self, charge_id: str) -> dict[str, Any]:
        return _plain(self.client.v1.charges.retrieve(charge_id, params={"expand": ["refunds"]}))

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        return _plain(self.client.v1.disputes.retrieve(dispute_id))

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return _plain(self.client.v1.payment_intents.retrieve(payment_intent_id))

    def cancel_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """Cancel a PaymentIntent that could still take money; one Stripe can no longer cancel (succeeded,
        processing, canceled already) is answered as it is now."""
        try:
            return _plain(self.client.v1.payment_intents.cancel(payment_intent_id))
        except stripe.InvalidRequestError:
            return self.payment_intent(payment_intent_id)
