"""The billing run's terms, shared by its sweep, its pages, the invoice worker and the API (no models, no I/O).

Split from services/subscriptions so the schedule's sweep and the page fan-out (functions/billing_run,
functions/billing_pages) load these numbers without the subscription service and its models (docs/benchmarks.md,
section 1); ``billing.services.subscriptions`` re-exports every name.
"""

from __future__ import annotations

from datetime import timedelta

# Usage may arrive this late (its own timestamp is what counts). A period's billing run waits for it, and for a
# margin longer than any request that checked the window could take to commit (the API's timeout is 29 s).
USAGE_GRACE = timedelta(hours=1)
RUN_DELAY = USAGE_GRACE + timedelta(minutes=5)
USAGE_FUTURE_SKEW = timedelta(minutes=5)
BILLING_RUN = "billing-run"

# The most a subscription's run writes besides its invoice items: its draft invoice, the subscription, its MRR item
# and up to two events, its customer, a ledger entry, its own discount with its event and the period's paid shares,
# its customer's discount with its event (the billing run keeps a batch inside 100 writes). The numbering writer
# writes the invoice.finalized event and the counter, outside this transaction.
WRITES_PER_RUN = 12
# How many subscriptions one billing transaction takes at most (the worker splits a bigger batch): 8 x 12 writes and
# the batch's one invoices.drafted event, 97 of 100.
PER_TRANSACTION = 8
