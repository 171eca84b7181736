"""The local stack's shortcuts in moto (infra.local.aws.lighten_moto) answer exactly what moto answers: a Query
without moto's whole-table sort gives the same items in the same order, page by page, on the table and its indexes,
in both directions, before and after writes; scans are untouched; a failed transaction leaves the table and its
stream as moto's own rollback does. The runtime's stream poller passes over records its filters drop without
losing one that passes."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from infra.local import aws
from infra.local import template as tpl
from infra.local.runtime import LocalRuntime, StreamSource

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
def unpatched(monkeypatch):
    """Whatever a test patches in moto is undone after it: the patches are this process's only."""
    monkeypatch.setattr(Table, "query", Table.query)
    monkeypatch.setattr(Table, "all_items", Table.all_items)
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)
    monkeypatch.setattr(dynamodb_models, "copy", dynamodb_models.copy)


@pytest.fixture
def client(unpatched):
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


def test_queries_answer_the_same_pages_without_the_table_sort(client):
    moto_answers = [query_all(client, **q) for q in QUERIES]
    moto_scan = scan_all(client)
    aws.query_without_sorting_the_table()
    assert getattr(Table.query, "local_unsorted", False)
    assert [query_all(client, **q) for q in QUERIES] == moto_answers
    assert scan_all(client) == moto_scan
    assert all(len(pages) > 1 for pages in moto_answers[:2])  # the answers were paged: the pages matter


def test_queries_at_once_in_threads_each_answer_their_own(client):
    """A sharded listing runs its shards' Queries at once (billing.adapters.dynamodb.in_parallel), and the server
    answers requests in threads: each Query, and a Scan beside them, answers as it would alone."""
    moto_answers = [query_all(client, **q) for q in QUERIES]
    moto_scan = scan_all(client)
    aws.query_without_sorting_the_table()
    calls = [lambda q=q: query_all(client, **q) for q in QUERIES * 8] + [lambda: scan_all(client)] * 4
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda call: call(), calls))
    assert answers == moto_answers * 8 + [moto_scan] * 4


def test_queries_see_every_write_since_the_last_query(client):
    aws.query_without_sorting_the_table()
    shard_1 = {
        "IndexName": "gsi4",
        "KeyConditionExpression": "gsi4pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "BILL#1"}},
    }
    before = query_all(client, **shard_1)
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "T#t#SUB#new"},
            "sk": {"S": "SUB"},
            "gsi4pk": {"S": "BILL#1"},
            "gsi4sk": {"S": "2027-01-01T00:00:00Z#t#new"},
        },
    )
    moved = query_all(client, **QUERIES[2])[0][0]
    client.update_item(
        TableName=TABLE,
        Key={"pk": moved["pk"], "sk": moved["sk"]},
        UpdateExpression="SET gsi4pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "BILL#1"}},
    )
    after = [item for page in query_all(client, **shard_1) for item in page]
    assert len(after) == sum(map(len, before)) + 2
    assert {"pk": {"S": "T#t#SUB#new"}, "sk": {"S": "SUB"}} in [{"pk": i["pk"], "sk": i["sk"]} for i in after]
    assert moved["pk"] in [i["pk"] for i in after if i["sk"] == moved["sk"]]


def failing_transaction(table=TABLE):
    key = lambda pk, sk: {"pk": {"S": pk}, "sk": {"S": sk}}  # noqa: E731
    bill_1 = {":pk": {"S": "BILL#1"}}
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {**key("T#t#INV#9", "INV"), "gsi4pk": {"S": "BILL#1"}, "gsi4sk": {"S": "x"}},
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": key("T#t#INV#1", "EVT#first"),
                "UpdateExpression": "SET gsi4pk = :pk",
                "ExpressionAttributeValues": bill_1,
            }
        },
        {"Delete": {"TableName": table, "Key": key("T#t#INV#2", "EVT#first")}},
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": key("T#t#INV#3", "EVT#first"),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


def stream_arn(table=TABLE):
    return boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=table)["Table"]["LatestStreamArn"]


def stream_length(table=TABLE):
    return len(aws.stream_records(stream_arn(table)) or [])


def everything(client, table):
    """The table's items and the answers of the test's queries."""
    scan = client.scan(TableName=table)["Items"]
    queries = [client.query(TableName=table, **q)["Items"] for q in QUERIES]
    return sorted(scan, key=str), queries


def fail_transaction(client, table):
    for n in (1, 2, 3):
        client.put_item(TableName=table, Item={"pk": {"S": f"T#t#INV#{n}"}, "sk": {"S": "EVT#first"}})
    client.query(TableName=table, **QUERIES[1])  # a Query before: nothing it learnt may outlive the rollback
    before = everything(client, table), stream_length(table)
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=failing_transaction(table))
    return before, (everything(client, table), stream_length(table))


