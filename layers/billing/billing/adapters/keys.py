"""Every key of the single table, in one place. docs/data-model.md is the access-pattern table for these.

Tenant id first in every table key. Each aggregate has its own partition (``T#<tenant>#<KIND>#<id>``) so a big
tenant never makes a hot partition; its audit/outbox events share that partition (``sk = EVT#…``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

PK, SK = "pk", "sk"


def _k(pk: str, sk: str) -> dict[str, str]:
    return {PK: pk, SK: sk}


def tenant(tenant_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}", "TENANT")


def profile(tenant_id: str) -> dict[str, str]:
    """The seller profile, beside the tenant item but apart from it: its logo is no part of every tenant read."""
    return _k(f"T#{tenant_id}", "PROFILE")


def api_key(tenant_id: str, key_id: str) -> dict[str, str]:
    """An API key, by its public id (a prefix of its secret's hash: the door finds it from the secret, the key
    routes by its id; the item holds the whole hash, which the door compares)."""
    return _k(f"T#{tenant_id}#KEY#{key_id}", "APIKEY")


def rate_window(scope: str, minute: int) -> dict[str, str]:
    """The requests of one rate-limit key in one minute (epoch minute): ``scope`` is ``T#<tenant>`` for a tenant's
    API calls, ``SRC#<kind>#<digest>`` for a source address's or a link's public requests (billing.adapters.
    rate_limiter). One item per minute, removed by TTL: no item grows, and a new minute starts at nothing."""
    return _k(f"{scope}#RATE#{minute}", "RATE")


def customer(tenant_id: str, customer_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#CUS#{customer_id}", "CUSTOMER")


def order(tenant_id: str, order_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#ORD#{order_id}", "ORDER")


def invoice(tenant_id: str, invoice_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#INV#{invoice_id}", "INVOICE")


def external_id(tenant_id: str, kind: str, external: str) -> dict[str, str]:
    """Uniqueness guard: one item per (tenant, kind, external id), naming the object that holds it."""
    digest = hashlib.sha256(external.encode()).hexdigest()
    return _k(f"T#{tenant_id}#EXT#{kind}#{digest}", "UNIQUE")


def counter(tenant_id: str, series: str, period: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#SEQ#{series}#{period}", "COUNTER")


def idempotency(tenant_id: str, key: str) -> dict[str, str]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return _k(f"T#{tenant_id}#IDEM#{digest}", "IDEMPOTENCY")


def event(aggregate_key: dict[str, str], occurred_iso: str, event_id: str) -> dict[str, str]:
    return _k(aggregate_key[PK], f"EVT#{occurred_iso}#{event_id}")


def event_index_attrs(tenant_id: str, occurred_iso: str, event_id: str) -> dict[str, str]:
    """The audit trail (gsi3): all of a tenant's events, by time (``GET /v1/events``), spread over ``LIST_SHARDS``
    partitions by event id (``event_lists``): a billing run writes about three events an invoice."""
    return {"gsi3pk": f"T#{tenant_id}#EVT#{list_shard(event_id)}", "gsi3sk": f"{occurred_iso}#{event_id}"}


def event_lists(tenant_id: str) -> list[str]:
    """The gsi3 partitions of the tenant's audit trail, one per shard."""
    return _shards(f"T#{tenant_id}#EVT")


def events_partition(tenant_id: str, object_id: str) -> dict[str, str] | None:
    """The partition where the events of ``object_id`` are (its aggregate's: the kind is the id's prefix,
    billing.domain.ids), or None for an id of another kind (an API key: its events are on the audit trail index)."""
    if object_id == tenant_id:
        return tenant(tenant_id)
    by_prefix = {"cus": customer, "in": invoice, "ord": order, "plan": plan, "sub": subscription, "ii": invoice_item}
    build = by_prefix.get(object_id.partition("_")[0])
    return build(tenant_id, object_id) if build and "_" in object_id else None


def payment(tenant_id: str, invoice_id: str, payment_id: str) -> dict[str, str]:
    """A payment attempt lives in its invoice's partition: the invoice's payments are one Query."""
    return _k(f"T#{tenant_id}#INV#{invoice_id}", f"PAY#{payment_id}")


