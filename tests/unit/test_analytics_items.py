"""The analytics export deserializes only the items the facts are made of: the set it filters by is the facts'."""

from __future__ import annotations

from billing.reports import facts
from billing.services import analytics


def test_the_export_keeps_every_item_type_the_facts_read():
    # facts_from_items reads event items, MRR history items and the aggregates it has a maker for
    assert analytics.FACT_ITEM_TYPES == {"event", "mrr_change", *facts._FROM_DOC}
