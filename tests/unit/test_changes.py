"""What a change changed, as the audit trail shows it: only the fields that differ, each before and after."""

from billing.domain.changes import changes


def test_only_the_fields_that_differ_with_before_and_after():
    before = {"legal_name": "Acme", "footer": "HRB 1", "tax_id": None, "steps": [1, 2]}
    after = {"legal_name": "Acme", "footer": "HRB 2", "support_email": "s@acme.test", "steps": [1, 2]}
    assert changes(before, after) == {
        "footer": {"before": "HRB 1", "after": "HRB 2"},
        "support_email": {"before": None, "after": "s@acme.test"},
    }


def test_nothing_before_is_every_field_set_and_no_change_is_empty():
    assert changes(None, {"a": 1, "b": None}) == {"a": {"before": None, "after": 1}}
    assert changes({"a": [1]}, {"a": [1]}) == {}