def refund_intent(tenant_id: str, invoice_id: str, credit_note_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#INV#{invoice_id}", f"RFI#{credit_note_id}")


def credit_note(tenant_id: str, invoice_id: str, credit_note_id: str) -> dict[str, str]:
    """A credit note lives in its invoice's partition, like the invoice's payments."""
    return _k(f"T#{tenant_id}#INV#{invoice_id}", f"CN#{credit_note_id}")


def credit_note_ref(tenant_id: str, credit_note_id: str) -> dict[str, str]:
    """Where a credit note is, by its id alone: the invoice whose partition holds it."""
    return _k(f"T#{tenant_id}#CN#{credit_note_id}", "CREDIT_NOTE_REF")


def page_session(kind: str, tenant_id: str, session_id: str) -> dict[str, str]:
    """A page's short-lived session (billing.services.sessions): ``kind`` is "portal" or "dashboard"."""
    return _k(f"T#{tenant_id}#{kind.upper()}#{session_id}", f"{kind.upper()}_SESSION")


def customer_by_email(tenant_id: str, address: str, customer_id: str) -> dict[str, str]:
    """The customers an address belongs to (one item each, in one partition): the portal's sign-in by e-mail finds
    them. Keyed by a digest of the lower-cased address, like the suppression list."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()
    return _k(f"T#{tenant_id}#EMAIL#{digest}", f"CUS#{customer_id}")


def sign_in_request(tenant_id: str, address: str, occurred_iso: str, event_id: str) -> dict[str, str]:
    """Where a portal sign-in request's event is (the tenant's partition), beside the e-mail index of the address
    it names: an erasure finds the requests for the customer's addresses in one Query of their partition."""
    return _k(customer_by_email(tenant_id, address, "")[PK], f"SIGNIN#{occurred_iso}#{event_id}")


def customer_claim(tenant_id: str, customer_id: str, claim_pk: str) -> dict[str, str]:
    """An idempotency claim whose stored answer is about the customer (the claim's key), in the customer's
    partition: an erasure finds the answers it must tombstone in one Query, without a Scan."""
    return _k(customer(tenant_id, customer_id)[PK], f"IDEM#{claim_pk.rpartition('#')[2]}")


def sign_in_sent(tenant_id: str, customer_id: str, window: str) -> dict[str, str]:
    """At most one portal sign-in e-mail per customer per window: the marker of the one sent."""
    return _k(f"T#{tenant_id}#CUS#{customer_id}", f"SIGNIN#{window}")


def mrr_change(tenant_id: str, subscription_id: str, version: int) -> dict[str, str]:
    """What a subscription brought in a month from one of its versions on: the MRR report's history, in the
    subscription's partition (one item per save, so a retried save writes the same one)."""
    return _k(f"T#{tenant_id}#SUB#{subscription_id}", f"MRR#{version:010d}")


def customer_subscriptions_attrs(tenant_id: str, customer_id: str, subscription_id: str) -> dict[str, str]:
    """A subscription on its customer's index (gsi1): the portal lists a customer's subscriptions in one Query."""
    return {"gsi1pk": f"T#{tenant_id}#CUS#{customer_id}#SUB", "gsi1sk": subscription_id}


def mail_log(aggregate_key: dict[str, str], cause_event_id: str, kind: str) -> dict[str, str]:
    """One item per email sent for an event: the log on the invoice, and the marker that stops a resend."""
    return _k(aggregate_key[PK], f"MAIL#{cause_event_id}#{kind}")


def suppressed_address(tenant_id: str, address: str) -> dict[str, str]:
    """An address the tenant's emails no longer go to (SES reported it bounced for good or complained); keyed by
    a digest of the lower-cased address, so the key holds no personal data."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()
    return _k(f"T#{tenant_id}#SUPP#{digest}", "SUPPRESSED")


def stripe_event(tenant_id: str, event_id: str) -> dict[str, str]:
    """A Stripe event as delivered, recorded once by its id (its ids and type: ``stripe_webhooks.kept``)."""
    return _k(f"T#{tenant_id}#STRIPEEVT#{event_id}", "STRIPE_EVENT")


def schedule_run(schedule: str, scheduled_time: str) -> dict[str, str]:
    """A schedule's run, keyed by its scheduled time (the run's idempotency key). Platform-wide, not a tenant's."""
    return _k(f"SCHEDULE#{schedule}", f"RUN#{scheduled_time}")


def schedule_run_shard(schedule: str, scheduled_time: str, shard: int) -> dict[str, str]:
    """A paged run's progress in one shard (the billing run's), beside its run: one small item a shard, so pages of
    different shards never write the same item."""
    return _k(f"SCHEDULE#{schedule}", f"{schedule_run_shards(scheduled_time)}{shard:03}")


def schedule_run_shards(scheduled_time: str) -> str:
    """The sort-key prefix of a paged run's shard items."""
    return f"RUN#{scheduled_time}#SHARD#"


