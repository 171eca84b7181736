"""The local stack's Query without moto's whole-table sort (infra.local.aws.query_without_sorting_the_table) answers
exactly what moto answers: the same items, in the same order, page by page, on the table and on its indexes, in both
directions; scans are untouched."""

from __future__ import annotations

import random

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from infra.local import aws
from infra.local import template as tpl

TABLE = "billing-test-table"


def query_all(client, **query):
    pages, key = [], None
    while True:
        answer = client.query(TableName=TABLE, Limit=3, **query, **({"ExclusiveStartKey": key} if key else {}))
        pages.append(answer["Items"])
        if "LastEvaluatedKey" not in answer:
            return pages
        key = answer["LastEvaluatedKey"]


def scan_all(client):
    pages, key = [], None
    while True:
        answer = client.scan(TableName=TABLE, Limit=4, **({"ExclusiveStartKey": key} if key else {}))
        pages.append(answer["Items"])
        if "LastEvaluatedKey" not in answer:
            return pages
        key = answer["LastEvaluatedKey"]


QUERIES = [
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "T#t#INV#3"}}},
    {
        "IndexName": "gsi4",
        "KeyConditionExpression": "gsi4pk = :pk AND gsi4sk <= :until",
        "ExpressionAttributeValues": {":pk": {"S": "BILL#1"}, ":until": {"S": "2027-01-01T05:00:00Z~"}},
    },
    {
        "IndexName": "gsi4",
        "KeyConditionExpression": "gsi4pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "BILL#2"}},
        "ScanIndexForward": False,
    },
]


@pytest.fixture
def client():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        template = tpl.load()
        (logical_id,) = tpl.resources(template, "AWS::DynamoDB::Table")
        dynamodb.create_table(**tpl.table_definition(template, logical_id, TABLE))
        shuffled = random.Random(7)
        items = []
        for n in range(60):
            item = {"pk": {"S": f"T#t#INV#{n % 5}"}, "sk": {"S": f"EVT#{shuffled.randrange(10**6):07d}"}}
            if n % 2:
                item |= {"gsi4pk": {"S": f"BILL#{n % 3}"}, "gsi4sk": {"S": f"2027-01-01T0{n % 9}:10:00Z#t#s{n}"}}
            items.append(item)
        shuffled.shuffle(items)
        for item in items:
            dynamodb.put_item(TableName=TABLE, Item=item)
        yield dynamodb


def test_queries_answer_the_same_pages_without_the_table_sort(client, monkeypatch):
    moto_answers = [query_all(client, **q) for q in QUERIES]
    moto_scan = scan_all(client)
    monkeypatch.setattr(Table, "query", Table.query)  # undone after the test: the patch is this process's only
    aws.query_without_sorting_the_table()
    assert getattr(Table.query, "local_unsorted", False)
    assert [query_all(client, **q) for q in QUERIES] == moto_answers
    assert scan_all(client) == moto_scan
    assert all(len(pages) > 1 for pages in moto_answers[:2])  # the answers were paged: the pages matter
