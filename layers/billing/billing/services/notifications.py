"""Customer emails for domain events, rendered in the customer's language and sent through SES.

An address on the tenant's suppression list (``billing.services.email_feedback``) gets no email: the log and an
``invoice.email_skipped`` event say why.

Each email is logged on its invoice under the event that caused it; the log doubles as the marker that stops a
redelivered message from sending twice (at-least-once: only a crash between SES accepting the mail and the log
write can repeat it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from billing.adapters import keys
from billing.domain.models import DomainEvent, Invoice, Tenant
from billing.notifications.render import render_email
from billing.services import hosted_page, portal, settings
from billing.services.unit import Context

KIND_OF_EVENT = {
    "invoice.finalized": "invoice_issued",
    "invoice.payment_succeeded": "payment_receipt",
    "credit_note.issued": "refund_issued",
}
SIGN_IN_REQUESTED = "portal.sign_in_requested"  # a customer asked for a link to their portal (billing.services.portal)
# a tenant's webhook endpoint was disabled (billing.services.webhook_delivery): its finance address hears of it
WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
# A dunning step names its own email (billing.services.dunning); these are the kinds it may name.
DUNNING_KINDS = frozenset({"dunning_reminder", "payment_retry_failed", "final_notice", "service_suspended"})


def kind_of(event: DomainEvent, invoice: Invoice) -> str | None:
    """The email ``event`` calls for. A payment that settles an invoice dunning was chasing gets a thank-you
    (a receipt with it) rather than the plain receipt."""
    if event.type == "invoice.dunning_step":
        kind = event.data.get("email")
        return kind if kind in DUNNING_KINDS else None
    kind = KIND_OF_EVENT.get(event.type)
    if kind == "payment_receipt" and invoice.past_due and int(event.data.get("amount_due", 1)) == 0:
        return "payment_thank_you"
    return kind


def email_context(tenant: Tenant, invoice: Invoice, seller_name: str | None = None) -> dict[str, Any]:
    """What an invoice's e-mail states; ``seller_name``: the profile's legal name (default: the tenant's name)."""
    base = hosted_page.public_base_url()
    return {
        "pdf_url": hosted_page.pdf_url(invoice, base),
        "portal_url": portal.sign_in_url(tenant.id, invoice.customer_locale, base),
        "tenant_name": seller_name or tenant.name,
        "customer_name": invoice.customer_name,
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "total": invoice.total,
        "amount_due": invoice.amount_due,
        "subtotal": invoice.subtotal,
        "discount": invoice.discount,
        "tax": invoice.tax,
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "collection_method": invoice.collection_method,
        "lines": [
            {"description": li.description, "quantity": li.quantity, "amount": li.amount} for li in invoice.lines
        ],
        # the hosted invoice page while something is to pay: for invoices paid by link, and for automatic charges
        # only once they are past due (before that the saved card is charged; a link would invite paying twice)
        "pay_url": hosted_page.pay_url(invoice)
        if invoice.collection_method == "send_invoice" or invoice.past_due
        else None,
    }


def _still_true(kind: str, invoice: Invoice) -> bool:
    if kind in ("payment_receipt", "payment_thank_you", "refund_issued"):
        return True  # the payment (or refund) happened, whatever the invoice has become since
    if kind in DUNNING_KINDS:  # chasing an invoice that was paid or voided since would be false
        return invoice.status in ("open", "uncollectible") and invoice.amount_due > 0
    return invoice.status in ("open", "paid")  # a zero invoice is issued paid; a voided one is not announced


def _dunning_context(event: DomainEvent, invoice: Invoice) -> dict[str, Any]:
    """The facts a dunning email states, as the step saw them when it ran (dates of what comes next)."""
    data = event.data
    charge = data.get("charge") or {}
    day = date.fromisoformat
    overdue = max(1, (event.occurred_at.date() - invoice.due_date).days) if invoice.due_date else 1
    return {
        "days_overdue": overdue,
        "next_retry_on": day(data["next_retry_on"]) if data.get("next_retry_on") else None,
        "suspend_on": day(data["suspend_on"]) if data.get("suspend_on") else None,
        "write_off_on": day(data["write_off_on"]) if data.get("write_off_on") else None,
        "suspended_on": event.occurred_at.date(),
        "failure_reason": charge.get("failure_message"),
        "card_update_required": bool(data.get("card_update_required")),
        "pay_url": hosted_page.pay_url(invoice),
    }


def notify(ctx: Context, mailer: Any, event: DomainEvent) -> str | None:
    """Send the email ``event`` calls for, once. Returns the SES message id, or None when nothing was sent."""
    if event.type == SIGN_IN_REQUESTED:
        sent = portal.send_sign_in(ctx, mailer, event, hosted_page.public_base_url())
        return sent[0] if sent else None
    if event.type == WEBHOOK_ENDPOINT_DISABLED:
        return notify_endpoint_disabled(ctx, mailer, event)
    if event.aggregate != "invoice" or (event.type not in KIND_OF_EVENT and event.type != "invoice.dunning_step"):
        return None
    aggregate_key = keys.invoice(event.tenant_id, event.aggregate_id)
    invoice = ctx.repo.invoice(event.tenant_id, event.aggregate_id)
    kind = kind_of(event, invoice)
    if kind is None or ctx.repo.mail_logged(aggregate_key, event.id, kind):
        return None
    tenant = ctx.repo.tenant(event.tenant_id)
    if tenant is None or not _still_true(kind, invoice):
        return None  # paid or voided since: the email would state something no longer true
    seller_name, reply_to = settings.sender(ctx, tenant)
    context = email_context(tenant, invoice, seller_name)
    if kind in DUNNING_KINDS:
        context |= _dunning_context(event, invoice)
    if kind in ("payment_receipt", "payment_thank_you"):
        context |= {
            "amount_paid_now": int(event.data["amount"]),
            # the invoice as this payment left it: later payments or a void do not rewrite an old receipt
            "amount_paid": int(event.data.get("amount_paid", invoice.amount_paid)),
            "amount_due": int(event.data.get("amount_due", invoice.amount_due)),
            "paid_at": event.occurred_at,
            "payment_id": event.data["payment_id"],
        }
    if kind == "refund_issued":
        context |= {
            "amount_refunded": int(event.data["amount"]),
            # as this refund left the invoice: a later refund does not rewrite this email
            "amount_refunded_total": int(event.data.get("amount_refunded_total", invoice.amount_refunded)),
            "credit_note_number": event.data["number"],
            "refunded_at": event.occurred_at,
        }
    email = render_email(kind, invoice.customer_locale, context)
    logged = {"kind": kind, "to": invoice.customer_email, "subject": email.subject, "locale": invoice.customer_locale}
    tx = ctx.repo.transaction()
    if blocked := ctx.repo.suppression(event.tenant_id, invoice.customer_email):
        # SES reported the address dead or unwilling: say so on the invoice instead of mailing it again
        now = ctx.clock.now()
        ctx.repo.log_mail(
            tx, aggregate_key, event.id, kind, {**logged, "skipped": "address_suppressed", "sent_at": now.isoformat()}
        )
        ctx.repo.add_event(
            tx,
            aggregate_key,
            DomainEvent.new(
                "invoice.email_skipped",
                event.tenant_id,
                "invoice",
                invoice.id,
                now,
                email=kind,
                cause_event_id=event.id,
                reason="address_suppressed",
                suppressed_because=blocked["reason"],
                suppressed_at=blocked["at"],
            ),
        )
        ctx.repo.commit(tx)
        return None
    tags = {"tenant_id": event.tenant_id, "customer_id": invoice.customer_id, "invoice_id": invoice.id, "kind": kind}
    message_id = mailer.send(
        invoice.customer_email, email.subject, email.text, email.html, seller_name, reply_to, tags=tags
    )
    ctx.repo.log_mail(
        tx, aggregate_key, event.id, kind, {**logged, "message_id": message_id, "sent_at": ctx.clock.now().isoformat()}
    )
    ctx.repo.commit(tx)
    return message_id


def notify_endpoint_disabled(ctx: Context, mailer: Any, event: DomainEvent) -> str | None:
    """Tell the tenant's finance address (the seller profile's ``finance_email``, in its ``default_locale``) that
    one of its webhook endpoints was disabled, and why; once per event (logged on the endpoint). A tenant without a
    finance address gets no e-mail: the event and the endpoint say it."""
    kind = "webhook_endpoint_disabled"
    aggregate_key = keys.webhook_endpoint(event.tenant_id, event.aggregate_id)
    profile, _ = ctx.repo.profile(event.tenant_id)
    tenant = ctx.repo.tenant(event.tenant_id)
    if profile is None or not profile.finance_email or tenant is None:
        return None
    if ctx.repo.mail_logged(aggregate_key, event.id, kind):
        return None
    context = {
        "tenant_name": profile.legal_name,
        "endpoint_id": event.aggregate_id,
        "endpoint_url": event.data.get("url", ""),
        "reason": event.data.get("reason", "failing"),
        "failing_since": datetime.fromisoformat(since) if (since := event.data.get("failing_since")) else None,
        "disabled_at": event.occurred_at,
        "last_response_code": event.data.get("last_response_code"),
        "last_error": event.data.get("last_error"),
    }
    email = render_email(kind, profile.default_locale, context)
    seller_name, _ = settings.sender(ctx, tenant)
    tags = {"tenant_id": event.tenant_id, "webhook_endpoint_id": event.aggregate_id, "kind": kind}
    message_id = mailer.send(profile.finance_email, email.subject, email.text, email.html, seller_name, None, tags=tags)
    record = {
        "kind": kind,
        "to": profile.finance_email,
        "subject": email.subject,
        "locale": profile.default_locale,
        "message_id": message_id,
        "sent_at": ctx.clock.now().isoformat(),
    }
    tx = ctx.repo.transaction()
    ctx.repo.log_mail(tx, aggregate_key, event.id, kind, record)
    ctx.repo.commit(tx)
    return message_id