def test_a_failed_transaction_leaves_what_moto_leaves(client):
    moto_before, moto_after = fail_transaction(client, TABLE)
    assert moto_after == moto_before

    template = tpl.load()
    (logical_id,) = tpl.resources(template, "AWS::DynamoDB::Table")
    client.create_table(**tpl.table_definition(template, logical_id, "copy"))
    for item in client.scan(TableName=TABLE)["Items"]:
        if not item["pk"]["S"].endswith(("#1", "#2", "#3")) or item["sk"]["S"] != "EVT#first":
            client.put_item(TableName="copy", Item=item)
    aws.lighten_moto()
    before, after = fail_transaction(client, "copy")
    assert after == before
    assert after[0] == moto_after[0]


def test_a_transaction_that_succeeds_writes_all_it_names(client):
    aws.lighten_moto()
    for n in (1, 2):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"T#t#INV#{n}"}, "sk": {"S": "EVT#first"}})
    length = stream_length()
    client.transact_write_items(TransactItems=failing_transaction()[:3])
    keys = {(i["pk"]["S"], i["sk"]["S"]) for page in scan_all(client) for i in page}
    assert ("T#t#INV#9", "INV") in keys and ("T#t#INV#2", "EVT#first") not in keys
    assert "T#t#INV#1" in [i["pk"]["S"] for page in query_all(client, **QUERIES[1]) for i in page]
    assert stream_length() == length + 3


EVENT = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "EVT#"}]}}}}


class Consumer(LocalRuntime):
    """Only the runtime's stream poller, delivering to a list."""

    def __init__(self) -> None:
        super().__init__(Path("unused"))
        self.delivered: list[list[str]] = []

    def invoke(self, fid, event):
        self.delivered.append([r["dynamodb"]["NewImage"]["pk"]["S"] for r in event["Records"]])
        return {}


@pytest.fixture
def served(monkeypatch):
    """A table of the template on moto in server mode, as the local stack runs it (``mock_aws`` has no streams
    API); the runtime's clients reach it through the environment."""
    server = aws.MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(name, value)
    dynamodb = boto3.client("dynamodb")
    template = tpl.load()
    (logical_id,) = tpl.resources(template, "AWS::DynamoDB::Table")
    dynamodb.create_table(**tpl.table_definition(template, logical_id, "served"))
    try:
        yield dynamodb
    finally:
        dynamodb.delete_table(TableName="served")
        server.stop()


def test_the_stream_poller_passes_over_filtered_records_and_delivers_the_rest(served):
    put = lambda pk, sk: served.put_item(TableName="served", Item={"pk": {"S": pk}, "sk": {"S": sk}})  # noqa: E731
    consumer = Consumer()
    arn = served.describe_table(TableName="served")["Table"]["LatestStreamArn"]
    source = StreamSource(arn, "Outbox", batch_size=2, filters=[EVENT], on_failure_url=None)
    put("RUN#1", "RUN")
    put("RUN#2", "RUN")
    assert consumer._poll_stream(source) == 0
    assert source.iterators == {}  # nothing read: the peek showed nothing for the function
    for n in range(3, 8):
        put(f"RUN#{n}", "RUN")  # batches of two the filters drop whole, then an event
    put("A", "EVT#1")
    put("RUN#8", "RUN")
    put("B", "EVT#2")
    assert consumer._poll_stream(source) == 1
    assert consumer._poll_stream(source) == 1
    assert consumer._poll_stream(source) == 0
    assert consumer.delivered == [["A"], ["B"]]
    assert source.read_up_to == len(aws.stream_records(arn)) == 10


class FailingConsumer(Consumer):
    """A stream consumer that fails every batch, on the stack's clock."""

    def __init__(self, clock) -> None:
        super().__init__()
        self.clock = clock

    def invoke(self, fid, event):
        raise RuntimeError("the relay cannot reach SQS")


def test_a_stream_batch_given_up_on_goes_to_the_dlq_as_lambda_describes_it(served):
    from datetime import UTC, datetime

    from billing.adapters.clock import FixedClock
    from billing.services import outbox

    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="relay-dlq")["QueueUrl"]
    arn = served.describe_table(TableName="served")["Table"]["LatestStreamArn"]
    source = StreamSource(arn, "Outbox", batch_size=10, filters=[EVENT], on_failure_url=dlq)
    served.put_item(TableName="served", Item={"pk": {"S": "A"}, "sk": {"S": "EVT#1"}})
    at = datetime(2026, 12, 31, 23, 58, tzinfo=UTC)
    FailingConsumer(FixedClock(at))._poll_stream(source)
    [message] = sqs.receive_message(QueueUrl=dlq)["Messages"]
    failure = json.loads(message["Body"])
    sample = json.loads((Path(__file__).resolve().parents[2] / "events" / "outbox_relay_failure.json").read_text())
    assert (
        failure.keys() == sample.keys() and failure["DDBStreamBatchInfo"].keys() == sample["DDBStreamBatchInfo"].keys()
    )
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1 and failure["DDBStreamBatchInfo"]["streamArn"] == arn
    since, until = outbox.failed_batch_window(failure)  # what the replay reads
    assert since < at < until