def attention_index_attrs(day: str, tenant_id: str, invoice_id: str) -> dict[str, str]:
    """The attention index (gsi4): open invoices by the day they next need the dunning worker (due date, a
    dunning step, a payment plan instalment), across tenants (the one index that is not tenant-first: a platform
    schedule reads it), each day spread over ``LIST_SHARDS`` partitions by invoice id (``attention_days``). Sparse:
    the attributes go when the invoice is paid, voided, written off, or paused."""
    return {"gsi4pk": f"DUE#{day}#{list_shard(invoice_id)}", "gsi4sk": f"{tenant_id}#{invoice_id}"}


def attention_days(day: str) -> list[str]:
    """The attention index's partitions of ``day``, one per shard: the dunning sweep reads them all."""
    return _shards(f"DUE#{day}")


def instant(when: datetime) -> str:
    """A time as the time-sorted keys hold it (usage records, the billing index): UTC, to the second."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(tenant_id: str, plan_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#PLAN#{plan_id}", "PLAN")


def subscription(tenant_id: str, subscription_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#SUB#{subscription_id}", "SUBSCRIPTION")


def usage(tenant_id: str, subscription_id: str, at_iso: str, record_id: str) -> dict[str, str]:
    """A usage record lives in its subscription's partition, sorted by time: a period's usage is one Query."""
    return _k(f"T#{tenant_id}#SUB#{subscription_id}", f"USAGE#{at_iso}#{record_id}")


def customer_status_attrs(tenant_id: str, status: str, customer_id: str) -> dict[str, str]:
    """gsi2: a tenant's customers by status (active, archived), newest id first, as invoices are by theirs; with
    gsi3 (``tenant_list_attrs(tenant, "CUS", id)``) for all of them."""
    return {"gsi2pk": f"T#{tenant_id}#CUSST#{status}", "gsi2sk": customer_id}


def payment_reference(tenant_id: str, method: str, reference: str) -> dict[str, str]:
    """Uniqueness guard of a payment received outside Stripe: one per (tenant, method, reference), naming the
    payment and its invoice (an ``external_id`` guard of kind ``payment``)."""
    return external_id(tenant_id, "payment", f"{method}:{reference}")


def tenant_list_attrs(tenant_id: str, kind: str, object_id: str) -> dict[str, str]:
    """gsi3: all of a tenant's objects of a kind (plans, customers, coupons), newest id last. The lists a big
    tenant writes at its billing rate (subscriptions, invoices) are sharded instead (``LIST_SHARDS``)."""
    return {"gsi3pk": f"T#{tenant_id}#{kind}", "gsi3sk": object_id}


# --- write-sharded lists (docs/data-model.md, "Sharded lists") ---------------------------------------------------
# An index partition takes at most 1,000 WRU/s; a tenant billing 1,000 invoices a second writes its invoice lists
# 1,000-2,000 times a second at 2 WRU an entry. So those lists, and the attention index's days (every tenant's),
# are spread over LIST_SHARDS partitions by a hash of the object's id, and a listing reads every shard in parallel
# (one round trip) and merges them by id (billing.adapters.dynamodb.DynamoStore.query_shards).
LIST_SHARDS = 8


def list_shard(object_id: str) -> int:
    """The shard of a sharded list an object is on: stable, and even over ids."""
    return int.from_bytes(hashlib.sha256(object_id.encode()).digest()[:8], "big") % LIST_SHARDS


def _shards(partition: str) -> list[str]:
    return [f"{partition}#{shard}" for shard in range(LIST_SHARDS)]


def subscription_list_attrs(tenant_id: str, subscription_id: str) -> dict[str, str]:
    """gsi3: a subscription on the tenant's subscription list, in its shard (``subscription_lists``)."""
    return {"gsi3pk": f"T#{tenant_id}#SUB#{list_shard(subscription_id)}", "gsi3sk": subscription_id}


def subscription_lists(tenant_id: str) -> list[str]:
    """The gsi3 partitions of the tenant's subscription list, one per shard."""
    return _shards(f"T#{tenant_id}#SUB")


# The billing index's partitions: 32, each paged by its own chain of page messages (functions/billing_pages), so a
# run fans out 32 pages at a time. Raised from 8 without a backfill: a shard is the id's hash modulo the count, so an
# entry written under 8 shards sits on BILL#<h % 8>, one of the 32 partitions every run reads (0-7), and moves to
# BILL#<h % 32> the next time the subscription is saved (every billing run saves it). Each entry is on exactly one
# partition, so nothing is read twice; the first months after the change read shards 0-7 a little fuller.
BILLING_SHARDS = 32


