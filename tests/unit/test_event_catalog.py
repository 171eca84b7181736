"""The event catalog is the whole truth: every type the code emits is in it, with a data model, a schema and an
example that agree, and docs/events.md and docs/events/ are what the code generates."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jsonschema
import pytest

from billing.domain.payments import STATUSES
from billing.outbound import catalog, docs, schemas

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers" / "billing" / "billing", ROOT / "functions", ROOT / "infra"]
EVENT_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")
# the calls that make a domain event from a literal type: DomainEvent.new(type, …), Subscription._event(type, …),
# Subscription._moved(action, type, …), orders._save(ctx, tx, order, type, …)
EMITTERS = {"new", "_event", "_moved", "_save"}


def emitted_types() -> dict[str, str]:
    """Every event type literal handed to an emitter anywhere in the code, and where it is."""
    found: dict[str, str] = {}
    for base in SOURCES:
        for path in base.rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name not in EMITTERS:
                    continue
                for arg in node.args:
                    for part in ast.walk(arg):  # a literal, or either side of ``a if … else b``
                        text = part.value if isinstance(part, ast.Constant) else None
                        if isinstance(text, str) and EVENT_TYPE.match(text):
                            found.setdefault(text, f"{path.relative_to(ROOT)}:{node.lineno}")
                    if isinstance(arg, ast.JoinedStr) and ast.unparse(arg) == "f'payment.{status}'":
                        for status in STATUSES:  # payments.apply_payment_intent: one type per payment status
                            found.setdefault(f"payment.{status}", f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_type_the_code_emits_is_in_the_catalog_and_every_catalog_type_is_emitted():
    found = emitted_types()
    assert len(found) > 40  # the scan sees the emitters (a scan that finds nothing would pass anything)
    missing = {t: where for t, where in found.items() if t not in catalog.TYPES}
    assert not missing, f"emitted but not in billing.outbound.catalog.TYPES: {missing}"
    never = set(catalog.TYPES) - set(found)
    assert not never, f"in the catalog but emitted nowhere: {never}"


def test_every_type_has_a_data_model_a_schema_and_a_valid_example():
    assert set(schemas.DATA) == set(catalog.TYPES)
    assert catalog.INTERNAL <= set(catalog.TYPES)
    for name in catalog.TYPES:
        schema = schemas.schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        example = schemas.example(name)
        jsonschema.validate(example, schema)
        assert set(example["data"]) <= set(schemas.DATA[name].model_fields), name
        assert schema["$id"].endswith(f"{name}:v{example['schema_version']}")


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (lambda e: e.pop("actor"), "required"),
        (lambda e: e["object"].update(version="3"), "not valid"),
        (lambda e: e.update(type="invoice.paid"), "was expected"),
    ],
)
def test_a_schema_refuses_an_event_that_is_not_its_type(broken, why):
    event = schemas.example("invoice.finalized")
    broken(event)
    with pytest.raises(jsonschema.ValidationError, match=why):
        jsonschema.validate(event, schemas.schema("invoice.finalized"))


def test_a_type_whose_data_misses_a_field_fails_its_schema():
    event = schemas.example("invoice.payment_succeeded")
    del event["data"]["amount"]
    with pytest.raises(jsonschema.ValidationError, match="'amount' is a required property"):
        jsonschema.validate(event, schemas.schema("invoice.payment_succeeded"))


def test_the_generated_event_documents_are_current():
    files = docs.render()
    for relative, text in files.items():
        path = ROOT / relative
        assert path.exists() and path.read_text() == text, f"{relative} is stale: run `make events-docs`"
    on_disk = {f"docs/events/{p.name}" for p in (ROOT / "docs" / "events").glob("*.json")}
    assert on_disk == {p for p in files if p.startswith("docs/events/")}, "a schema of no type: `make events-docs`"
    assert json.loads(files[docs.schema_path("invoice.paid")])["$id"] == "urn:billing:event:invoice.paid:v1"


def test_the_issues_names_are_catalog_types_or_say_which_one_is():
    asked = [
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.uncollectible",
        "credit_note.created",
        "payment.refunded",
        "subscription.created",
        "subscription.updated",
        "subscription.past_due",
        "subscription.suspended",
        "subscription.canceled",
        "dunning.step_completed",
        "customer.created",
    ]
    for name in asked:
        assert name in catalog.TYPES or docs.ISSUE_NAMES[name] in catalog.TYPES, name


def test_only_public_types_go_out():
    assert not catalog.is_public("portal.sign_in_requested")
    assert catalog.is_public("invoice.paid") and not catalog.is_public("invoice.exploded")
