"""The embedded AWS: moto in server mode on 127.0.0.1, and the resources template.yaml declares, created in it.

DynamoDB requests are served one at a time, as DynamoDB makes each request atomic: moto's backends are not
thread-safe, and an interleaved conditional write would let through what DynamoDB refuses.

The functions and pollers of the runtime live in the same process as moto: their requests skip the socket and the
HTTP round trip (``InProcessTransport``) and reach moto's app directly, with the same bytes and the same lock. Every
other client (a storefront, the tests, the AWS CLI) talks to the same server over HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.dynamodb.models.table import Table
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

from infra.local import template as tpl

REGION = "us-east-1"
ACCOUNT = "123456789012"


class _SerializedApp:
    """Run moto's WSGI app one request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            return list(self.app(environ, start_response))


def _unsorted_items(table: Table) -> list[Any]:
    return [
        item
        for partition in table.items.values()
        for item in (partition.values() if table.range_key_attr else [partition])
    ]


def query_without_sorting_the_table() -> None:
    """moto answers a Query by listing every item of the table sorted by key (``Table.all_items``), then keeps the
    matches and sorts those again; DynamoDB reads one partition. The first sort is most of a month's moves on the
    local stack (every hourly billing run queries 8 index partitions as the table grows), and does not change the
    answer: the matches are sorted on their own. So the stack's Queries go through the items as they are. Scans
    keep moto's sorted order (their pages depend on it). In this process only, for moto 5.2.5."""
    if getattr(Table.query, "local_unsorted", False):
        return
    sorted_query = Table.query

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        self.all_items = lambda: _unsorted_items(self)  # type: ignore[method-assign]  # this call's, not the class's
        try:
            return sorted_query(self, *args, **kwargs)
        finally:
            del self.all_items

    query.local_unsorted = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


class MotoServer(ThreadedMotoServer):
    app: _SerializedApp

    def _server_entry(self) -> None:
        self.app = app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class InProcessTransport:
    """A botocore ``before-send`` handler: a request for the embedded moto at ``endpoint`` is answered by its WSGI
    app in this process; any other request goes on over the network as usual."""

    def __init__(self, app: Any, endpoint: str) -> None:
        self.app = app
        self.endpoint = endpoint.rstrip("/")

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        url = urlsplit(request.url)
        if f"{url.scheme}://{url.netloc}" != self.endpoint:
            return None
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = [
            (k, v.decode() if isinstance(v, bytes) else v)
            for k, v in request.headers.items()
            if k.lower() != "content-length"
        ]
        environ = EnvironBuilder(
            method=request.method,
            base_url=self.endpoint,
            path=url.path or "/",
            query_string=url.query,
            headers=headers,
            data=body or b"",
        ).get_environ()
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), response_headers

        data = b"".join(self.app(environ, start_response))
        return AWSResponse(request.url, answer["status"], dict(answer["headers"]), _Body(data))


def connect_in_process(server: MotoServer, endpoint: str) -> None:
    """Route this process's boto3 clients (those made from the default session from now on) to ``server``'s app."""
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-send", InProcessTransport(server.app, endpoint))


@dataclass
class Provisioned:
    """Names of what was created, for resolving ``!Ref``/``!GetAtt`` in the functions' environment."""

    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    stream_arns: dict[str, str] = field(default_factory=dict)


def provision(template: dict[str, Any], stage: str = "local") -> Provisioned:
    out = Provisioned(refs=tpl.parameters(template))
    out.refs["Stage"] = stage
    out.refs["AWS::Region"], out.refs["AWS::AccountId"] = REGION, ACCOUNT
    for logical_id in tpl.resources(template, "AWS::DynamoDB::Table"):
        name = f"billing-{stage}-{logical_id.lower()}"
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(**tpl.table_definition(template, logical_id, name))
        desc = client.describe_table(TableName=name)["Table"]
        out.refs[logical_id] = name
        out.attrs[(logical_id, "Arn")] = desc["TableArn"]
        out.attrs[(logical_id, "StreamArn")] = desc.get("LatestStreamArn", "")
        out.stream_arns[logical_id] = desc.get("LatestStreamArn", "")
    sqs = boto3.client("sqs", region_name=REGION)
    queues = tpl.resources(template, "AWS::SQS::Queue")
    # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {})):
        props = queues[logical_id].get("Properties", {})
        attributes = {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if "RedrivePolicy" in props:
            policy = tpl.resolve(props["RedrivePolicy"], out.refs, out.attrs)
            attributes["RedrivePolicy"] = '{{"deadLetterTargetArn": "{}", "maxReceiveCount": "{}"}}'.format(
                policy["deadLetterTargetArn"], policy["maxReceiveCount"]
            )
        name = f"billing-{stage}-{logical_id}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        out.refs[logical_id] = url
        out.queue_urls[logical_id] = url
        out.attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        out.attrs[(logical_id, "QueueName")] = name
    sender = out.refs.get("EmailFrom", "billing@example.com")
    boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=sender.rpartition("@")[2])
    return out


# What the pollers may peek at without a request: whether a queue or a stream has anything for them. A drain after
# each of a month's thousand schedule fires would otherwise cost a receive per queue and a read per stream shard,
# most of them empty. ``None``: unknown, poll.
def visible_messages(queue_url: str) -> int | None:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues.get(queue_url.rstrip("/").rpartition("/")[2])
    return None if queue is None else len(queue.messages)


def stream_records(stream_arn: str) -> int | None:
    """How many records the table's stream has had (moto keeps one shard per table)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].tables.get(stream_arn.split(":table/", 1)[-1].split("/", 1)[0])
    shard = getattr(table, "stream_shard", None)
    return None if shard is None else len(shard.items)


def _mail_log() -> dict[str, dict[str, Any]]:
    """The notifier's mail log (``MAIL#`` items, one per email sent), by SES message id, with the invoice it was
    about; read from moto's backend: a local diagnostic, not a request path."""
    from boto3.dynamodb.types import TypeDeserializer
    from moto.dynamodb.models import dynamodb_backends

    deserialize = TypeDeserializer().deserialize
    logged = {}
    for table in dynamodb_backends[ACCOUNT][REGION].tables.values():
        for item in table.all_items():
            attrs = item.to_json()["Attributes"]
            if attrs.get("type") != {"S": "mail"} or "message_id" not in attrs:
                continue
            record = {k: deserialize(v) for k, v in attrs.items()}
            about = record["pk"].split("#")  # T#<tenant>#<KIND>#<id>
            logged[record["message_id"]] = {
                "kind": record.get("kind"),
                "tenant_id": about[1] if len(about) > 1 else None,
                "invoice_id": about[3] if len(about) > 3 and about[2] == "INV" else None,
                "locale": record.get("locale"),
                "sent_at": record.get("sent_at"),
            }
    return logged


def sent_emails() -> list[dict[str, Any]]:
    """What the local SES has sent (moto keeps the HTML part), in order, each with what the notifier logged of it:
    its kind (invoice_issued, payment_receipt, dunning_reminder, …), the invoice it is about and the stack's time
    it was sent at (null for an email the notifier did not log)."""
    from moto.ses.models import ses_backends

    messages = ses_backends[ACCOUNT][REGION].sent_messages
    logged = _mail_log()
    unknown = {"kind": None, "tenant_id": None, "invoice_id": None, "locale": None, "sent_at": None}
    return [
        {
            "id": m.id,
            **logged.get(m.id, unknown),
            "from": m.source,
            "to": m.destinations.get("ToAddresses", []),
            "subject": m.subject,
            "html": m.body,
        }
        for m in messages
        if hasattr(m, "subject")
    ]
