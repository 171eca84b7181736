"""Customer emails for domain events, rendered in the customer's language and sent through SES; and the e-mails
to the tenant itself (a collection case opened, a webhook endpoint disabled: ``TENANT_KINDS``), to its profile's
finance contact in the profile's language.

An address on the tenant's suppression list (``billing.services.email_feedback``) gets no email: the log and an
``invoice.email_skipped`` event say why.

Each email is logged on its invoice under the event that caused it; the log doubles as the marker that stops a
redelivered message from sending twice (at-least-once: only a crash between SES accepting the mail and the log
write can repeat it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from billing.adapters import keys
from billing.domain import erasure
from billing.domain.events import DomainEvent
from billing.i18n import discounts, taxes
from billing.notifications.render import render_email
from billing.observability import logger
from billing.services import hosted_page, portal_links, settings
from billing.services.unit import Context

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Invoice, Tenant

KIND_OF_EVENT = {
    "invoice.finalized": "invoice_issued",
    "invoice.payment_succeeded": "payment_receipt",
    "credit_note.issued": "refund_issued",
}
SIGN_IN_REQUESTED = "portal.sign_in_requested"  # a customer asked for a link to their portal (billing.services.portal)
# A dunning step names its own email (billing.services.dunning); these are the kinds it may name.
DUNNING_KINDS = frozenset({"dunning_reminder", "payment_retry_failed", "final_notice", "service_suspended"})
# E-mails to the tenant (its profile's finance_email), by the event that calls for them: a collection case opened
# (billing.services.collections), a webhook endpoint disabled (billing.services.webhook_delivery).
TENANT_KINDS = {
    "collection_case.opened": "collection_case_opened",
    "webhook_endpoint.disabled": "webhook_endpoint_disabled",
}
NO_FINANCE_EMAIL = "no_finance_email"  # why a tenant e-mail was not sent: the profile names no finance contact


def kind_of(event: DomainEvent, invoice: Invoice) -> str | None:
    """The email ``event`` calls for. A payment that settles an invoice dunning was chasing gets a thank-you
    (a receipt with it) rather than the plain receipt."""
    if event.type == "invoice.dunning_step":
        kind = event.data.get("email")
        return kind if kind in DUNNING_KINDS else None
    kind = KIND_OF_EVENT.get(event.type)
    if kind == "refund_issued" and event.data.get("kind") == "credit":  # a credit note without refund
        return "credit_issued"
    if kind == "payment_receipt" and invoice.past_due and int(event.data.get("amount_due", 1)) == 0:
        return "payment_thank_you"
    return kind


def email_context(tenant: Tenant, invoice: Invoice, seller_name: str | None = None) -> dict[str, Any]:
    """What an invoice's e-mail states; ``seller_name``: the profile's legal name (default: the tenant's name)."""
    base = hosted_page.public_base_url()
    return {
        "pdf_url": hosted_page.pdf_url(invoice, base),
        "portal_url": portal_links.sign_in_url(tenant.id, invoice.customer_locale, base),
        "tenant_name": seller_name or tenant.name,
        "customer_name": invoice.customer_name,
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "total": invoice.total,
        "amount_due": invoice.amount_due,
        "subtotal": invoice.subtotal,
        "discounts": discounts.rows(invoice, invoice.customer_locale),  # each discount line, named
        "tax": invoice.tax,
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "collection_method": invoice.collection_method,
        "lines": [
            {
                "description": li.description,
                "quantity": li.quantity,
                "amount": li.amount,
                "tax_rate": taxes.rate_label(li.tax_rate, invoice.customer_locale) if li.tax_rate else None,
            }
            for li in invoice.lines
        ],
        # the tax by rate, the customer's tax ids, a reverse-charge or tax-exempt note (billing.i18n.taxes)
        "tax_summary": taxes.summary_rows(invoice, invoice.customer_locale),
        "customer_tax_ids": taxes.tax_id_lines(invoice.customer_tax_ids, invoice.customer_locale),
        "tax_note": taxes.note(invoice.tax_exempt, invoice.customer_locale),
        # the hosted invoice page while something is to pay: for invoices paid by link, and for automatic charges
        # only once they are past due (before that the saved card is charged; a link would invite paying twice)
        "pay_url": hosted_page.pay_url(invoice)
        if invoice.collection_method == "send_invoice" or invoice.past_due
        else None,
    }


def _still_true(kind: str, invoice: Invoice) -> bool:
    if kind in ("payment_receipt", "payment_thank_you", "refund_issued", "credit_issued"):
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
        from billing.services import portal  # sign-in requests only: the portal's sessions and their models

        sent = portal.send_sign_in(ctx, mailer, event, hosted_page.public_base_url())
        return sent[0] if sent else None
    if event.type in TENANT_KINDS:
        return _notify_tenant(ctx, mailer, event, TENANT_KINDS[event.type])
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
    if erasure.is_erased_invoice(invoice):
        return None  # its customer was erased: nobody to mail (billing.services.privacy)
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
            # money received outside Stripe: the day it arrived, as recorded, not the day it was entered
            "paid_at": datetime.fromisoformat(event.data["received_at"])
            if event.data.get("received_at")
            else event.occurred_at,
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
    if kind == "credit_issued":
        context |= {
            "amount_credited": int(event.data["amount"]),
            "credit_to": event.data.get("credit_to"),
            "credit_net": int(event.data.get("net_amount") or event.data["amount"]),
            "credit_tax": int(event.data.get("tax_amount") or 0),
            # as this credit left the invoice: a later payment or credit does not rewrite this email
            "amount_due_after": int((event.data.get("changes") or {}).get("amount_due", {}).get("after", 0)),
            "credit_note_number": event.data["number"],
            "credited_at": event.occurred_at,
            "memo": event.data.get("memo"),
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


def _case_opened(ctx: Context, event: DomainEvent) -> tuple[dict[str, Any], dict[str, str]] | None:
    """What the finance contact reads of a collection case opened: the invoice dunning escalated."""
    case = ctx.repo.collection_case(event.tenant_id, event.aggregate_id)
    if case is None:
        return None
    invoice = ctx.repo.invoice(event.tenant_id, case.invoice_id)
    context = {
        "customer_name": invoice.customer_name,
        "customer_email": invoice.customer_email,
        "invoice_number": case.invoice_number or case.invoice_id,
        "currency": case.currency,
        "amount_due": int(event.data.get("amount_due", case.amount_due)),
        "due_date": invoice.due_date,
        "case_id": case.id,
        "opened_on": event.occurred_at.date(),
    }
    return context, {"invoice_id": case.invoice_id}


def _endpoint_disabled(ctx: Context, event: DomainEvent) -> tuple[dict[str, Any], dict[str, str]] | None:
    """What the finance contact reads of a webhook endpoint disabled: which, when, and why."""
    context = {
        "endpoint_id": event.aggregate_id,
        "endpoint_url": event.data.get("url", ""),
        "reason": event.data.get("reason", "failing"),
        "failing_since": datetime.fromisoformat(since) if (since := event.data.get("failing_since")) else None,
        "disabled_at": event.occurred_at,
        "last_response_code": event.data.get("last_response_code"),
        "last_error": event.data.get("last_error"),
    }
    return context, {"webhook_endpoint_id": event.aggregate_id}


# Each tenant e-mail: the partition its mail log lives in (the aggregate the event is about), and its texts' facts.
_TENANT_MAIL = {
    "collection_case_opened": (keys.collection_case, _case_opened),
    "webhook_endpoint_disabled": (keys.webhook_endpoint, _endpoint_disabled),
}


def _notify_tenant(ctx: Context, mailer: Any, event: DomainEvent, kind: str) -> str | None:
    """An e-mail to the tenant's finance contact, once per event, in the profile's language, logged on the
    aggregate the event is about. No finance_email on the profile, or one on the suppression list: no e-mail, and
    the mail log (``skipped``) and the function's log say why."""
    key_of, facts_of = _TENANT_MAIL[kind]
    aggregate_key = key_of(event.tenant_id, event.aggregate_id)
    if ctx.repo.mail_logged(aggregate_key, event.id, kind):
        return None
    tenant = ctx.repo.tenant(event.tenant_id)
    about = facts_of(ctx, event) if tenant is not None else None
    if tenant is None or about is None:
        return None
    facts, tags = about
    profile = settings.profile(ctx, event.tenant_id)
    now = ctx.clock.now()
    to = profile.finance_email
    skipped = NO_FINANCE_EMAIL if not to else "address_suppressed" if ctx.repo.suppression(tenant.id, to) else None
    if skipped:
        logger.info("tenant e-mail not sent", extra={"kind": kind, **tags, "reason": skipped})
        tx = ctx.repo.transaction()
        record = {"kind": kind, "to": to or "", "subject": "", "locale": profile.default_locale, "skipped": skipped}
        ctx.repo.log_mail(tx, aggregate_key, event.id, kind, {**record, "sent_at": now.isoformat()})
        ctx.repo.commit(tx)
        return None
    # who it is from, as settings.sender says, from the profile read above
    seller_name, reply_to = profile.legal_name, tenant.reply_to or profile.support_email
    email = render_email(kind, profile.default_locale, {"tenant_name": seller_name, **facts})
    tags = {"tenant_id": event.tenant_id, **tags, "kind": kind}
    message_id = mailer.send(to, email.subject, email.text, email.html, seller_name, reply_to, tags=tags)
    logged = {"kind": kind, "to": to, "subject": email.subject, "locale": profile.default_locale}
    tx = ctx.repo.transaction()
    record = {**logged, "message_id": message_id, "sent_at": now.isoformat()}
    ctx.repo.log_mail(tx, aggregate_key, event.id, kind, record)
    ctx.repo.commit(tx)
    return message_id
