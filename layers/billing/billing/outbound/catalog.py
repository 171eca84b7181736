"""The event catalog: every domain event type the system emits, the aggregate it is about, and what it means.

One list for the whole system: the relay publishes exactly these to the stack's EventBridge bus and to tenant
webhook endpoints, a tenant's endpoint may filter on them, and docs/events.md is written from them. A type emitted
anywhere in the code and missing here is a test failure (tests/unit/test_event_catalog.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str  # noun.verb, as Stripe names its events
    aggregate: str  # the kind of object the event is about (its ``aggregate``)
    summary: str


def _types(*entries: tuple[str, str, str]) -> dict[str, EventType]:
    return {name: EventType(name, aggregate, summary) for name, aggregate, summary in entries}


TYPES: dict[str, EventType] = _types(
    # customers
    ("customer.created", "customer", "A customer was registered."),
    ("customer.credit_added", "customer", "Money was added to the customer's credit balance."),
    ("customer.payment_method_saved", "customer", "The customer saved a card for off-session payments."),
    ("customer.email_suppressed", "customer", "The customer's address bounced for good or complained: no more e-mail."),
    ("customer.updated", "customer", "The customer's details changed (data.changes: each field before and after)."),
    ("customer.archived", "customer", "The customer was archived: no new orders or subscriptions; history kept."),
    ("customer.unarchived", "customer", "An archived customer was brought back."),
    ("customer.credit_deducted", "customer", "Credit was taken back (a reversed payment had brought it)."),
    ("customer.erased", "customer", "The customer's personal data was erased (tombstones; invoices' amounts kept)."),
    (
        "customer.balance_transaction_created",
        "customer",
        "The customer's balance was credited or debited through the API (data.changes: credit_balance).",
    ),
    # orders
    ("order.invoiced", "order", "An order became a finalized invoice."),
    ("order.pending_review", "order", "An order is held for review before it is invoiced."),
    ("order.approved", "order", "An order held for review was approved."),
    ("order.canceled", "order", "An order held for review was canceled."),
    # invoices
    ("invoice.finalized", "invoice", "An invoice was finalized: it has its number and is owed."),
    ("invoice.pdf_ready", "invoice", "The invoice's PDF was rendered."),
    ("invoice.payment_succeeded", "invoice", "A payment counted against the invoice."),
    ("invoice.paid", "invoice", "The invoice is paid in full."),
    ("invoice.past_due", "invoice", "The invoice's due date passed with money still owed."),
    ("invoice.dunning_step", "invoice", "A step of the dunning policy ran on the invoice."),
    ("invoice.payment_plan_agreed", "invoice", "A payment plan was agreed for the amount due."),
    ("invoice.payment_plan_missed", "invoice", "An instalment of the payment plan was missed."),
    ("invoice.voided", "invoice", "The invoice was voided; it keeps its number."),
    ("invoice.marked_uncollectible", "invoice", "The invoice was written off as uncollectible."),
    ("invoice.reopened", "invoice", "Money paid is owed again (a lost dispute, a reversed payment)."),
    ("invoice.refunded", "invoice", "Money paid on the invoice was refunded."),
    ("invoice.disputed", "invoice", "A payment of the invoice is disputed."),
    ("invoice.dispute_closed", "invoice", "A dispute on the invoice's payment closed."),
    ("invoice.email_skipped", "invoice", "An e-mail about the invoice was not sent (a suppressed address)."),
    (
        "invoices.drafted",
        "invoice",
        "A billing run drafted invoices, to be numbered by their series' writer (internal: data.invoice_ids).",
    ),
    # payments (in their invoice's partition: the aggregate is the invoice)
    ("payment.pending", "invoice", "A payment attempt was recorded before Stripe was called."),
    ("payment.processing", "invoice", "A payment is processing at Stripe."),
    ("payment.requires_action", "invoice", "A payment awaits the customer (3-D Secure)."),
    ("payment.requires_payment_method", "invoice", "A payment needs a new payment method."),
    ("payment.requires_confirmation", "invoice", "A payment awaits confirmation."),
    ("payment.succeeded", "invoice", "A payment succeeded (at Stripe, or recorded: method, reference, received_at)."),
    ("payment.reversed", "invoice", "A payment received outside Stripe was reversed (a bounced check): owed again."),
    ("payment.failed", "invoice", "A payment failed (with Stripe's decline code)."),
    ("payment.canceled", "invoice", "A payment was canceled."),
    ("payment.unapplied", "invoice", "Money arrived that the invoice does not take: credited, or held for refund."),
    # credit notes
    ("credit_note.issued", "invoice", "A numbered credit note was issued against the invoice."),
    # invoice items (one-off charges and credits: billing.domain.invoice_items)
    ("invoice_item.created", "invoice_item", "A one-off charge or credit was added for the customer's next invoice."),
    ("invoice_item.invoiced", "invoice_item", "An invoice took a pending invoice item (data.invoice_id)."),
    ("invoice_item.deleted", "invoice_item", "A pending invoice item was deleted before any invoice took it."),
    # plans and subscriptions
    ("plan.created", "plan", "A plan was added to the catalogue."),
    ("subscription.created", "subscription", "A subscription started (trialing, active, or held for review)."),
    ("subscription.approved", "subscription", "A subscription held for review was approved."),
    ("subscription.trial_ended", "subscription", "A subscription's trial ended."),
    ("subscription.period_billed", "subscription", "A subscription period was invoiced."),
    ("subscription.changed", "subscription", "A subscription's plans or quantities changed (prorated)."),
    ("subscription.item_added", "subscription", "An add-on plan was attached to a subscription (prorated)."),
    ("subscription.item_removed", "subscription", "An add-on plan was removed from a subscription (prorated)."),
    ("subscription.item_updated", "subscription", "The quantity of one of a subscription's plans changed (prorated)."),
    ("subscription.cancel_scheduled", "subscription", "A subscription will cancel at its period's end."),
    ("subscription.canceled", "subscription", "A subscription was canceled."),
    ("subscription.past_due", "subscription", "A subscription's invoice is past due."),
    ("subscription.suspended", "subscription", "A subscription's service was paused by dunning."),
    ("subscription.resumed", "subscription", "A suspended subscription is back in service."),
    ("subscription.recovered", "subscription", "A past-due subscription was paid up."),
    # coupons, promotion codes and the discounts they apply (billing.domain.coupons); a discount's events are in the
    # partition of the order, subscription or customer it applies to
    ("coupon.created", "coupon", "A coupon was created (its terms never change)."),
    ("coupon.updated", "coupon", "A coupon's name or metadata changed (data.changes)."),
    ("coupon.archived", "coupon", "A coupon was archived: no new redemptions; the discounts it applied go on."),
    ("promotion_code.created", "promotion_code", "A customer-facing code was created for a coupon."),
    ("promotion_code.updated", "promotion_code", "A promotion code was activated or deactivated (data.changes)."),
    ("discount.applied", "discount", "A coupon was redeemed onto an order, a subscription or a customer."),
    ("discount.removed", "discount", "A discount was taken off (or replaced): later periods are not discounted."),
    ("discount.ended", "discount", "A discount discounted its last invoice (once, or its N periods)."),
    # collection cases (a dunning step escalated the invoice to a person: billing.domain.collections)
    ("collection_case.opened", "collection_case", "A dunning step opened a collection case for a person to chase."),
    ("collection_case.assigned", "collection_case", "A collection case was assigned to a person."),
    ("collection_case.note_added", "collection_case", "A note was added to a collection case."),
    ("collection_case.promise_recorded", "collection_case", "A promise to pay by a date paused dunning."),
    ("collection_case.promise_kept", "collection_case", "A promise to pay was kept by its date; dunning resumes."),
    ("collection_case.promise_broken", "collection_case", "A promise to pay was broken; dunning resumes."),
    ("collection_case.resolved", "collection_case", "A collection case was resolved (by hand, or by the invoice)."),
    # the tenant's own settings
    ("tenant.profile_updated", "tenant", "The seller profile was replaced (what changed, before and after)."),
    ("tenant.dunning_policy_updated", "tenant", "The dunning policy was replaced (what changed, before and after)."),
    ("tenant.rate_limit_updated", "tenant", "An operator gave the tenant its own API rate limit, or took it back."),
    ("portal.sign_in_requested", "tenant", "A customer asked for a link to their portal."),
    # taxes (billing.domain.tax)
    ("tax_rate.created", "tax_rate", "A tax rate was created (percentage, inclusive, jurisdiction never change)."),
    ("tax_rate.updated", "tax_rate", "A tax rate was renamed, archived or unarchived (data.changes)."),
    ("tenant.tax_settings_updated", "tenant", "The tax settings (default rate, place rules) were replaced."),
    # the tenant's webhook endpoints (billing.services.webhook_endpoints). Public: a tenant's other endpoints (or its
    # ops tooling) may want to hear that one was disabled or its secret rolled; they carry no secret, only ids, URLs
    # and the changes.
    ("webhook_endpoint.created", "webhook_endpoint", "A webhook endpoint was added."),
    ("webhook_endpoint.updated", "webhook_endpoint", "A webhook endpoint's URL, types, description or state changed."),
    ("webhook_endpoint.deleted", "webhook_endpoint", "A webhook endpoint was deleted: nothing more is sent to it."),
    ("webhook_endpoint.secret_rolled", "webhook_endpoint", "A webhook endpoint got a new signing secret."),
    (
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        "A webhook endpoint was disabled: it answered 410 Gone, or every attempt to it failed for 3 days.",
    ),
    # access
    ("api_key.created", "api_key", "An API key was issued (its id; the key itself is shown once, to its maker)."),
    ("api_key.revoked", "api_key", "An API key was revoked: refused from now on, on every container within seconds."),
    ("api_key.rolled", "api_key", "An API key was rolled: a new key made, this one valid until the overlap ends."),
)

# Types that stay inside: on the audit trail and to the queues that act on them, never on the event bus or to
# tenant endpoints. A sign-in request carries an address someone typed (maybe no customer's) and is only the
# notifier's trigger for the sign-in e-mail. Drafted invoices are the numbering writer's work, not yet invoices
# anyone owes (their invoice.finalized follows).
INTERNAL: frozenset[str] = frozenset({"portal.sign_in_requested", "invoices.drafted"})


def is_public(event_type: str) -> bool:
    """Whether events of this type go out (the event bus, tenant endpoints)."""
    return event_type in TYPES and event_type not in INTERNAL
