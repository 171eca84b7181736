"""The operators' admin command: tenants and API keys, stored hashed."""

import json

import boto3

from billing.services.tenants import hash_key
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
    assert second != api_key and deps.context.repo.api_key_exists(tenant_id, hash_key(second))


def test_bad_number_format_and_unknown_tenant_fail_cleanly(deps, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    assert admin.main(["create-tenant", "--name", "X", "--number-format", "INV-{yyyy}"]) == 1
    assert "invalid_number_format" in capsys.readouterr().err
    assert admin.main(["add-key", "--tenant", "ten_nope"]) == 1
    assert boto3.client("dynamodb").scan(TableName=TABLE)["Count"] == 0
