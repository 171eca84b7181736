"""How long what has no legal need is kept: every retention period of the table, in one place (docs/security.md,
"Where personal data lives", states them). Each becomes the item's ``expires_at`` (the table's TTL attribute, epoch
seconds) when the item is written; DynamoDB removes an expired item within a few days.

What the law keeps (invoices, credit notes, payments, the balance ledger, the customer item as its tombstone) has
no period here: it stays, and an erased customer's personal data is tombstoned in it instead (billing.domain.erasure).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# A Stripe event record dedupes redeliveries: Stripe retries a webhook for up to 3 days, reconciliation looks back
# 2 days; a month leaves room for a replay of the events queue's dead letters (14 days).
STRIPE_EVENT = timedelta(days=30)
# The mail log is the marker that stops an e-mail being sent twice for an event (redeliveries: 4 days in the
# queue, 14 in its dead-letter queue; ``infra.admin replay-outbox`` of a window) and what the tenant sees of the
# e-mails an invoice had. 90 days covers every retry; a replay of events older than that would mail again.
MAIL_LOG = timedelta(days=90)
# A portal sign-in request holds an address typed by anyone: the notifier needs it for minutes (the link it mails
# lives an hour); a day covers a relay or notifier retry.
SIGN_IN_REQUEST = timedelta(days=1)

# Events that expire, by type (every other event is the audit trail and stays).
EVENTS: dict[str, timedelta] = {"portal.sign_in_requested": SIGN_IN_REQUEST}


def expires_at(written: datetime, period: timedelta) -> int:
    """The TTL attribute of an item written at ``written`` and kept for ``period``."""
    return int((written + period).timestamp())
