"""SES bounce and complaint notifications -> the tenant's suppression list.

An address that bounced for good (SES ``Permanent``, which includes SES's own account suppression list) or whose
owner marked a tenant's email as spam is not emailed again by that tenant: the notifier checks the list before
each email and records why none went (``invoice.email_skipped``). The invoice itself keeps working: its pay link,
its hosted page and its dunning (charges, suspension) go on. A transient bounce (mailbox full, greylisting)
suppresses nothing; SES retries those itself.

Notifications arrive through the configuration set's event destination (SNS -> SQS, raw delivery). Each email is
sent with tags naming its tenant, customer and invoice (``MAIL_TAGS``), which the notification carries back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from billing.adapters import keys
from billing.adapters.suppression import AlreadySuppressed
from billing.domain.base_model import BaseModel
from billing.domain.events import DomainEvent
from billing.services.unit import Context

# The SES message tags every email carries (tag values: letters, digits, ``_ - .``, as our ids are).
MAIL_TAGS = ("tenant_id", "customer_id", "invoice_id", "kind")


class _Ses(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _Recipient(_Ses):
    email_address: str
    status: str | None = None
    diagnostic_code: str | None = None


class _Bounce(_Ses):
    bounce_type: str
    bounce_sub_type: str = ""
    bounced_recipients: list[_Recipient]
    timestamp: datetime


class _Complaint(_Ses):
    complained_recipients: list[_Recipient]
    timestamp: datetime
    complaint_feedback_type: str | None = None


class _Mail(_Ses):
    message_id: str
    tags: dict[str, list[str]] = {}


class _Notification(_Ses):
    event_type: str | None = None  # configuration-set event publishing
    notification_type: str | None = None  # identity notifications (same bodies, other key)
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None
    mail: _Mail


@dataclass(frozen=True)
class Suppression:
    tenant_id: str
    customer_id: str | None
    invoice_id: str | None
    message_id: str
    reason: str  # "bounce" or "complaint"
    detail: str  # SES's sub-type, status and diagnostic, or the complaint's feedback type
    at: datetime
    addresses: tuple[str, ...]


class NotFeedback(ValueError):
    """A message on the feedback queue that is not an SES notification we can act on."""


def suppression(body: str) -> Suppression | None:
    """What an SES notification asks us to suppress; None for one that asks nothing (a transient bounce, a
    delivery). Raises ``NotFeedback`` for a body that is no SES notification or names no tenant."""
    try:
        raw = json.loads(body)
        if isinstance(raw, dict) and raw.get("Type") == "Notification" and isinstance(raw.get("Message"), str):
            raw = json.loads(raw["Message"])  # an SNS envelope (a subscription without raw delivery)
        note = _Notification.model_validate(raw)
    except ValidationError as error:  # what is wrong where, never the values (addresses)
        wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False))
        raise NotFeedback(wrong[:300]) from None
    except ValueError as error:
        raise NotFeedback(f"not JSON ({type(error).__name__})") from None
    tags = {name: values[0] for name, values in note.mail.tags.items() if values}
    if "tenant_id" not in tags:
        raise NotFeedback(f"SES message {note.mail.message_id} carries no tenant_id tag")
    kind = (note.event_type or note.notification_type or "").lower()
    about = {
        "tenant_id": tags["tenant_id"],
        "customer_id": tags.get("customer_id"),
        "invoice_id": tags.get("invoice_id"),
        "message_id": note.mail.message_id,
    }
    if kind == "bounce" and note.bounce and note.bounce.bounce_type == "Permanent":
        first = note.bounce.bounced_recipients[0] if note.bounce.bounced_recipients else None
        detail = " ".join(
            part
            for part in (note.bounce.bounce_sub_type, first and first.status, first and first.diagnostic_code)
            if part
        )
        addresses = tuple(r.email_address for r in note.bounce.bounced_recipients)
        return Suppression(**about, reason="bounce", detail=detail, at=note.bounce.timestamp, addresses=addresses)
    if kind == "complaint" and note.complaint:
        addresses = tuple(r.email_address for r in note.complaint.complained_recipients)
        detail = note.complaint.complaint_feedback_type or ""
        return Suppression(**about, reason="complaint", detail=detail, at=note.complaint.timestamp, addresses=addresses)
    return None


def record(ctx: Context, feedback: Suppression) -> int:
    """Put each address on the tenant's suppression list, with a ``customer.email_suppressed`` event saying why.
    Returns how many were new; an address listed already (a redelivery, a second complaint) changes nothing."""
    added = 0
    for address in feedback.addresses:
        tx = ctx.repo.transaction()
        ctx.repo.suppress(
            tx,
            feedback.tenant_id,
            address,
            {
                "reason": feedback.reason,
                "detail": feedback.detail,
                "at": feedback.at.isoformat(),
                "message_id": feedback.message_id,
                "invoice_id": feedback.invoice_id,
            },
        )
        if feedback.customer_id:
            event = DomainEvent.new(
                "customer.email_suppressed",
                feedback.tenant_id,
                "customer",
                feedback.customer_id,
                ctx.clock.now(),
                address=address,
                reason=feedback.reason,
                detail=feedback.detail,
                invoice_id=feedback.invoice_id,
                message_id=feedback.message_id,
            )
            ctx.repo.add_event(tx, keys.customer(feedback.tenant_id, feedback.customer_id), event)
        try:
            ctx.repo.commit(tx)
        except AlreadySuppressed:
            continue
        added += 1
    return added
