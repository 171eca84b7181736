"""What the product needs from Stripe and localstripe lacks, supplied in front of it: an aiohttp middleware that
localstripe_main.py puts between localstripe's error handling and its authentication. localstripe itself stays an
installed dependency (GPL): this file only calls its public classes.

- ``setup_intent.succeeded`` (and ``setup_intent.setup_failed`` on a declined card) when a SetupIntent is
  confirmed, signed and delivered like localstripe's own events: Stripe sends it, and the product saves the
  customer's default card from it.
- ``POST /v1/payment_intents/{id}/confirm`` with ``payment_method`` (Stripe.js and the server SDK both confirm that
  way; localstripe answers 500 "Not implemented"), also after a declined attempt (a new charge, as Stripe makes),
  and with the publishable key and the intent's client secret, as Stripe.js does from the customer's browser.
  Stripe.js's other confirm fields (``return_url``, ``use_stripe_sdk``) are accepted and have nothing to do here.
- Refund ``reason`` (``duplicate``, ``fraudulent``, ``requested_by_customer``), kept on the refund as Stripe does.
- ``GET /v1/disputes``: localstripe has no disputes, so Stripe's list of them is empty here (reconciliation reads it).
- A card form that pays: localstripe's stand-in for Stripe.js (``/js.stripe.com/v3/``) is served with
  ``stripe_js_layer.js`` after it, whose ``confirmCardPayment`` sends the typed card as Stripe.js does (a
  PaymentMethod made with the publishable key, then the confirm above).

Runs in localstripe's own virtual environment (.tools/localstripe), like localstripe_main.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.webhooks import schedule_webhook

CONFIRM_PAYMENT = re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$")
CONFIRM_SETUP = re.compile(r"^/v1/setup_intents/(seti_\w+)/confirm$")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
STRIPE_JS = "/js.stripe.com/v3/"
STRIPE_JS_LAYER = Path(__file__).with_name("stripe_js_layer.js")
# Sent by Stripe.js or the SDK with a confirm; nothing for a local stand-in to do with them.
CONFIRM_EXTRAS = ("client_secret", "return_url", "use_stripe_sdk", "off_session", "setup_future_usage", "mandate_data")


def _authorized(request: web.Request, data: dict[str, Any], client_secret: str) -> bool:
    """The secret key (server side), or the publishable key with the object's client secret (Stripe.js)."""
    if server.get_api_key(request) is not None:
        return True
    key = data.get("key")
    return isinstance(key, str) and key.startswith("pk_") and data.get("client_secret") == client_secret


def _answer(obj: Any, expand: Any = None) -> web.Response:
    resources.store.dump_to_disk()
    return server.json_response(obj._export(expand=expand))


async def _confirm_payment(request: web.Request, intent_id: str) -> web.Response:
    data = dict(await server.get_post_data(request, remove_auth=False) or {})
    intent = resources.PaymentIntent._api_retrieve(intent_id)
    if not _authorized(request, data, intent.client_secret):
        raise UserError(401, "Unauthorized")
    for name in (*CONFIRM_EXTRAS, "key", "payment_user_agent", "referrer"):
        data.pop(name, None)
    expand = data.pop("expand", None)
    method = data.pop("payment_method", None)
    if method is not None:
        if not isinstance(method, str) or not method.startswith("pm_"):
            raise UserError(400, "payment_method: give the id of a PaymentMethod (pm_…)")
        if intent.status == "requires_payment_method" and intent.latest_charge is not None:
            # a declined attempt: Stripe takes another payment method on the same intent (a new charge)
            intent.latest_charge = None
            intent._authentication_failed = False
        resources.PaymentIntent._api_update(intent_id, payment_method=method)
    return _answer(resources.PaymentIntent._api_confirm(intent_id, **data), expand)


async def _confirm_setup(request: web.Request, handler: Any, setup_id: str) -> web.StreamResponse:
    before = resources.SetupIntent._api_retrieve(setup_id).status
    try:
        response = await handler(request)
    except UserError:
        intent = resources.SetupIntent._api_retrieve(setup_id)
        if intent.status == "canceled" and before != "canceled":  # declined: Stripe leaves it for another card
            intent.status = "requires_payment_method"
            intent.last_setup_error = {"code": "card_declined", "message": "Your card was declined."}
            schedule_webhook(resources.Event("setup_intent.setup_failed", intent))
            resources.store.dump_to_disk()
        raise
    intent = resources.SetupIntent._api_retrieve(setup_id)
    if intent.status == "succeeded" and before != "succeeded":
        schedule_webhook(resources.Event("setup_intent.succeeded", intent))
    return response


async def _refund(request: web.Request, handler: Any) -> web.StreamResponse:
    data = dict(await server.get_post_data(request) or {})
    if "reason" not in data:
        return await handler(request)
    if server.get_api_key(request) is None:
        raise UserError(401, "Unauthorized")
    reason = data.pop("reason")
    if reason not in REFUND_REASONS:
        raise UserError(400, f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}")
    expand = data.pop("expand", None)
    refund = resources.Refund._api_create(**data)
    refund.reason = reason
    return _answer(refund, expand)


async def _payment_method_from_browser(request: web.Request, handler: Any) -> web.StreamResponse:
    """Stripe.js makes a card PaymentMethod with the publishable key; localstripe wants the secret key."""
    raw = dict(await server.get_post_data(request, remove_auth=False) or {})
    key = raw.get("key")
    if server.get_api_key(request) is not None or not (isinstance(key, str) and key.startswith("pk_")):
        return await handler(request)
    data = dict(await server.get_post_data(request) or {})
    if data.get("type") != "card":
        raise UserError(400, "Only card PaymentMethods are made from the browser here")
    return _answer(resources.PaymentMethod._api_create(**data))


async def _stripe_js(request: web.Request, handler: Any) -> web.StreamResponse:
    stand_in = await handler(request)
    return web.Response(text=f"{stand_in.text}\n{STRIPE_JS_LAYER.read_text()}", content_type="application/javascript")


def _no_disputes(request: web.Request) -> web.Response:
    if server.get_api_key(request) is None:
        raise UserError(401, "Unauthorized")
    return web.json_response({"object": "list", "url": "/v1/disputes", "has_more": False, "data": []})


@web.middleware
async def stripe_layer(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method == "GET" and request.path == STRIPE_JS:
        return await _stripe_js(request, handler)
    if request.method == "GET" and request.path == "/v1/disputes":
        return _no_disputes(request)
    if request.method == "POST":
        if match := CONFIRM_PAYMENT.match(request.path):
            return await _confirm_payment(request, match.group(1))
        if match := CONFIRM_SETUP.match(request.path):
            return await _confirm_setup(request, handler, match.group(1))
        if request.path == "/v1/refunds":
            return await _refund(request, handler)
        if request.path == "/v1/payment_methods":
            return await _payment_method_from_browser(request, handler)
    return await handler(request)


def install(app: web.Application) -> None:
    """Put the layer right after localstripe's error middleware (which turns UserError into Stripe's error body)
    and before its authentication (which knows no publishable key on a PaymentIntent confirm)."""
    app.middlewares.insert(1, stripe_layer)
