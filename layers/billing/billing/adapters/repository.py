"""The repository: aggregates to items and back. An item holds its keys, index attributes, a version and the
aggregate itself as a JSON document (exact: no float ever enters DynamoDB)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from billing.actor import current_actor
from billing.adapters import keys
from billing.adapters.dynamodb import DynamoStore, Page, Transaction, from_item, in_parallel, to_item
from billing.adapters.key_cache import KeyCache
from billing.adapters.suppression import AlreadySuppressed as AlreadySuppressed
from billing.adapters.tax_repository import TaxRepository
from billing.domain import retention
from billing.domain.api_keys import ApiKey
from billing.domain.balance import BalanceTransaction
from billing.domain.collections import CollectionCase
from billing.domain.errors import ConcurrentModification, NotFound
from billing.domain.invoice_items import InvoiceItem
from billing.domain.models import CreditNote, Customer, DomainEvent, Invoice, Order, RefundIntent, Tenant
from billing.domain.payments import Payment
from billing.domain.plans import Plan
from billing.domain.profile import SellerProfile
from billing.domain.subscriptions import Subscription

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from billing.domain.erasure import Personal

M = TypeVar("M", bound=BaseModel)
INDEX_BY_CUSTOMER, INDEX_BY_STATUS, INDEX_BY_TENANT, INDEX_BY_DUE_DATE = "gsi1", "gsi2", "gsi3", "gsi4"


class DuplicateRun(Exception):
    """A record that is written once (a schedule run, a Stripe event) was there already."""


class SignInSentAlready(Exception):
    """A portal sign-in e-mail went to this customer in this window already."""


def _doc(model: BaseModel) -> str:
    return model.model_dump_json()


def _load[M: BaseModel](model: type[M], item: dict[str, Any] | None) -> M | None:
    if item is None:
        return None
    obj = model.model_validate_json(item["doc"])
    if "version" in type(obj).model_fields:
        obj = obj.model_copy(update={"version": int(item["version"])})
    return obj


def _written_pk(op: dict[str, Any]) -> str:
    ((_, body),) = op.items()
    return (body.get("Item") or body.get("Key") or {}).get("pk", {}).get("S", "")


class Repository(TaxRepository):
    def __init__(self, store: DynamoStore) -> None:
        self.store = store
        self.key_cache = KeyCache()  # the container's API keys and tenants (billing.services.tenants.authenticated)

    def transaction(self) -> Transaction:
        return self.store.transaction()

    def commit(self, tx: Transaction) -> None:
        _stamp_events(tx)
        try:
            self.store.commit(tx)
        finally:
            if self.key_cache.entries:
                self.key_cache.written({_written_pk(op) for op in tx.items})

    # --- tenants and keys -----------------------------------------------------------------------------------
    def tenant(self, tenant_id: str, consistent: bool = False) -> Tenant | None:
        return _load(Tenant, self.store.get(keys.tenant(tenant_id), consistent=consistent))

    def profile(self, tenant_id: str, consistent: bool = False) -> tuple[SellerProfile | None, int]:
        """The tenant's seller profile (None if it never set one) and the version to replace it at."""
        item = self.store.get(keys.profile(tenant_id), consistent=consistent)
        if item is None:
            return None, 0
        return SellerProfile.model_validate_json(item["doc"]), int(item["version"])

    def save_profile(self, tx: Transaction, tenant_id: str, profile: SellerProfile, version: int) -> None:
        attrs = {**keys.profile(tenant_id), "type": "profile", "doc": _doc(profile), "version": version + 1}
        tx.put_versioned(attrs, version)

    def read_ahead(
        self,
        wanted: list[dict[str, str]],
        queries: list[dict[str, Any]] | None = None,
        known: dict[tuple[str, str], dict[str, Any] | None] | None = None,
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """Read ``wanted`` (one BatchGetItem, strongly consistent) and ``queries`` in one round trip; the request's
        later reads of them are answered from it (``DynamoStore.prefetch``)."""
        return self.store.prefetch(wanted, queries or [], known)

    def save_tenant(self, tx: Transaction, tenant: Tenant) -> Tenant:
        """The door reads the item as it is (and caches it): its own ``rate_limit``, if any, is top-level too."""
        saved = tenant.model_copy(update={"version": tenant.version + 1})
        attrs = {**_item_attrs(keys.tenant(tenant.id), saved), "type": "tenant"}
        if saved.rate_limit:
            attrs["rate_limit"] = saved.rate_limit
        tx.put_versioned(attrs, tenant.version)
        return saved

    def api_key(self, tenant_id: str, key_id: str) -> ApiKey:
        item = self.store.get(keys.api_key(tenant_id, key_id))
        if item is None or "doc" not in item:
            raise NotFound("api_key_not_found", f"no API key {key_id}")
        return _api_key(item)

    def save_api_key(self, tx: Transaction, key: ApiKey) -> ApiKey:
        """Save ``key`` on the tenant's key list (gsi3). The door reads the item as it is (and caches it):
        ``key_hash``, ``scopes``, ``revoked_at`` and ``key_expires_at`` (not ``expires_at``: the table's TTL) are
        top-level attributes too."""
        saved = key.model_copy(update={"version": key.version + 1})
        attrs: dict[str, Any] = {
            **_item_attrs(keys.api_key(key.tenant_id, key.id), saved),
            # newest first: its ids are hashes, so the list sorts by the time it was made
            **keys.tenant_list_attrs(key.tenant_id, "APIKEY", f"{key.created_at.isoformat()}#{key.id}"),
            "type": "api_key",
            "key_hash": saved.key_hash,
            "scopes": list(saved.scopes),
            "created_at": saved.created_at.isoformat(),
        }
        for name, attr in (("revoked_at",) * 2, ("expires_at", "key_expires_at"), ("last_used_at",) * 2):
            if (at := getattr(saved, name)) is not None:
                attrs[attr] = at.isoformat()
        if key.version == 0:
            tx.put_new(attrs)
        else:
            tx.put_versioned(attrs, key.version)
        return saved

    def mark_api_key_used(self, key: dict[str, str], at: datetime, unless_since: datetime) -> None:
        """The key item's ``last_used_at`` set to ``at``, unless it is ``unless_since`` or later already."""
        self.store.touch(key, "last_used_at", at.isoformat(), unless_since.isoformat())

    def api_keys(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[ApiKey], str | None]:
        """The tenant's keys, newest first (gsi3, whole items: no second read)."""
        pk = keys.tenant_list_attrs(tenant_id, "APIKEY", "")["gsi3pk"]
        page = self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, f"T#{tenant_id}#")
        return [_api_key(item) for item in page.items], page.cursor

    # --- customers ------------------------------------------------------------------------------------------
    def customer(self, tenant_id: str, customer_id: str) -> Customer:
        found = _load(Customer, self.store.get(keys.customer(tenant_id, customer_id)))
        if found is None:
            raise NotFound("customer_not_found", f"no customer {customer_id}")
        return found

    def save_customer(self, tx: Transaction, customer: Customer) -> Customer:
        """Save ``customer``, on the tenant's customer list (gsi3) and its status list (gsi2). A customer saved
        before the lists existed joins them at its next save, or by ``infra.admin backfill-customer-lists``."""
        saved = customer.model_copy(update={"version": customer.version + 1})
        key = keys.customer(customer.tenant_id, customer.id)
        attrs = {
            **_item_attrs(key, saved),
            **keys.tenant_list_attrs(customer.tenant_id, "CUS", customer.id),
            **keys.customer_status_attrs(customer.tenant_id, customer.status, customer.id),
            "type": "customer",
        }
        tx.put_versioned(attrs, customer.version)
        return saved

    def customers(
        self, tenant_id: str, limit: int, cursor: str | None, archived: bool | None = None
    ) -> tuple[list[Customer], str | None]:
        """One page of the tenant's customers, newest first: all (gsi3) or by status (gsi2)."""
        prefix = f"T#{tenant_id}#"
        if archived is None:
            pk = keys.tenant_list_attrs(tenant_id, "CUS", "")["gsi3pk"]
            return _page(Customer, self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, prefix))
        status = "archived" if archived else "active"
        pk = keys.customer_status_attrs(tenant_id, status, "")["gsi2pk"]
        return _page(Customer, self.store.query(INDEX_BY_STATUS, "gsi2pk", pk, limit, cursor, prefix))

    def unlisted_customers(self) -> Iterator[Customer]:
        """Every customer of every tenant saved before the customer lists existed (no gsi3 keys). A Scan of the whole
        table: an operator's backfill (``infra.admin backfill-customer-lists``), never a request."""
        paginator = self.store.client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.store.table,
            FilterExpression="#t = :customer AND attribute_not_exists(gsi3pk)",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues={":customer": {"S": "customer"}},
        )
        for page in pages:
            for item in page.get("Items", []):
                yield _load(Customer, from_item(item))

    def customer_has_invoice(self, tenant_id: str, customer_id: str) -> bool:
        """Whether any invoice (a draft too) was made for the customer: one Query on gsi1, at most one key read."""
        return self._any_in_index(INDEX_BY_CUSTOMER, "gsi1pk", keys.customer_invoices(tenant_id, customer_id))

    def customer_has_subscription(self, tenant_id: str, customer_id: str) -> bool:
        pk = keys.customer_subscriptions_attrs(tenant_id, customer_id, "")["gsi1pk"]
        return self._any_in_index(INDEX_BY_CUSTOMER, "gsi1pk", pk)

    def _any_in_index(self, index: str, pk_name: str, pk: str) -> bool:
        answer = self.store.client.query(
            TableName=self.store.table,
            IndexName=index,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": pk_name},
            ExpressionAttributeValues={":pk": {"S": pk}},
            ProjectionExpression="pk",
            Limit=1,
        )
        return bool(answer.get("Items"))

    def move_customer_email(self, tx: Transaction, before: Customer, after: Customer) -> None:
        """The portal's by-e-mail index follows an address change, in the change's transaction."""
        old = keys.customer_by_email(before.tenant_id, before.email, before.id)
        if old != keys.customer_by_email(after.tenant_id, after.email, after.id):
            tx.delete(old)
            self.index_customer_email(tx, after)

    def release_external_id(self, tx: Transaction, tenant_id: str, kind: str, external: str) -> None:
        tx.delete(keys.external_id(tenant_id, kind, external))

    # --- payments received outside Stripe -------------------------------------------------------------------
    def payment_reference(self, tenant_id: str, method: str, reference: str) -> dict[str, Any] | None:
        """The guard of an offline payment's (method, reference): ``owner_id`` (the payment) and ``invoice_id``."""
        return self.store.get(keys.payment_reference(tenant_id, method, reference))

    def claim_payment_reference(
        self,
        tx: Transaction,
        tenant_id: str,
        method: str,
        reference: str,
        payment_id: str,
        invoice_id: str,
        on_conflict,
    ) -> None:
        attrs = {"type": "external_id", "owner_id": payment_id, "invoice_id": invoice_id}
        tx.put_new({**keys.payment_reference(tenant_id, method, reference), **attrs}, on_conflict)

    # --- orders ---------------------------------------------------------------------------------------------
    def order(self, tenant_id: str, order_id: str) -> Order:
        found = _load(Order, self.store.get(keys.order(tenant_id, order_id)))
        if found is None:
            raise NotFound("order_not_found", f"no order {order_id}")
        return found

    def save_order(self, tx: Transaction, order: Order) -> Order:
        saved = order.model_copy(update={"version": order.version + 1})
        tx.put_versioned({**_item_attrs(keys.order(order.tenant_id, order.id), saved), "type": "order"}, order.version)
        return saved

    # --- external ids ---------------------------------------------------------------------------------------
    def external_owner(self, tenant_id: str, kind: str, external: str) -> str | None:
        item = self.store.get(keys.external_id(tenant_id, kind, external))
        return item["owner_id"] if item else None

    def claim_external_id(self, tx: Transaction, tenant_id: str, kind: str, external: str, owner_id: str) -> None:
        tx.put_new({**keys.external_id(tenant_id, kind, external), "type": "external_id", "owner_id": owner_id})

    # --- invoices -------------------------------------------------------------------------------------------
    def invoice(self, tenant_id: str, invoice_id: str) -> Invoice:
        found = _load(Invoice, self.store.get(keys.invoice(tenant_id, invoice_id)))
        if found is None:
            raise NotFound("invoice_not_found", f"no invoice {invoice_id}")
        return found

    def invoices_by_id(self, tenant_id: str, invoice_ids: list[str]) -> list[Invoice]:
        """The tenant's invoices of ``invoice_ids`` that exist, strongly consistent, in one ``BatchGetItem`` per
        hundred (the numbering writer's read of the drafts it numbers), in the order of ``invoice_ids``."""
        items = self.store.get_many([keys.invoice(tenant_id, i) for i in invoice_ids], consistent=True)
        found = {invoice.id: invoice for invoice in (_load(Invoice, item) for item in items) if invoice is not None}
        return [found[i] for i in dict.fromkeys(invoice_ids) if i in found]

    def save_invoice(self, tx: Transaction, invoice: Invoice) -> Invoice:
        saved = invoice.model_copy(update={"version": invoice.version + 1})
        attrs = {
            **_item_attrs(keys.invoice(invoice.tenant_id, invoice.id), saved),
            **keys.invoice_index_attrs(invoice.tenant_id, invoice.customer_id, invoice.status, invoice.id),
            "type": "invoice",
            "status": invoice.status,
        }
        if invoice.status == "open" and invoice.dunning.attention_on:
            day = invoice.dunning.attention_on.isoformat()
            attrs.update(keys.attention_index_attrs(day, invoice.tenant_id, invoice.id))
        tx.put_versioned(attrs, invoice.version)
        return saved

    def invoices(
        self, tenant_id: str, customer_id: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Invoice], str | None]:
        prefix = f"T#{tenant_id}#"
        if customer_id:
            pk = keys.customer_invoices(tenant_id, customer_id)
            page = self.store.query(
                INDEX_BY_CUSTOMER, "gsi1pk", pk, limit, cursor, prefix, {"status": status} if status else None
            )
        elif status:
            shards = keys.invoice_lists(tenant_id, status)
            page = self.store.query_shards(INDEX_BY_STATUS, "gsi2pk", "gsi2sk", shards, limit, cursor)
        else:
            shards = keys.invoice_lists(tenant_id)
            page = self.store.query_shards(INDEX_BY_TENANT, "gsi3pk", "gsi3sk", shards, limit, cursor)
        return _page(Invoice, page)

    # --- plans and subscriptions ----------------------------------------------------------------------------
    def plan(self, tenant_id: str, plan_id: str) -> Plan:
        found = _load(Plan, self.store.get(keys.plan(tenant_id, plan_id)))
        if found is None:
            raise NotFound("plan_not_found", f"no plan {plan_id}")
        return found

    def save_plan(self, tx: Transaction, plan: Plan) -> Plan:
        saved = plan.model_copy(update={"version": plan.version + 1})
        attrs = {
            **_item_attrs(keys.plan(plan.tenant_id, plan.id), saved),
            **keys.tenant_list_attrs(plan.tenant_id, "PLAN", plan.id),
            "type": "plan",
        }
        tx.put_versioned(attrs, plan.version)
        return saved

    def plans(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Plan], str | None]:
        pk = keys.tenant_list_attrs(tenant_id, "PLAN", "")["gsi3pk"]
        return _page(Plan, self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, f"T#{tenant_id}#"))

    def subscription(self, tenant_id: str, subscription_id: str, consistent: bool = True) -> Subscription:
        found = _load(Subscription, self.store.get(keys.subscription(tenant_id, subscription_id), consistent))
        if found is None:
            raise NotFound("subscription_not_found", f"no subscription {subscription_id}")
        return found

    def save_subscription(self, tx: Transaction, sub: Subscription, run_delay_seconds: int) -> Subscription:
        """Save ``sub``; while a billing run is due it is on the billing index at ``next_billing_at`` plus the
        delay that lets late usage in."""
        saved = sub.model_copy(update={"version": sub.version + 1})
        attrs = {
            **_item_attrs(keys.subscription(sub.tenant_id, sub.id), saved),
            **keys.subscription_list_attrs(sub.tenant_id, sub.id),
            **keys.customer_subscriptions_attrs(sub.tenant_id, sub.customer_id, sub.id),
            "type": "subscription",
            "status": sub.status,
            "current_period_index": sub.current_period_index,
        }
        if sub.next_billing_at is not None:
            run_at = keys.instant(sub.next_billing_at + timedelta(seconds=run_delay_seconds))
            attrs.update(keys.billing_index_attrs(run_at, sub.tenant_id, sub.id))
        tx.put_versioned(attrs, sub.version)
        tx.put_new(_mrr_change(saved))
        return saved

    def subscriptions(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Subscription], str | None]:
        shards = keys.subscription_lists(tenant_id)
        return _page(Subscription, self.store.query_shards(INDEX_BY_TENANT, "gsi3pk", "gsi3sk", shards, limit, cursor))

    def index_customer_email(self, tx: Transaction, customer: Customer) -> None:
        key = keys.customer_by_email(customer.tenant_id, customer.email, customer.id)
        tx.put_new({**key, "type": "customer_email", "customer_id": customer.id})

    def customers_by_email(self, tenant_id: str, address: str) -> list[Customer]:
        pk = keys.customer_by_email(tenant_id, address, "")["pk"]
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :cus)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":cus": {"S": "CUS#"}},
            ConsistentRead=False,
        )
        return [self.customer(tenant_id, from_item(item)["customer_id"]) for item in items]

    def mark_sign_in_sent(self, tx: Transaction, tenant_id: str, customer_id: str, window: str, expires: int) -> None:
        key = keys.sign_in_sent(tenant_id, customer_id, window)
        # a marker of its own (``attempt``): a marker found there is always another sending's, never taken for
        # this write's own retried success
        attempt = secrets.token_hex(8)
        tx.put_new({**key, "type": "sign_in_sent", "attempt": attempt, "expires_at": expires}, SignInSentAlready)

    def customer_subscriptions(self, tenant_id: str, customer_id: str) -> list[Subscription]:
        pk = keys.customer_subscriptions_attrs(tenant_id, customer_id, "")["gsi1pk"]
        page = self.store.query(INDEX_BY_CUSTOMER, "gsi1pk", pk, 100, None, f"T#{tenant_id}#")
        return _page(Subscription, page)[0]

    def page_session(self, kind: str, tenant_id: str, session_id: str) -> dict[str, Any] | None:
        return self.store.get(keys.page_session(kind, tenant_id, session_id), consistent=False)

    def add_page_session(
        self, tx: Transaction, kind: str, tenant_id: str, session_id: str, record: dict[str, Any]
    ) -> None:
        tx.put_new({**keys.page_session(kind, tenant_id, session_id), "type": f"{kind}_session", **record})

    def subscriptions_due(self, shard: int, until_iso: str) -> list[tuple[str, str]]:
        """(tenant id, subscription id) of the subscriptions of a billing shard whose run is due by ``until_iso``."""
        items = self._query_all(
            IndexName=INDEX_BY_DUE_DATE,
            KeyConditionExpression="gsi4pk = :pk AND gsi4sk <= :until",
            ExpressionAttributeValues={":pk": {"S": keys.billing_partition(shard)}, ":until": {"S": until_iso + "~"}},
            ProjectionExpression="gsi4sk",
        )
        return [tuple(item["gsi4sk"]["S"].split("#")[1:]) for item in items]

    def billing_shards_due(self, until_iso: str, shards: int) -> list[int]:
        """The billing shards with a subscription due by ``until_iso``: one Query of one entry a shard, all at once
        (one round trip)."""

        def any_due(shard: int) -> bool:
            return bool(self.subscriptions_due_page(shard, until_iso, 1, None)[0])

        return [shard for shard, due in zip(range(shards), in_parallel(any_due, range(shards)), strict=True) if due]

    def subscriptions_due_page(
        self, shard: int, until_iso: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
        """One Query page (at most ``limit`` entries, and DynamoDB's 1 MB) of a billing shard's subscriptions due by
        ``until_iso``, oldest due first, from ``cursor`` (the last page's LastEvaluatedKey); with the next cursor,
        None at the shard's end. (tenant id, subscription id) each."""
        query: dict[str, Any] = {
            "TableName": self.store.table,
            "IndexName": INDEX_BY_DUE_DATE,
            "KeyConditionExpression": "gsi4pk = :pk AND gsi4sk <= :until",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.billing_partition(shard)},
                ":until": {"S": until_iso + "~"},
            },
            "ProjectionExpression": "gsi4sk",
            "Limit": limit,
        }
        if cursor:
            query["ExclusiveStartKey"] = cursor
        answer = self.store.client.query(**query)
        found = [tuple(item["gsi4sk"]["S"].split("#")[1:]) for item in answer.get("Items", [])]
        return found, answer.get("LastEvaluatedKey")  # type: ignore[return-value]

    def usage_record(self, tenant_id: str, subscription_id: str, at_iso: str, record_id: str) -> dict[str, Any] | None:
        return self.store.get(keys.usage(tenant_id, subscription_id, at_iso, record_id))

    def add_usage(self, tx: Transaction, tenant_id: str, subscription_id: str, record: dict[str, Any]) -> None:
        key = keys.usage(tenant_id, subscription_id, record["timestamp"], record["id"])
        tx.put_new({**key, "type": "usage", **record})

    def usage_totals(self, tenant_id: str, subscription_id: str, start_iso: str, end_iso: str) -> dict[str, int]:
        """Units per plan of the usage recorded at ``start_iso`` <= time < ``end_iso`` (second-precision ISO)."""
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": {"S": keys.subscription(tenant_id, subscription_id)["pk"]},
                ":from": {"S": f"USAGE#{start_iso}"},
                # a record's key is USAGE#<time>#<id>: it sorts after USAGE#<time>, so the end itself falls out
                ":to": {"S": f"USAGE#{end_iso}"},
            },
            ProjectionExpression="sk, plan_id, quantity",
            ConsistentRead=True,
        )
        totals: dict[str, int] = {}
        for item in map(from_item, items):
            totals[item["plan_id"]] = totals.get(item["plan_id"], 0) + int(item["quantity"])
        return totals

    # --- payments -------------------------------------------------------------------------------------------
    def payment(self, tenant_id: str, invoice_id: str, payment_id: str) -> Payment | None:
        return _load(Payment, self.store.get(keys.payment(tenant_id, invoice_id, payment_id)))

    def save_payment(self, tx: Transaction, payment: Payment) -> Payment:
        saved = payment.model_copy(update={"version": payment.version + 1})
        key = keys.payment(payment.tenant_id, payment.invoice_id, payment.id)
        tx.put_versioned({**_item_attrs(key, saved), "type": "payment", "status": payment.status}, payment.version)
        return saved

    def payments(self, tenant_id: str, invoice_id: str) -> list[Payment]:
        found = [_load(Payment, item) for item in self._partition(keys.invoice(tenant_id, invoice_id), "PAY#")]
        return sorted(found, key=lambda p: p.created_at)

    # --- collection cases -----------------------------------------------------------------------------------
    def collection_case(self, tenant_id: str, case_id: str, consistent: bool = True) -> CollectionCase | None:
        return _load(CollectionCase, self.store.get(keys.collection_case(tenant_id, case_id), consistent))

    def save_collection_case(self, tx: Transaction, case: CollectionCase) -> CollectionCase:
        """Save ``case`` (version 0: it must not exist yet), on the listings of its status."""
        saved = case.model_copy(update={"version": case.version + 1})
        attrs = {
            **_item_attrs(keys.collection_case(case.tenant_id, case.id), saved),
            **keys.case_index_attrs(
                case.tenant_id, case.status, keys.instant(case.opened_at), case.amount_due, case.id
            ),
            "type": "collection_case",
            "status": case.status,
        }
        tx.put_versioned(attrs, case.version)
        return saved

    def collection_cases(
        self, tenant_id: str, status: str | None, sort: str, limit: int, cursor: str | None
    ) -> tuple[list[CollectionCase], str | None]:
        """One page of the tenant's cases (of ``status``, or all): oldest first by ``age``, largest first by
        ``amount``. One Query."""
        attrs = keys.case_index_attrs(tenant_id, status or "", "", 0, "")
        index = {(True, "age"): "gsi2", (True, "amount"): "gsi3", (False, "age"): "gsi1", (False, "amount"): "gsi4"}[
            (status is not None, sort)
        ]
        pk = attrs[f"{index}pk"]
        page = self.store.query(index, f"{index}pk", pk, limit, cursor, f"T#{tenant_id}#", ascending=sort == "age")
        return _page(CollectionCase, page)

    # --- credit notes -------------------------------------------------------------------------------------
    def credit_note(self, tenant_id: str, invoice_id: str, credit_note_id: str) -> CreditNote | None:
        return _load(CreditNote, self.store.get(keys.credit_note(tenant_id, invoice_id, credit_note_id)))

    def refund_intent(self, tenant_id: str, invoice_id: str, credit_note_id: str) -> RefundIntent | None:
        return _load(RefundIntent, self.store.get(keys.refund_intent(tenant_id, invoice_id, credit_note_id)))

    def refund_intents(self, tenant_id: str, invoice_id: str) -> list[RefundIntent]:
        """The invoice's refund intents, oldest first."""
        found = [_load(RefundIntent, i) for i in self._partition(keys.invoice(tenant_id, invoice_id), "RFI#")]
        return sorted(found, key=lambda i: i.created_at)

    def save_refund_intent(self, tx: Transaction, intent: RefundIntent) -> RefundIntent:
        saved = intent.model_copy(update={"version": intent.version + 1})
        key = keys.refund_intent(intent.tenant_id, intent.invoice_id, intent.id)
        tx.put_versioned({**_item_attrs(key, saved), "type": "refund_intent"}, intent.version)
        return saved

    def save_credit_note(self, tx: Transaction, note: CreditNote) -> CreditNote:
        saved = note.model_copy(update={"version": note.version + 1})
        key = keys.credit_note(note.tenant_id, note.invoice_id, note.id)
        tx.put_versioned({**_item_attrs(key, saved), "type": "credit_note"}, note.version)
        if note.version == 0:
            ref = keys.credit_note_ref(note.tenant_id, note.id)
            tx.put_new({**ref, "type": "credit_note_ref", "invoice_id": note.invoice_id})
        return saved

    def credit_note_by_id(self, tenant_id: str, credit_note_id: str) -> CreditNote:
        ref = self.store.get(keys.credit_note_ref(tenant_id, credit_note_id), consistent=False)
        note = self.credit_note(tenant_id, ref["invoice_id"], credit_note_id) if ref else None
        if note is None:
            raise NotFound("credit_note_not_found", f"no credit note {credit_note_id}")
        return note

    def credit_notes(self, tenant_id: str, invoice_id: str) -> list[CreditNote]:
        return [_load(CreditNote, item) for item in self._partition(keys.invoice(tenant_id, invoice_id), "CN#")]

    def _partition(self, aggregate_key: dict[str, str], prefix: str) -> list[dict[str, Any]]:
        """The items of an aggregate's partition whose sort key starts with ``prefix`` (one Query, consistent)."""
        return [from_item(i) for i in self.store.run_query(self.partition_request(aggregate_key, prefix))]

    def partition_request(self, aggregate_key: dict[str, str], prefix: str) -> dict[str, Any]:
        """The Query ``_partition`` makes (a route reads it ahead: billing.api.reads)."""
        return {
            "TableName": self.store.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": aggregate_key["pk"]}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }

    # --- invoice items (issue 16) ------------------------------------------------------------------------------
    def invoice_items_by_id(self, tenant_id: str, item_ids: list[str]) -> list[InvoiceItem]:
        """The invoice items ``item_ids`` that exist, in that order: one strongly consistent BatchGetItem."""
        if not item_ids:
            return []
        found = {item["pk"]: item for item in self.store.get_many([keys.invoice_item(tenant_id, i) for i in item_ids])}
        wanted = [found.get(keys.invoice_item(tenant_id, i)["pk"]) for i in item_ids]
        return [loaded for item in wanted if item and (loaded := _load(InvoiceItem, item))]

    def invoice_item(self, tenant_id: str, item_id: str) -> InvoiceItem:
        found = _load(InvoiceItem, self.store.get(keys.invoice_item(tenant_id, item_id)))
        if found is None:
            raise NotFound("invoice_item_not_found", f"no invoice item {item_id}")
        return found

    def save_invoice_item(self, tx: Transaction, item: InvoiceItem, read_status: str | None = None) -> InvoiceItem:
        """Save ``item`` on its version; ``read_status``: the status it was read in, which the stored item must
        still have too (an item taken from an index copy, ``pending_invoice_items``)."""
        saved = item.model_copy(update={"version": item.version + 1})
        attrs = {
            **_item_attrs(keys.invoice_item(item.tenant_id, item.id), saved),
            **keys.invoice_item_index_attrs(item.tenant_id, item.customer_id, item.id, item.status == "pending"),
            "type": "invoice_item",
            "status": item.status,
        }
        tx.put_versioned(attrs, item.version, read_status)
        return saved

    def pending_invoice_items(self, tenant_id: str, customer_id: str, limit: int) -> list[InvoiceItem]:
        """The customer's pending items, oldest first, as the sparse pending list (gsi2, which projects every
        attribute) holds them: one Query, eventually consistent. A copy may lag its item: write what is taken from
        it conditional on the version and status read (``save_invoice_item``'s ``read_status``), and on a lost
        condition read the items themselves (``invoice_items_by_id``)."""
        items = self.store.run_query(self.pending_invoice_items_request(tenant_id, customer_id, limit))
        return [loaded for item in items if (loaded := _load(InvoiceItem, from_item(item)))]

    def pending_invoice_item_ids(self, tenant_id: str, customer_id: str, limit: int) -> list[str]:
        """The customer's pending items' ids, oldest first: one Query of the sparse pending list (gsi2). An index is
        read eventually consistent: the caller reads each item itself before it bills it."""
        items = self.store.run_query(self.pending_invoice_items_request(tenant_id, customer_id, limit))
        return [InvoiceItem.model_validate_json(from_item(item)["doc"]).id for item in items]

    def pending_invoice_items_request(self, tenant_id: str, customer_id: str, limit: int) -> dict[str, Any]:
        """The Query ``pending_invoice_item_ids`` makes (read ahead by the routes that invoice a customer)."""
        pk = keys.invoice_item_index_attrs(tenant_id, customer_id, "", True)["gsi2pk"]
        return {
            "TableName": self.store.table,
            "IndexName": INDEX_BY_STATUS,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "gsi2pk"},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": True,
            "Limit": limit,
        }

    def invoice_items(
        self, tenant_id: str, customer_id: str | None, pending: bool | None, limit: int, cursor: str | None
    ) -> tuple[list[InvoiceItem], str | None]:
        """A page of invoice items, newest first: a customer's pending ones (gsi2), a customer's (gsi1, ``pending``
        false: the ones no longer pending), or the tenant's (gsi3)."""
        prefix = f"T#{tenant_id}#"
        if customer_id and pending:
            pk = keys.invoice_item_index_attrs(tenant_id, customer_id, "", True)["gsi2pk"]
            return _page(InvoiceItem, self.store.query(INDEX_BY_STATUS, "gsi2pk", pk, limit, cursor, prefix))
        filters = {"status": "pending"} if pending else None
        if customer_id:
            pk = keys.invoice_item_index_attrs(tenant_id, customer_id, "", False)["gsi1pk"]
            page = self.store.query(INDEX_BY_CUSTOMER, "gsi1pk", pk, limit, cursor, prefix, filters)
        else:
            pk = keys.tenant_list_attrs(tenant_id, "II", "")["gsi3pk"]
            page = self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, prefix, filters)
        items, next_cursor = _page(InvoiceItem, page)
        if pending is False:
            items = [i for i in items if i.status != "pending"]
        return items, next_cursor

    # --- the customer's balance ledger (issue 16) ---------------------------------------------------------------
    def add_balance_transaction(self, tx: Transaction, entry: BalanceTransaction) -> None:
        key = keys.balance_transaction(entry.tenant_id, entry.customer_id, entry.id)
        tx.put_new({**key, "type": "balance_transaction", "doc": _doc(entry), "amount": entry.amount})

    def balance_transactions(
        self, tenant_id: str, customer_id: str, limit: int, cursor: str | None
    ) -> tuple[list[BalanceTransaction], str | None]:
        """A page of the customer's ledger, newest first: one Query of its partition's ``CBT#`` range."""
        key = keys.customer(tenant_id, customer_id)
        low = keys.BALANCE_PREFIX
        page = self.store.query(
            None, "pk", key["pk"], limit, cursor, f"T#{tenant_id}#", sort_between=("sk", low, low + "~")
        )
        return _page(BalanceTransaction, page)

    # --- Stripe events ----------------------------------------------------------------------------------------
    def stripe_event(self, tenant_id: str, event_id: str) -> dict[str, Any] | None:
        return self.store.get(keys.stripe_event(tenant_id, event_id))

    def record_stripe_event(self, tenant_id: str, event_id: str, event_type: str, payload: str, at: str) -> bool:
        """Record a delivery; False if this event id was recorded before."""
        tx = self.store.transaction()
        tx.put_new(
            {
                **keys.stripe_event(tenant_id, event_id),
                "type": "stripe_event",
                "event_type": event_type,
                "status": "received",
                "payload": payload,
                "received_at": at,
                "expires_at": retention.expires_at(datetime.fromisoformat(at), retention.STRIPE_EVENT),
            },
            on_conflict=DuplicateRun,
        )
        try:
            self.store.commit(tx)
        except DuplicateRun:
            return False
        return True

    def mark_stripe_event(self, tenant_id: str, event_id: str, status: str, at: str) -> None:
        self.store.client.update_item(
            TableName=self.store.table,
            Key=to_item(keys.stripe_event(tenant_id, event_id)),
            UpdateExpression="SET #s = :s, processed_at = :at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":at": {"S": at}},
        )

    # --- invoice numbers ------------------------------------------------------------------------------------
    def counter_value(self, tenant_id: str, series: str, period: str) -> int:
        item = self.store.get(keys.counter(tenant_id, series, period))
        return int(item["seq"]) if item and "seq" in item else 0

    def set_counter(self, tx: Transaction, tenant_id: str, series: str, period: str, expected: int, new: int) -> None:
        tx.set_counter(keys.counter(tenant_id, series, period), expected, new)

    # --- events (audit record and outbox in one item) -------------------------------------------------------
    def add_event(self, tx: Transaction, aggregate_key: dict[str, str], event: DomainEvent) -> None:
        """Write ``event`` (audit record and outbox) in ``tx``, on the tenant's audit trail index. Who acts (the
        door's actor) and the version its aggregate reaches in ``tx`` are stamped on it when ``tx`` commits."""
        tx.put_new(_event_attrs(aggregate_key, event))

    def write_events(self, events: list[tuple[dict[str, str], DomainEvent, int]], again: bool = False) -> None:
        """Write events outside a transaction, each with the version its aggregate was saved at and, as a commit
        stamps them, who acts: the numbering writer's ``invoice.finalized`` events, made from the invoices it has
        just committed (``Invoice.finalized_event``: the same event each time it is made). First time (``again``
        false): as ``writing_events``, waited for. ``again`` (a redelivery: some may exist): one conditional put
        each, and one found already written is left as it is."""
        if not again:
            for future in self.writing_events(events):
                future.result()
            return

        def once(item: dict[str, Any]) -> None:
            tx = self.store.transaction()
            tx.put_new(item)
            try:
                self.store.commit(tx)  # the same item found is a success; another one found is a conflict
            except ConcurrentModification:
                pass  # written already, and stamped otherwise since: the event is there

        in_parallel(once, self._stamped(events))

    def writing_events(self, events: list[tuple[dict[str, str], DomainEvent, int]]) -> list[Future[None]]:
        """``write_events`` the first time, started and not waited for: put together, 25 to a request, in parallel;
        the caller takes each request's outcome from its future."""
        return self.store.putting(self._stamped(events))

    @staticmethod
    def _stamped(events: list[tuple[dict[str, str], DomainEvent, int]]) -> list[dict[str, Any]]:
        actor = current_actor()
        return [
            _event_attrs(key, event.model_copy(update={"actor": event.actor or actor, "object_version": version}))
            for key, event, version in events
        ]

    def event_page(
        self,
        tenant_id: str,
        object_id: str | None,
        event_type: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[DomainEvent], str | None]:
        """One page of the tenant's events, newest first: one Query, on the object's own partition when the id
        names one, else on the audit trail index; the type and the object id filter."""
        low = since.astimezone(UTC).isoformat() if since else "0"  # every ISO time sorts after "0"
        high = (until.astimezone(UTC).isoformat() if until else "") + "~"
        partition = keys.events_partition(tenant_id, object_id) if object_id else None
        filters = {"event_type": event_type} if event_type else {}
        # the index holds every object's events, and the tenant's partition its API keys' too; an aggregate's own
        # partition only its own (also those written before events had these attributes)
        if object_id and (partition is None or object_id == tenant_id):
            filters["aggregate_id"] = object_id
        if partition is None:  # the audit trail index, sharded: every shard, merged by time
            shards = keys.event_lists(tenant_id)
            page = self.store.query_shards(
                INDEX_BY_TENANT, "gsi3pk", "gsi3sk", shards, limit, cursor, filters or None, sort_between=(low, high)
            )
            return [DomainEvent.model_validate_json(item["doc"]) for item in page.items], page.cursor
        # the cursor's keys are the tenant's: its own partition ``T#<tenant>`` (the tenant's events) or one under
        # it (tenant ids are all of one length, so no other tenant's key starts with this one's)
        page = self.store.query(
            None,
            "pk",
            partition["pk"],
            limit,
            cursor,
            f"T#{tenant_id}",
            filters or None,
            sort_between=("sk", f"EVT#{low}", f"EVT#{high}"),
        )
        return [DomainEvent.model_validate_json(item["doc"]) for item in page.items], page.cursor

    def events_in_window(
        self, tenant_id: str, since: datetime, until: datetime, limit: int, cursor: str | None
    ) -> tuple[list[DomainEvent], str | None]:
        """One page of the tenant's events that occurred in [since, until], oldest first: one Query on the audit
        trail index (a webhook replay walks a window with it). Events written before the index existed are not on
        it."""
        low, high = since.astimezone(UTC).isoformat(), until.astimezone(UTC).isoformat() + "~"
        shards = keys.event_lists(tenant_id)
        page = self.store.query_shards(
            INDEX_BY_TENANT, "gsi3pk", "gsi3sk", shards, limit, cursor, ascending=True, sort_between=(low, high)
        )
        return [DomainEvent.model_validate_json(item["doc"]) for item in page.items], page.cursor

    def events(self, aggregate_key: dict[str, str]) -> list[DomainEvent]:
        return [DomainEvent.model_validate_json(item["doc"]) for item in self._partition(aggregate_key, "EVT#")]

    def events_between(self, since: datetime, until: datetime) -> Iterator[DomainEvent]:
        """Every domain event of every tenant that occurred in [since, until], to the second (event keys hold
        the UTC time). A Scan of the whole table: an operator's replay (``infra.admin replay-outbox``), never a
        request."""
        first, last = (t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") for t in (since, until))
        paginator = self.store.client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.store.table,
            FilterExpression="sk BETWEEN :from AND :to",
            ExpressionAttributeValues={":from": {"S": f"EVT#{first}"}, ":to": {"S": f"EVT#{last}~"}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield DomainEvent.model_validate_json(item["doc"]["S"])

    def invoices_needing_attention(self, day: str) -> list[tuple[str, str]]:
        """(tenant id, invoice id) of the open invoices that need the dunning worker on ``day``, from gsi4: every
        shard of the day, read in parallel (one round trip when each shard fits a page), sorted by tenant and id."""

        def shard(partition: str) -> list[dict[str, Any]]:
            return self._query_all(
                IndexName=INDEX_BY_DUE_DATE,
                KeyConditionExpression="gsi4pk = :pk",
                ExpressionAttributeValues={":pk": {"S": partition}},
                ProjectionExpression="gsi4sk",
            )

        found = sorted(item["gsi4sk"]["S"] for items in in_parallel(shard, keys.attention_days(day)) for item in items)
        return [tuple(sort_key.split("#", 1)) for sort_key in found]

    def _query_all(self, **query: Any) -> list[dict[str, Any]]:
        """Every raw item a Query gives, page after page (as read ahead, if it was)."""
        return self.store.run_query({**query, "TableName": self.store.table})

    # --- mail log -------------------------------------------------------------------------------------------
    def mail_logged(self, aggregate_key: dict[str, str], cause_event_id: str, kind: str) -> bool:
        return self.store.get(keys.mail_log(aggregate_key, cause_event_id, kind)) is not None

    def log_mail(
        self, tx: Transaction, aggregate_key: dict[str, str], cause_event_id: str, kind: str, record: dict[str, Any]
    ) -> None:
        """Log an e-mail (sent or skipped) for an event; kept ``retention.MAIL_LOG`` from its ``sent_at``."""
        ttl = {"expires_at": retention.expires_at(datetime.fromisoformat(record["sent_at"]), retention.MAIL_LOG)}
        tx.put_new({**keys.mail_log(aggregate_key, cause_event_id, kind), "type": "mail", **record, **ttl})

    def mail_log(self, aggregate_key: dict[str, str]) -> list[dict[str, Any]]:
        return self._partition(aggregate_key, "MAIL#")

    def suppression(self, tenant_id: str, address: str) -> dict[str, Any] | None:
        """Why the tenant's emails no longer go to ``address`` (None: they do)."""
        return self.store.get(keys.suppressed_address(tenant_id, address), consistent=False)

    def suppress(self, tx: Transaction, tenant_id: str, address: str, record: dict[str, Any]) -> None:
        """Stop the tenant's emails to ``address``; ``tx`` fails with ``AlreadySuppressed`` if they stopped before.
        The item is keyed by the address's digest and holds no address: the list works without keeping it."""
        key = keys.suppressed_address(tenant_id, address)
        tx.put_new({**key, "type": "suppression", **record}, on_conflict=AlreadySuppressed)

    # --- schedule runs --------------------------------------------------------------------------------------
    def schedule_run_done(self, schedule: str, scheduled_time: str) -> bool:
        return self.store.get(keys.schedule_run(schedule, scheduled_time)) is not None

    def record_schedule_run(self, schedule: str, scheduled_time: str, finished_at: str, **outcome: Any) -> None:
        """Record a finished run and what it did; a concurrent duplicate that finished first is fine."""
        tx = self.store.transaction()
        tx.put_new(
            {
                **keys.schedule_run(schedule, scheduled_time),
                "type": "schedule_run",
                "finished_at": finished_at,
                **outcome,
            },
            on_conflict=DuplicateRun,
        )
        try:
            self.store.commit(tx)
        except DuplicateRun:
            pass

    # --- a paged run's record (the billing run) and an item a shard for its progress --------------------------
    def start_paged_run(
        self, schedule: str, scheduled_time: str, shards: int, started_at: str, done: list[int]
    ) -> bool:
        """Create the run's record (one conditional put), the shards ``done`` done from the start (nothing due);
        False if the run exists already (a repeated firing). A shard's progress item is made by its first page's
        record: no item is page 0."""
        tx = self.store.transaction()
        run = {
            **keys.schedule_run(schedule, scheduled_time),
            "type": "schedule_run",
            "started_at": started_at,
            "shard_count": shards,
            "seeded": False,
            "done_shards": set(done) or None,  # a number set (never empty: then none)
        }
        tx.put_new(run, on_conflict=DuplicateRun)
        try:
            self.store.commit(tx)
        except DuplicateRun:
            return False
        return True

    def schedule_run(self, schedule: str, scheduled_time: str) -> dict[str, Any] | None:
        return self.store.get(keys.schedule_run(schedule, scheduled_time))

    def run_shard(self, schedule: str, scheduled_time: str, shard: int) -> dict[str, Any] | None:
        """A paged run's progress in ``shard`` (consistent); None: at page 0, nothing recorded yet."""
        return self.store.get(keys.schedule_run_shard(schedule, scheduled_time, shard))

    def run_shards(self, schedule: str, scheduled_time: str) -> dict[int, dict[str, Any]]:
        """The recorded progress of a paged run's shards: one Query (consistent) of its shard items."""
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :shards)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.schedule_run(schedule, scheduled_time)["pk"]},
                ":shards": {"S": keys.schedule_run_shards(scheduled_time)},
            },
            ConsistentRead=True,
        )
        return {int(p["shard"]): p for p in (from_item(i) for i in items)}

    def mark_run_seeded(self, schedule: str, scheduled_time: str) -> None:
        """Every shard's first page message is sent."""
        self.store.client.update_item(
            TableName=self.store.table,
            Key=to_item(keys.schedule_run(schedule, scheduled_time)),
            UpdateExpression="SET seeded = :yes",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    def record_page(
        self,
        schedule: str,
        scheduled_time: str,
        shard: int,
        page: int,
        cursor: dict[str, Any] | None,
        sent: int,
        messages: int,
        by: str,
    ) -> bool:
        """Record page ``page`` of ``shard`` as fanned out (``sent`` subscriptions in ``messages`` messages, by the
        message ``by``): the shard moves to the next page at ``cursor``, or is done (no cursor). One conditional
        UpdateItem of the shard's own item, on the shard still being at ``page`` (page 0: no item yet): False if
        it moved already (another copy of the page message did it)."""
        progress = {
            "type": "schedule_run_shard",
            "shard": shard,
            "page": page + 1,
            "done": cursor is None,
            "by": by,
            "cursor": json.dumps(cursor) if cursor else "",
        }
        sets = [f"#{n} = :{n}" for n in progress]
        sets += [f"#{n} = if_not_exists(#{n}, :zero) + :{n}" for n in ("sent", "messages")]
        condition = "#page = :was AND #done = :no"
        if page == 0:
            condition = f"attribute_not_exists(pk) OR ({condition})"
        values = {**progress, "sent": sent, "messages": messages, "was": page, "no": False, "zero": 0}
        try:
            self.store.client.update_item(
                TableName=self.store.table,
                Key=to_item(keys.schedule_run_shard(schedule, scheduled_time, shard)),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames={f"#{n}": n for n in [*progress, "sent", "messages"]},
                ExpressionAttributeValues={f":{n}": v for n, v in to_item(values).items()},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def shard_done(self, schedule: str, scheduled_time: str, shard: int) -> int:
        """Add ``shard`` to the run's set of done shards (idempotent: a set); how many are done now."""
        answer = self.store.client.update_item(
            TableName=self.store.table,
            Key=to_item(keys.schedule_run(schedule, scheduled_time)),
            UpdateExpression="ADD done_shards :shard",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":shard": {"NS": [str(shard)]}},
            ReturnValues="UPDATED_NEW",
        )
        return len(answer["Attributes"]["done_shards"]["NS"])

    def finish_run(self, schedule: str, scheduled_time: str, finished_at: str, **totals: int) -> bool:
        """Stamp the run finished with its ``totals`` (once: False if it is stamped already)."""
        values = to_item({"at": finished_at, **totals})
        try:
            self.store.client.update_item(
                TableName=self.store.table,
                Key=to_item(keys.schedule_run(schedule, scheduled_time)),
                UpdateExpression="SET finished_at = :at" + "".join(f", {n} = :{n}" for n in totals),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(finished_at)",
                ExpressionAttributeValues={f":{n}": v for n, v in values.items()},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # --- a customer's data: export and erasure (billing.services.privacy) -----------------------------------
    def customer_invoices_all(self, tenant_id: str, customer_id: str) -> list[Invoice]:
        """Every invoice of the customer (drafts too), oldest first: its gsi1 partition, page after page."""
        items = self._query_all(
            IndexName=INDEX_BY_CUSTOMER,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.customer_invoices(tenant_id, customer_id)}},
        )
        return [_load(Invoice, from_item(item)) for item in items]

    def partition_items(self, aggregate_key: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of an aggregate's partition, as stored (consistent, page after page)."""
        request = {
            "TableName": self.store.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": aggregate_key["pk"]}},
            "ConsistentRead": True,
        }
        return [from_item(i) for i in self.store.run_query(request)]

    def note_sign_in_request(self, tx: Transaction, event: DomainEvent, address: str) -> None:
        """Note a sign-in request's event beside the e-mail index of the address it names, as long as it lives."""
        occurred = event.occurred_at.isoformat()
        where = keys.event(keys.tenant(event.tenant_id), occurred, event.id)
        ttl = retention.expires_at(event.occurred_at, retention.SIGN_IN_REQUEST)
        tx.put_new(
            {
                **keys.sign_in_request(event.tenant_id, address, occurred, event.id),
                "type": "sign_in_ref",
                "event_pk": where["pk"],
                "event_sk": where["sk"],
                "expires_at": ttl,
            }
        )

    def erase_partition(
        self, partition: dict[str, str], personal: Personal, answer: Callable[[Any], Any], skip: frozenset[str]
    ) -> int:
        """Tombstone the personal data of every item of ``partition`` but those of a ``skip`` type (the aggregates
        the caller saves as models): events (``erasure.erased_event``), the mail log (``to``), idempotency claims
        noted there (their answer: ``answer``), every other text. Each rewrite is conditional on what was read
        (nothing written meanwhile is lost), 25 a transaction; how many items changed. Doing it again changes
        nothing: tombstones are not personal data."""
        tx, changed = self.transaction(), 0
        for item in self.partition_items(partition):
            if item.get("type") in skip:
                continue
            if item.get("type") == "claim_ref":
                found = self._claim_erased(item["claim_pk"], answer)
            elif item.get("type") == "sign_in_ref":
                found = self._event_erased({"pk": item["event_pk"], "sk": item["event_sk"]}, personal)
            else:
                found = (item, _erased_item(item, personal))
            if found is None or found[0] == found[1]:
                continue
            old, new = found
            guard = "doc" if "doc" in old else "body" if "body" in old else "to" if "to" in old else None
            tx.put_if_unchanged(new, guard or "pk", old.get(guard) if guard else None)
            changed += 1
            if len(tx.items) == 25:
                self.store.commit(tx)  # not Repository.commit: the events keep the actor they were written with
                tx = self.transaction()
        if tx.items:
            self.store.commit(tx)
        return changed

    def erase_address(self, tenant_id: str, address: str, personal: Personal) -> int:
        """The e-mail partition of ``address``: the sign-in requests it names are tombstoned (through their notes);
        the suppression list's entry, keyed by its digest, loses an address kept in clear before it stopped being
        kept. The e-mail index items go with the customer's own write (``delete_email_index``)."""
        pk = keys.customer_by_email(tenant_id, address, "")
        changed = self.erase_partition(pk, personal, lambda body: body, frozenset({"customer_email"}))
        suppressed = self.store.get(keys.suppressed_address(tenant_id, address))
        if suppressed and "address" in suppressed:
            tx = self.transaction()
            tx.put_if_unchanged(
                {k: v for k, v in suppressed.items() if k != "address"}, "address", suppressed["address"]
            )
            self.store.commit(tx)
            changed += 1
        return changed

    def delete_email_index(self, tx: Transaction, tenant_id: str, address: str, customer_id: str) -> None:
        tx.delete(keys.customer_by_email(tenant_id, address, customer_id))

    def _claim_erased(self, claim_pk: str, answer: Callable[[Any], Any]) -> tuple[dict, dict] | None:
        claim = self.store.get({keys.PK: claim_pk, keys.SK: "IDEMPOTENCY"})
        if claim is None:
            return None  # expired
        return claim, {**claim, "body": json.dumps(answer(json.loads(claim["body"])))}

    def _event_erased(self, key: dict[str, str], personal: Personal) -> tuple[dict, dict] | None:
        stored = self.store.get(key)
        return (stored, _erased_item(stored, personal)) if stored else None

    # --- idempotency claims ---------------------------------------------------------------------------------
    def claim(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        item = self.store.get(keys.idempotency(tenant_id, key))
        if item is None:
            return None
        return {"fingerprint": item["fingerprint"], "status": int(item["status"]), "body": json.loads(item["body"])}

    def add_claim(
        self,
        tx: Transaction,
        tenant_id: str,
        key: str,
        fingerprint: str,
        status: int,
        body: dict[str, Any],
        expires_at: int,
        on_conflict,
        customer_id: str | None = None,
    ) -> None:
        """The claim of ``key`` with its answer; an answer about a customer (``customer_id``) is also noted in the
        customer's partition (``keys.customer_claim``, the same TTL), where an erasure finds it."""
        claim_key = keys.idempotency(tenant_id, key)
        if customer_id:
            ref = keys.customer_claim(tenant_id, customer_id, claim_key["pk"])
            tx.put_new({**ref, "type": "claim_ref", "claim_pk": claim_key["pk"], "expires_at": expires_at})
        tx.put_new(
            {
                **claim_key,
                "type": "idempotency",
                "fingerprint": fingerprint,
                "status": status,
                "body": json.dumps(body),
                "expires_at": expires_at,
            },
            on_conflict,
        )


KEY_ATTRS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk", "gsi4pk", "gsi4sk"})


def _erased_item(item: dict[str, Any], personal: Personal) -> dict[str, Any]:
    """An item with its personal data tombstoned: an event's data (``erasure.erased_event``), a mail log's
    recipient, and every personal text of any other attribute (a document's, inside its JSON); keys as they are."""
    from billing.domain import erasure

    erased: dict[str, Any] = {}
    for name, value in item.items():
        if name in KEY_ATTRS or not isinstance(value, (str, list, dict)):
            erased[name] = value
        elif name == "doc" and item.get("type") == "event":
            event = DomainEvent.model_validate_json(value)
            done = erasure.erased_event(event, personal)
            erased[name] = value if done == event else done.model_dump_json()
        elif name == "doc":
            doc = json.loads(value)
            done = personal.scrub(doc)
            erased[name] = value if done == doc else json.dumps(done, separators=(",", ":"))
        elif name == "to" and item.get("type") == "mail":
            erased[name] = erasure.TOMBSTONE
        else:
            erased[name] = personal.scrub(value)
    return erased


def _mrr_change(sub: Subscription) -> dict[str, Any]:
    """The MRR history item of this version of ``sub``: its monthly recurring amount from the moment it changed (a
    cancellation from when it took effect; anything else from the save, which for a billing run is the run's time,
    at most ``RUN_DELAY`` after the period starts)."""
    changed_at = sub.canceled_at if sub.status == "canceled" and sub.canceled_at else sub.updated_at
    return {
        **keys.mrr_change(sub.tenant_id, sub.id, sub.version),
        "type": "mrr_change",
        "tenant_id": sub.tenant_id,
        "subscription_id": sub.id,
        "customer_id": sub.customer_id,
        "currency": sub.currency,
        "status": sub.status,
        "mrr": sub.monthly_recurring,
        "changed_at": changed_at.isoformat(),
    }


def _stamp_events(tx: Transaction) -> None:
    """Stamp each event of ``tx`` with who acts (the door's actor) and the version its aggregate reaches in ``tx``
    (the aggregate's own item put in the same write: same partition, its ``type`` the event's aggregate; none when
    the event changes no such item, as a payment attempt against an unchanged invoice)."""
    actor = current_actor()
    versions: dict[tuple[str, str], int] = {}
    events: list[dict[str, Any]] = []
    for op in tx.items:
        item = op.get("Put", {}).get("Item")
        if not item or "type" not in item:
            continue
        if item["type"]["S"] == "event":
            events.append(item)
        elif "version" in item:
            versions[(item["pk"]["S"], item["type"]["S"])] = int(item["version"]["N"])
    for item in events:
        event = DomainEvent.model_validate_json(item["doc"]["S"])
        stamped = {
            "actor": event.actor or actor,
            "object_version": event.object_version or versions.get((item["pk"]["S"], event.aggregate)),
        }
        if stamped != {"actor": event.actor, "object_version": event.object_version}:
            item["doc"] = {"S": event.model_copy(update=stamped).model_dump_json()}


def _event_attrs(aggregate_key: dict[str, str], event: DomainEvent) -> dict[str, Any]:
    """An event's item: on its aggregate's partition (audit record and outbox), and on the tenant's audit trail."""
    occurred = event.occurred_at.isoformat()
    period = retention.EVENTS.get(event.type)  # the audit trail stays; a few kinds expire
    return {
        **keys.event(aggregate_key, occurred, event.id),
        **keys.event_index_attrs(event.tenant_id, occurred, event.id),
        "type": "event",
        "event_type": event.type,
        "aggregate": event.aggregate,
        "aggregate_id": event.aggregate_id,
        "doc": event.model_dump_json(),
        "expires_at": retention.expires_at(event.occurred_at, period) if period else None,
    }


def _api_key(item: dict[str, Any]) -> ApiKey:
    """A key as stored; its ``last_used_at`` is the door's mark on the item (``DynamoStore.touch``), not the doc's."""
    used = item.get("last_used_at")
    update = {"version": int(item["version"]), "last_used_at": datetime.fromisoformat(used) if used else None}
    return ApiKey.model_validate_json(item["doc"]).model_copy(update=update)


def _item_attrs(key: dict[str, str], model: BaseModel) -> dict[str, Any]:
    return {**key, "doc": _doc(model), "version": getattr(model, "version", 1)}


def _page[M: BaseModel](model: type[M], page: Page) -> tuple[list[M], str | None]:
    return [_load(model, item) for item in page.items], page.cursor