def billing_shard(subscription_id: str) -> int:
    return int(hashlib.sha256(subscription_id.encode()).hexdigest(), 16) % BILLING_SHARDS


def billing_partition(shard: int) -> str:
    """The billing index's partition (gsi4pk) of ``shard``."""
    return f"BILL#{shard}"


def billing_index_attrs(run_at_iso: str, tenant_id: str, subscription_id: str) -> dict[str, str]:
    """The billing index (gsi4, beside the attention index): subscriptions sorted by the time their next billing run
    is due, spread over ``BILLING_SHARDS`` partitions by subscription id. A run reads each shard up to now (one
    Query each, however long ago a run was missed). Sparse: gone while nothing is due (held for review, canceled)."""
    return {
        "gsi4pk": billing_partition(billing_shard(subscription_id)),
        "gsi4sk": f"{run_at_iso}#{tenant_id}#{subscription_id}",
    }


# Secondary indexes over invoices: by customer (gsi1: a customer's own invoices are never hot), by status (gsi2) and
# all of a tenant's (gsi3), both sharded (``invoice_lists``); newest id last.
def invoice_index_attrs(tenant_id: str, customer_id: str, status: str, invoice_id: str) -> dict[str, str]:
    shard = list_shard(invoice_id)
    return {
        "gsi1pk": customer_invoices(tenant_id, customer_id),
        "gsi1sk": invoice_id,
        "gsi2pk": f"T#{tenant_id}#INVST#{status}#{shard}",
        "gsi2sk": invoice_id,
        "gsi3pk": f"T#{tenant_id}#INV#{shard}",
        "gsi3sk": invoice_id,
    }


def customer_invoices(tenant_id: str, customer_id: str) -> str:
    """The gsi1 partition of a customer's invoices (one partition: not sharded)."""
    return f"T#{tenant_id}#CUS#{customer_id}#INV"


def invoice_lists(tenant_id: str, status: str | None = None) -> list[str]:
    """The partitions of the tenant's invoice list (gsi3) or of its invoices of one status (gsi2), one per shard."""
    return _shards(f"T#{tenant_id}#INVST#{status}" if status else f"T#{tenant_id}#INV")


# --- collection cases (billing.domain.collections) -------------------------------------------------------------
def collection_case(tenant_id: str, case_id: str) -> dict[str, str]:
    """A collection case, in its own partition with its events and its mail log (the finance e-mail)."""
    return _k(f"T#{tenant_id}#CASE#{case_id}", "CASE")


AMOUNT_DIGITS = 18  # a case's amount due, zero-padded in the amount-sorted keys (minor units; int64 has 19 digits)


def case_index_attrs(tenant_id: str, status: str, opened_iso: str, amount: int, case_id: str) -> dict[str, str]:
    """A case on the four listings ``GET /v1/collection_cases`` reads, one Query a page each: of one status
    (gsi2, gsi3) or of every status (gsi1, gsi4), by age (opening time) or by amount due at opening."""
    by_age = f"{opened_iso}#{case_id}"
    by_amount = f"{max(0, amount):0{AMOUNT_DIGITS}d}#{case_id}"
    return {
        "gsi1pk": f"T#{tenant_id}#CASE",
        "gsi1sk": by_age,
        "gsi2pk": f"T#{tenant_id}#CASEST#{status}",
        "gsi2sk": by_age,
        "gsi3pk": f"T#{tenant_id}#CASEST#{status}",
        "gsi3sk": by_amount,
        "gsi4pk": f"T#{tenant_id}#CASEAMT",
        "gsi4sk": by_amount,
    }


