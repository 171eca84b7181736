"""The scope each API route needs: one rule, read by the door (billing.api.app) and written into the OpenAPI
document (``x-required-scope`` on every operation).

- ``admin``: API keys, settings (profile, dunning, tax), webhook endpoints, and changes to the catalogue (plans,
  coupons, promotion codes, tax rates) - what sets up the account and who may use it.
- ``payments``: what moves money or chases it - paying, payment intents and plans, recording and reversing
  payments, refunds and credit notes, voiding, customer balance adjustments, collection cases.
- ``write``: every other change - customers, orders, subscriptions, usage, invoice items, discounts, portal
  sessions, card setup.
- ``read``: every other GET, and opening a finance dashboard session (it shows, it changes nothing).

A customer's export (``GET /v1/customers/{id}/export``) is ``admin``: it hands over everything held about a person
in one answer (bill-to copies, e-mails, the audit trail); a data-subject request is the account owner's to answer,
and a leaked reporting (``read``) or storefront (``write``) key must not become a way to harvest them. Erasing a
customer is ``write`` (it changes a customer as a PATCH would, and gives nothing away); erasing one that owes money
or has a dispute open (``force``) is ``admin``, checked by its route (billing.api.privacy).

A key with none of the route's scope gets 403 ``insufficient_scope`` naming it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing.domain.api_keys import Scope

ADMIN_PREFIXES = ("/v1/api_keys", "/v1/settings/", "/v1/webhook_endpoints")
CATALOGUE_PREFIXES = ("/v1/plans", "/v1/coupons", "/v1/promotion_codes", "/v1/tax_rates")
PAYMENTS = re.compile(
    r"^/v1/(invoices/\{[^/]+\}/(pay|payment_intent|payment_plan|payments(/\{[^/]+\}/reverse)?|refunds|void"
    r"|credit_notes)|customers/\{[^/]+\}/balance_transactions|collection_cases(/.*)?)$"
)
READ_POSTS = {"/v1/dashboard_sessions"}
ADMIN_READS = re.compile(r"^/v1/customers/\{[^/]+\}/export$")


def required(method: str, path: str) -> Scope:
    """The scope ``method`` on the route ``path`` (its OpenAPI template, ``/v1/invoices/{invoice_id}``) needs."""
    if path.startswith(ADMIN_PREFIXES) or ADMIN_READS.match(path):
        return "admin"
    if method == "GET" or path in READ_POSTS:
        return "read"
    if path.startswith(CATALOGUE_PREFIXES):
        return "admin"
    if PAYMENTS.match(path):
        return "payments"
    return "write"
