"""The domain events whose document is rendered to PDF: what the outbox relay routes to the documents queue.

Its own module so that the relay reads the set without the renderer's service, its models and the hosted page
(docs/benchmarks.md, section 1); billing.services.documents re-exports it as ``EVENTS``.
"""

EVENTS = frozenset({"invoice.finalized", "credit_note.issued"})