# --- webhook endpoints (billing.domain.webhooks) ---------------------------------------------------------------
def webhook_endpoint(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    """A tenant's webhook endpoint; its deliveries share its partition (``webhook_delivery``)."""
    return _k(f"T#{tenant_id}#WHE#{endpoint_id}", "WEBHOOK_ENDPOINT")


def webhook_delivery(tenant_id: str, endpoint_id: str, delivery_id: str) -> dict[str, str]:
    """One event's delivery to one endpoint, in the endpoint's partition; delivery ids start with their event's
    time, so the partition lists an endpoint's deliveries by age and a time window is a key range."""
    return _k(f"T#{tenant_id}#WHE#{endpoint_id}", f"WHD#{delivery_id}")


def webhook_endpoints_attrs(tenant_id: str, endpoint_id: str) -> dict[str, str]:
    """gsi3: a tenant's webhook endpoints (the delivery function reads them all in one Query per event)."""
    return tenant_list_attrs(tenant_id, "WHE", endpoint_id)


# --- invoice items and the customer's balance ledger (issue 16) -------------------------------------------------
def invoice_item(tenant_id: str, item_id: str) -> dict[str, str]:
    """An invoice item (billing.domain.invoice_items), in its own partition with its events."""
    return _k(f"T#{tenant_id}#II#{item_id}", "INVOICE_ITEM")


def invoice_item_index_attrs(tenant_id: str, customer_id: str, item_id: str, pending: bool) -> dict[str, str]:
    """An invoice item on its customer's list (gsi1), on the tenant's (gsi3), and while pending on its customer's
    pending list (gsi2, sparse: the attributes go when an invoice takes it or it is deleted): the next invoice finds
    the customer's pending items in one Query."""
    attrs = {
        "gsi1pk": f"T#{tenant_id}#CUS#{customer_id}#II",
        "gsi1sk": item_id,
        **tenant_list_attrs(tenant_id, "II", item_id),
    }
    if pending:
        attrs |= {"gsi2pk": f"T#{tenant_id}#CUS#{customer_id}#IIPEND", "gsi2sk": item_id}
    return attrs


BALANCE_PREFIX = "CBT#"


def balance_transaction(tenant_id: str, customer_id: str, transaction_id: str) -> dict[str, str]:
    """One movement of a customer's credit balance, in the customer's partition, sorted by its (time-sorted) id:
    the ledger is one Query of the partition's ``CBT#`` range."""
    return _k(f"T#{tenant_id}#CUS#{customer_id}", f"{BALANCE_PREFIX}{transaction_id}")


# --- coupons, promotion codes and discounts (billing.domain.coupons) ------------------------------------------
def coupon(tenant_id: str, coupon_id: str) -> dict[str, str]:
    """A coupon, in its own partition with its events and its redemption counter (``coupon_redemptions``)."""
    return _k(f"T#{tenant_id}#COUPON#{coupon_id}", "COUPON")


def coupon_redemptions(tenant_id: str, coupon_id: str) -> dict[str, str]:
    """How many times a coupon was redeemed: a counter moved only by ``ADD`` with a condition, never rewritten."""
    return _k(f"T#{tenant_id}#COUPON#{coupon_id}", "REDEMPTIONS")


def promotion_code(tenant_id: str, promotion_code_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#PROMO#{promotion_code_id}", "PROMOTION_CODE")


def promotion_code_redemptions(tenant_id: str, promotion_code_id: str) -> dict[str, str]:
    return _k(f"T#{tenant_id}#PROMO#{promotion_code_id}", "REDEMPTIONS")


def promotion_code_customer(tenant_id: str, promotion_code_id: str, customer_id: str) -> dict[str, str]:
    """A customer's redemptions of a promotion code (its per-customer limit), in the code's partition."""
    return _k(f"T#{tenant_id}#PROMO#{promotion_code_id}", f"CUS#{customer_id}")


def promotion_code_by_code(tenant_id: str, normalized_code: str) -> dict[str, str]:
    """The code's uniqueness guard and lookup (upper-cased: unique case-insensitively), naming the promotion code."""
    return external_id(tenant_id, "promotion_code", normalized_code)


def discount(aggregate_key: dict[str, str]) -> dict[str, str]:
    """The discount applied to an order, a subscription or a customer, in that object's partition (one at a time)."""
    return _k(aggregate_key[PK], "DISCOUNT")


def period_discount(tenant_id: str, subscription_id: str) -> dict[str, str]:
    """What was paid per plan in a subscription's open period after its discount (proration credits give it back)."""
    return _k(f"T#{tenant_id}#SUB#{subscription_id}", "PAID_SHARES")


# --- taxes (billing.domain.tax) --------------------------------------------------------------------------------
TAX_PREFIX = "TAX#"  # the tenant's rates and its tax settings: one Query of the tenant's partition reads them all


def tax_rate(tenant_id: str, tax_rate_id: str) -> dict[str, str]:
    """A tax rate, in the tenant's partition: the tenant's rates (and its tax settings) are one Query."""
    return _k(f"T#{tenant_id}", f"{TAX_PREFIX}RATE#{tax_rate_id}")


def tax_settings(tenant_id: str) -> dict[str, str]:
    """The tenant's tax settings (default rate, rules by place), beside its rates."""
    return _k(f"T#{tenant_id}", f"{TAX_PREFIX}SETTINGS")
