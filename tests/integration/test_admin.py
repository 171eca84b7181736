"""The operators' admin command: tenants and API keys, stored hashed."""

import json

import boto3

from billing.services.tenants import hash_key, key_id
from infra import admin
from tests.integration.conftest import TABLE


def test_create_tenant_prints_a_key_once_and_stores_only_its_hash(deps, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    assert admin.main(["create-tenant", "--name", "Acme Cloud", "--number-format", "ACME-{yy}{mm}-{seq:04}"]) == 0
    printed = json.loads(capsys.readouterr().out)
    api_key, tenant_id = printed["api_key"], printed["tenant_id"]
    assert api_key.startswith(f"bk_{tenant_id}.")
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]  # a test may scan; the product never does
    dumped = json.dumps(items)
    assert api_key not in dumped and api_key.split(".", 1)[1] not in dumped
    assert hash_key(api_key) in dumped
    assert deps.context.repo.tenant(tenant_id).invoice_number_format == "ACME-{yy}{mm}-{seq:04}"

    assert admin.main(["add-key", "--tenant", tenant_id]) == 0
    second = json.loads(capsys.readouterr().out)["api_key"]
    made = deps.context.repo.api_key(tenant_id, key_id(hash_key(second)))
    assert second != api_key and made.scopes == ["read", "write", "payments", "admin"]


def test_bad_number_format_and_unknown_tenant_fail_cleanly(deps, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    assert admin.main(["create-tenant", "--name", "X", "--number-format", "INV-{yyyy}"]) == 1
    assert "invalid_number_format" in capsys.readouterr().err
    assert admin.main(["add-key", "--tenant", "ten_nope"]) == 1
    assert boto3.client("dynamodb").scan(TableName=TABLE)["Count"] == 0


# --- replaying what the outbox relay gave up on (issue 11, item 15) -----------------------------------------------
def test_replay_outbox_relays_a_failed_batchs_events_again_and_empties_the_dlq(deps, tenant, monkeypatch, capsys):
    import copy

    from tests.integration.conftest import sample_event
    from tests.integration.test_collection import call, new_customer, place_invoice
    from tests.integration.test_workers import bodies

    key = tenant[1]
    invoice = place_invoice(key, new_customer(key), "send_invoice")  # its invoice.finalized was never relayed
    monkeypatch.setenv("TABLE_NAME", TABLE)
    relay_queues = ("NOTIFICATIONS", "COLLECTIONS", "DOCUMENTS", "WEBHOOK_EVENTS", "NUMBERING")
    for name in (f"{queue}_QUEUE_URL" for queue in relay_queues):
        monkeypatch.setenv(name, deps.env[name])
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="outbox-relay-dlq")["QueueUrl"]
    failure = copy.deepcopy(sample_event("outbox_relay_failure.json"))  # as Lambda writes it, at the clock's time
    arrived = deps.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    failure["DDBStreamBatchInfo"] |= {
        "approximateArrivalOfFirstRecord": arrived,
        "approximateArrivalOfLastRecord": arrived,
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(failure))
    capsys.readouterr()  # what placing the order printed (its metrics)

    assert admin.main(["replay-outbox", "--from-dlq", dlq]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed_batches"] == 1 and report["events"] >= 1
    relayed = bodies(deps.env["NOTIFICATIONS_QUEUE_URL"])
    assert [(m["type"], m["aggregate_id"]) for m in relayed if m["type"] == "invoice.finalized"] == [
        ("invoice.finalized", invoice["id"])
    ]
    assert bodies(deps.env["COLLECTIONS_QUEUE_URL"])[0]["aggregate_id"] == invoice["id"]
    assert sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []  # replayed, so taken off the DLQ
    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[0] == 200

    # a window that holds nothing relays nothing
    assert admin.main(["replay-outbox", "--since", "2020-01-01T00:00:00Z", "--until", "2020-01-02T00:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 0


def test_replay_outbox_says_which_queue_urls_it_needs(deps, monkeypatch, capsys):
    import pytest

    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.delenv("COLLECTIONS_QUEUE_URL", raising=False)
    with pytest.raises(SystemExit):
        admin.main(["replay-outbox", "--since", "2026-11-01T00:00:00Z"])
    assert "COLLECTIONS_QUEUE_URL" in capsys.readouterr().err
