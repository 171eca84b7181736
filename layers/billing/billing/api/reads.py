"""What each route will read, named before it runs, so that the API key, the tenant and the route's own items come
back in one round trip (``billing.services.tenants.authenticated_key`` reads them ahead; the services' own reads
are then answered from that within the request). A route with no plan reads as it goes.

A plan gets the tenant id (from the key's text), the route's path arguments, the JSON body (``{}`` if none or not
JSON: the route's validation answers that), the headers, the time, and the tenant item if the container holds it
(else None: the plan asks for every item it may need). It returns the keys to read and the Query requests to run
alongside. Reads that depend on an earlier read cannot be named here (an order's customer can: its id carries it,
``ids.order_id``): docs/benchmarks.md, section 2, lists them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from billing.adapters import keys
from billing.api.idempotency import MAX_KEY_LENGTH
from billing.domain import numbering
from billing.domain.ids import customer_of_order
from billing.services.unit import Context

Key = dict[str, str]
MAX_ID = 255  # the longest id or external id read ahead from a request
MAX_PLANNED = 20  # items of a body whose keys are read ahead (more are read by the route, if it takes them)
# a numbered series: the tenant's field holding its format, and the format it has by default
FORMATS = {
    "default": ("invoice_number_format", numbering.DEFAULT_FORMAT),
    "credit_note": ("credit_note_number_format", numbering.DEFAULT_CREDIT_NOTE_FORMAT),
}
Plan = Callable[["Request"], tuple[list[Key], list[dict[str, Any]]]]


class Request:
    def __init__(self, ctx: Context, tenant_id: str, args: dict[str, str], event: Any, now: datetime) -> None:
        self.ctx, self.tenant_id, self.args, self.now = ctx, tenant_id, args, now
        self.headers = {k.lower(): v for k, v in (event.headers or {}).items()}
        try:
            body = json.loads(event.body) if event.body and not event.is_base64_encoded else {}
        except ValueError:
            body = {}
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.tenant_item: dict[str, Any] | None = None

    def text(self, name: str) -> str | None:
        """The body's string ``name``, if it can be an id: a longer one is not read ahead (a key of DynamoDB's has
        at most 2 KB, and the route's validation refuses it with a 4xx)."""
        return self.id_of(self.body.get(name))

    @staticmethod
    def id_of(value: Any) -> str | None:
        return value if isinstance(value, str) and 0 < len(value) <= MAX_ID else None

    def counters(self, series: str = "default") -> list[Key]:
        """The counter a number of ``series`` taken now draws from (invoices: ``default``; ``credit_note``): the
        tenant's format names its period; without the tenant at hand, every period a format can have (all, year,
        month: one of them is it)."""
        if self.tenant_item is not None:
            field, default = FORMATS[series]
            fmt = json.loads(self.tenant_item["doc"]).get(field) or default
            return [keys.counter(self.tenant_id, series, numbering.period_key(fmt, self.now))]
        periods = ("all", self.now.strftime("%Y"), self.now.strftime("%Y-%m"))
        return [keys.counter(self.tenant_id, series, period) for period in periods]


def _customer(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    return [keys.customer(r.tenant_id, r.args["customer_id"])], []


def _create_customer(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    external = r.text("external_id")
    return ([keys.external_id(r.tenant_id, "customer", external)] if external else []), []


def _place_order(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    """The customer, its discount, the counter, the external-id guard; the tax book and the customer's pending
    invoice items (two Queries) alongside."""
    from billing.services import orders  # with its router: the services of orders load on their first request

    customer_id = r.text("customer_id")
    if customer_id is None:
        return [], []
    wanted, queries = orders.invoicing_reads(r.ctx, r.tenant_id, customer_id)
    if external := r.text("external_id"):
        wanted.append(keys.external_id(r.tenant_id, "order", external))
    return [*wanted, *r.counters()], [*queries, r.ctx.repo.tax_book_request(r.tenant_id)]


def _order(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    return [keys.order(r.tenant_id, r.args["order_id"])], []


def _approve_order(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    """The order and its own discount, the counter and the tax book; and what invoicing reads of its customer
    (the customer, its discount, its pending items), whose id the order id carries (``ids.customer_of_order``).
    An order id without it (an older order): that is a dependent read (``orders.approve_order``, one round trip)."""
    order = keys.order(r.tenant_id, r.args["order_id"])
    wanted, queries = [order, keys.discount(order), *r.counters()], [r.ctx.repo.tax_book_request(r.tenant_id)]
    if customer_id := customer_of_order(r.args["order_id"]):
        from billing.services import orders  # as in _place_order

        theirs, pending = orders.invoicing_reads(r.ctx, r.tenant_id, customer_id)
        wanted, queries = [*wanted, *theirs], [*queries, *pending]
    return wanted, queries


def _invoice(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    return [keys.invoice(r.tenant_id, r.args["invoice_id"])], []


def _invoice_partition(prefix: str) -> Plan:
    """The invoice (a 404 for another tenant's) and the Query of its items under ``prefix`` (its credit notes,
    its payments) at once."""

    def plan(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
        invoice = keys.invoice(r.tenant_id, r.args["invoice_id"])
        return [invoice], [r.ctx.repo.partition_request(invoice, prefix)]

    return plan


def _credit_note(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    """The invoice and the credit-note counter (a credit to the balance reads the invoice's customer after it)."""
    return [keys.invoice(r.tenant_id, r.args["invoice_id"]), *r.counters("credit_note")], []


def _subscribe(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    """The customer and every plan the items name (a plan's tax rate is read after it)."""
    customer_id, items = r.text("customer_id"), r.body.get("items")
    wanted = [keys.customer(r.tenant_id, customer_id)] if customer_id else []
    for item in (items if isinstance(items, list) else [])[:MAX_PLANNED]:
        if isinstance(item, dict) and (plan_id := r.id_of(item.get("plan_id"))):
            wanted.append(keys.plan(r.tenant_id, plan_id))
    return wanted, []


def _invoice_item(r: Request) -> tuple[list[Key], list[dict[str, Any]]]:
    """The customer and (a Query) its pending items, which a customer has at most ``MAX_PENDING`` of."""
    from billing.services import orders  # as in _place_order

    customer_id = r.text("customer")
    if customer_id is None:
        return [], []
    wanted, queries = orders.invoicing_reads(r.ctx, r.tenant_id, customer_id)
    return wanted[:1], queries


PLANS: dict[tuple[str, str], Plan] = {
    ("POST", "/v1/customers"): _create_customer,
    ("GET", "/v1/customers/<customer_id>"): _customer,
    ("POST", "/v1/orders"): _place_order,
    ("GET", "/v1/orders/<order_id>"): _order,
    ("POST", "/v1/orders/<order_id>/approve"): _approve_order,
    ("POST", "/v1/orders/<order_id>/cancel"): _order,
    ("GET", "/v1/invoices/<invoice_id>"): _invoice,
    ("POST", "/v1/invoices/<invoice_id>/void"): _invoice,
    ("POST", "/v1/invoices/<invoice_id>/credit_notes"): _credit_note,
    ("GET", "/v1/invoices/<invoice_id>/credit_notes"): _invoice_partition("CN#"),
    ("GET", "/v1/invoices/<invoice_id>/payments"): _invoice_partition("PAY#"),
    ("POST", "/v1/subscriptions"): _subscribe,
    ("POST", "/v1/invoice_items"): _invoice_item,
}


def planner(app: Any, ctx: Context, now: datetime) -> Callable[[str, dict[str, Any] | None], Any]:
    """The ``reads`` of ``authenticated_key`` for the request ``app`` resolves: its route's plan, plus the
    Idempotency-Key's claim on any POST that carries one."""
    route = app.context.get("_route")
    plan = PLANS.get((route.method, route.path)) if route is not None else None

    def reads(tenant_id: str, tenant_item: dict[str, Any] | None) -> tuple[list[Key], list[dict[str, Any]]]:
        # the path's arguments (the validated body rides along with them, as ``body``)
        given = {k: v for k, v in (app.context.get("_route_args") or {}).items() if isinstance(v, str)}
        args = {k: v for k, v in given.items() if Request.id_of(v)}
        request = Request(ctx, tenant_id, args, app.current_event, now)
        request.tenant_item = tenant_item
        wanted, queries = plan(request) if plan and len(args) == len(given) else ([], [])
        idempotency_key = request.headers.get("idempotency-key")
        if app.current_event.http_method == "POST" and idempotency_key and len(idempotency_key) <= MAX_KEY_LENGTH:
            wanted = [keys.idempotency(tenant_id, idempotency_key), *wanted]
        return wanted, queries

    return reads
