"""The embedded AWS: moto in server mode on 127.0.0.1, and the resources template.yaml declares, created in it.

DynamoDB requests are served one at a time, as DynamoDB makes each request atomic: moto's backends are not
thread-safe, and an interleaved conditional write would let through what DynamoDB refuses.

The functions and pollers of the runtime live in the same process as moto: their requests skip the socket and the
HTTP round trip (``InProcessTransport``) and reach moto's app directly, with the same bytes and the same lock (a
DynamoDB request goes straight to moto's DynamoDB handler). Every other client (a storefront, the tests, the AWS
CLI) talks to the same server over HTTP. ``lighten_moto`` makes moto's DynamoDB give its answers at less cost.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import heapq
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto import backends as moto_backends
from moto.core import responses as moto_responses
from moto.core.request import normalize_request
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
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


def _all_items(table: Table) -> Iterator[Any]:
    for partition in table.items.values():
        yield from (partition.values() if table.range_key_attr else [partition])


def _items_by(table: Table, name: str) -> dict[tuple[str, Any], list[Any]]:
    """The table's items grouped by their value of attribute ``name``, made once per state of the table: every
    write to a table with a stream adds a record to it, so the stream's length tells the state (a failed
    transaction puts back both)."""
    version = len(table.stream_shard.items) if table.stream_shard is not None else None
    cached = table.__dict__.setdefault("local_items_by", {}).get(name)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    groups: dict[tuple[str, Any], list[Any]] = {}
    for item in _all_items(table):
        if (value := item.attrs.get(name)) is not None and value.type in ("S", "B"):
            groups.setdefault((value.type, value.value), []).append(item)
    table.local_items_by[name] = (version, groups)
    return groups


def _candidates(table: Table, hash_key_conditions: list[tuple[str, Any]] | None) -> list[Any]:
    """The items a Query can match: those whose key attributes equal its partition key values, as they are."""
    if not hash_key_conditions or hash_key_conditions[0][1].type not in ("S", "B"):
        return list(_all_items(table))
    (name, value), *others = hash_key_conditions
    items = _items_by(table, name).get((value.type, value.value), [])
    return [item for item in items if all(item.attrs.get(n) == v for n, v in others)]


_answering = threading.local()


def query_without_sorting_the_table() -> None:
    """moto answers a Query by listing every item of the table sorted by key (``Table.all_items``), then keeps the
    partition's items and sorts those again; DynamoDB reads one partition. The first sort, and moto's slower checks
    on items of other partitions, are most of a month's moves on the local stack (every hourly billing run queries
    8 index partitions as the table grows), and do not change the answer: moto checks and sorts the partition's
    items on its own. So the stack's Queries start from the partition's items, as they are. Scans keep moto's
    sorted order (their pages depend on it). In this process only, for moto 5.2.5.

    The Query being answered is this thread's (``_answering``): the server answers requests in threads, and one
    request may run several Queries at once (a sharded listing), while a Scan in another thread keeps moto's order."""
    if getattr(Table.query, "local_unsorted", False):
        return
    sorted_query, sorted_all_items = Table.query, Table.all_items

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        before = getattr(_answering, "query", None)
        _answering.query = (self, kwargs.get("hash_key_conditions"))
        try:
            return sorted_query(self, *args, **kwargs)
        finally:
            _answering.query = before

    def all_items(self: Table) -> Any:
        answering = getattr(_answering, "query", None)
        if answering is not None and answering[0] is self:
            return _candidates(self, answering[1])
        return sorted_all_items(self)

    query.local_unsorted = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


class _CopyAllButTables:
    """``copy`` for moto's DynamoDB backend, whose transactions deep-copy every table they touch before writing, to
    put the copy back if one write fails: a copy of the whole table per transaction, the longer the table the
    slower. Here a table is not copied; ``transactions_restore_what_they_touch`` keeps what a rollback needs."""

    @staticmethod
    def deepcopy(x: Any, memo: Any = None) -> Any:
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)


class _Touched:
    """What a transaction may change in moto's tables (each item it names, each stream's length), to put back."""

    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        self.items: list[tuple[Table, Any, Any, Any]] = []
        self.streams: list[tuple[Any, int]] = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                if table is None:
                    continue
                key = op.get("Item") if op_type == "Put" else op.get("Key")
                try:
                    hash_value = DynamoType(key[table.hash_key_attr])
                    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                except (KeyError, TypeError):
                    continue  # moto refuses this one before it writes anything
                before = copy.deepcopy(table.get_item(hash_value, range_value))
                self.items.append((table, hash_value, range_value, before))
                if table.stream_shard is not None and all(table is not t for t, _ in self.streams):
                    self.streams.append((table, len(table.stream_shard.items)))

    def restore(self) -> None:
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before
            elif before is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items.setdefault(hash_value, {})[range_value] = before
        for table, length in self.streams:
            del table.stream_shard.items[length:]


def transactions_restore_what_they_touch() -> None:
    """A TransactWriteItems that fails puts back the items it names and the streams' records, instead of moto's
    copy of each whole table taken before every transaction: the same outcome, at the cost of the transaction's own
    items. In this process only, for moto 5.2.5."""
    if getattr(DynamoDBBackend.transact_write_items, "local_restore", False):
        return
    whole_table_copy = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        touched = _Touched(self, transact_items)
        try:
            return whole_table_copy(self, transact_items)
        except Exception:
            touched.restore()
            raise

    transact_write_items.local_restore = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    dynamodb_models.copy = _CopyAllButTables  # type: ignore[assignment]


def action_names_looked_up_once() -> None:
    """moto finds which method answers a request by listing its response class's functions (``inspect``), on every
    request; a class's functions do not change, so the list is made once per class."""
    if hasattr(moto_responses.method_names_from_class, "cache_info"):
        return
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)


def moto_modules_listed_once() -> None:
    """moto's server finds the service of a request (any but DynamoDB's, which goes straight to its handler) among
    its own packages by listing its directory and asking the file system whether each entry is a directory, on every
    request (about 160 stat calls); the packages do not change, so the list is made once."""
    if isinstance(moto_backends.list_of_moto_modules(), tuple):
        return
    modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


def lighten_moto() -> None:
    """The local stack's shortcuts in moto, each giving moto's answers at less cost (above)."""
    query_without_sorting_the_table()
    transactions_restore_what_they_touch()
    action_names_looked_up_once()
    moto_modules_listed_once()


class MotoServer(ThreadedMotoServer):
    app: _SerializedApp

    def _server_entry(self) -> None:
        self.app = app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class _Body(io.BytesIO):
    """An answer's body as botocore reads it: whole (``stream``), or a streamed one such as GetObject's (``read``)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class InProcessTransport:
    """A botocore ``before-send`` handler: a request for the embedded moto at ``endpoint`` is answered by its WSGI
    app in this process (DynamoDB's by moto's DynamoDB handler, as moto's own in-process mock does, skipping the
    WSGI app's routing); any other request goes on over the network as usual."""

    def __init__(self, app: Any, endpoint: str) -> None:
        self.app = app
        self.endpoint = endpoint.rstrip("/")

    def __call__(self, request: AWSPreparedRequest, event_name: str = "", **_: Any) -> AWSResponse | None:
        url = urlsplit(request.url)
        if f"{url.scheme}://{url.netloc}" != self.endpoint:
            return None
        if event_name.startswith("before-send.dynamodb."):
            return self._dynamodb(request)
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

    def _dynamodb(self, request: AWSPreparedRequest) -> AWSResponse:
        with self.app.lock:
            status, headers, body = DynamoHandler.dispatch(normalize_request(request), request.url, request.headers)
        if isinstance(body, str):
            body = body.encode()
        return AWSResponse(request.url, status, dict(headers), _Body(body))


class SesMailboxSimulator:
    """SES's mailbox simulator, locally: an email to ``bounce@simulator.amazonses.com`` comes back as a hard bounce
    and one to ``complaint@simulator.amazonses.com`` as a complaint, through the configuration set's event
    destination (the feedback queue, raw delivery), tags and all, as SES reports them. moto keeps neither the
    configuration set nor the tags of an email: the simulator reads them from the request."""

    OUTCOMES = {"bounce@simulator.amazonses.com": "Bounce", "complaint@simulator.amazonses.com": "Complaint"}

    def __init__(self, feedback_queue_url: str, clock: Any) -> None:
        self.queue_url, self.clock = feedback_queue_url, clock

    def register(self, session: Any) -> None:
        session.events.register("before-parameter-build.ses.SendEmail", self.before_call)
        session.events.register("after-call.ses.SendEmail", self.after_call)

    def before_call(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["ses_request"] = params

    def after_call(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        request = context.get("ses_request") or {}
        if not request.get("ConfigurationSetName") or "MessageId" not in parsed:
            return  # no configuration set: SES would publish nothing
        for address in request.get("Destination", {}).get("ToAddresses", []):
            if kind := self.OUTCOMES.get(address.lower()):
                note = self.notification(kind, address, parsed["MessageId"], request)
                boto3.client("sqs", region_name=REGION).send_message(QueueUrl=self.queue_url, MessageBody=note)

    def notification(self, kind: str, address: str, message_id: str, request: dict[str, Any]) -> str:
        at = self.clock.now().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        tags = {"ses:configuration-set": [request["ConfigurationSetName"]]}
        tags |= {tag["Name"]: [tag["Value"]] for tag in request.get("Tags", [])}
        recipient = {"emailAddress": address}
        detail: dict[str, Any] = (
            {
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [
                        {
                            **recipient,
                            "action": "failed",
                            "status": "5.1.1",
                            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                        }
                    ],
                    "timestamp": at,
                    "feedbackId": f"local-{message_id}",
                }
            }
            if kind == "Bounce"
            else {
                "complaint": {
                    "complainedRecipients": [recipient],
                    "timestamp": at,
                    "feedbackId": f"local-{message_id}",
                    "complaintFeedbackType": "abuse",
                }
            }
        )
        mail = {
            "timestamp": at,
            "source": request.get("Source"),
            "messageId": message_id,
            "destination": [address],
            "tags": tags,
        }
        return json.dumps({"eventType": kind, **detail, "mail": mail})


class DelayedMessages:
    """SQS's ``DelaySeconds`` on the stack's clock. moto counts a message's delay on the wall clock, so a retry due
    in 10 minutes of the stack's time would wait 10 real minutes (or, the clock moved a day, come far too early in
    the stack's time). A ``SendMessage`` with a delay is held here instead, with its due instant on the stack's
    clock, and the runtime sends it (without the delay) when its clock gets there: a move of the clock stops at each
    held message's due instant as it stops at a schedule's fire (``LocalRuntime._fire_due``)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.held: list[tuple[datetime, int, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.count = 0

    def register(self, session: Any) -> None:
        session.events.register("before-parameter-build.sqs.SendMessage", self.remember)
        session.events.register("before-call.sqs.SendMessage", self.hold)

    def remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["local_send_message"] = dict(params)

    def hold(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = context.get("local_send_message") or {}
        delay = int(params.get("DelaySeconds") or 0)
        if delay <= 0:
            return None  # sent as it is
        due = self.clock.now() + timedelta(seconds=delay)
        message = {k: v for k, v in params.items() if k != "DelaySeconds"}
        with self.lock:
            self.count += 1
            heapq.heappush(self.held, (due, self.count, message))
        body = str(message.get("MessageBody", "")).encode()
        answer = {"MessageId": f"held-{self.count}", "MD5OfMessageBody": hashlib.md5(body).hexdigest()}  # noqa: S324
        return AWSResponse(str(params.get("QueueUrl", "")), 200, {}, _Body(b"")), answer

    def next_due(self) -> datetime | None:
        with self.lock:
            return self.held[0][0] if self.held else None

    def pop(self) -> dict[str, Any]:
        """The held message due first (its ``SendMessage`` parameters, without the delay)."""
        with self.lock:
            return heapq.heappop(self.held)[2]


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
        props = template["Resources"][logical_id]["Properties"]
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            # what a table export (the analytics export) needs
            client.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
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
        if props.get("FifoQueue"):  # a FIFO queue's name ends with .fifo (CloudFormation names it so)
            name += ".fifo"
            attributes["FifoQueue"] = "true"
            for attribute in ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"):
                if attribute in props:
                    attributes[attribute] = str(props[attribute]).lower() if attribute[0] == "C" else props[attribute]
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        out.refs[logical_id] = url
        out.queue_urls[logical_id] = url
        out.attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        out.attrs[(logical_id, "QueueName")] = name
    s3 = boto3.client("s3", region_name=REGION)
    for logical_id, res in tpl.resources(template, "AWS::S3::Bucket").items():
        props = res.get("Properties", {})
        name = f"billing-{stage}-{logical_id.lower()}"
        s3.create_bucket(Bucket=name)
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        if "BucketEncryption" in props:
            rules = [  # CloudFormation's names for the S3 API's fields
                {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"], "BucketKeyEnabled": True}
                for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        out.refs[logical_id] = name
        out.attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
    events = boto3.client("events", region_name=REGION)
    for logical_id, res in tpl.resources(template, "AWS::Events::EventBus").items():
        name = tpl.resolve(res["Properties"]["Name"], out.refs, out.attrs)
        out.refs[logical_id] = name
        out.attrs[(logical_id, "Arn")] = events.create_event_bus(Name=name)["EventBusArn"]
        out.attrs[(logical_id, "Name")] = name
    ses = boto3.client("ses", region_name=REGION)
    sender = out.refs.get("EmailFrom", "billing@example.com")
    ses.verify_domain_identity(Domain=sender.rpartition("@")[2])
    for logical_id, res in tpl.resources(template, "AWS::SES::ConfigurationSet").items():
        name = tpl.resolve(res["Properties"]["Name"], out.refs, out.attrs)
        ses.create_configuration_set(ConfigurationSet={"Name": name})
        out.refs[logical_id] = name
    return out


# What the pollers may peek at without a request: whether a queue or a stream has anything for them. A drain after
# each of a month's thousand schedule fires would otherwise cost a receive per queue and a read per stream shard,
# most of them empty. ``None``: unknown, poll.
def visible_messages(queue_url: str) -> int | None:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues.get(queue_url.rstrip("/").rpartition("/")[2])
    return None if queue is None else len(queue.messages)


def stream_records(stream_arn: str, start: int = 0) -> list[dict[str, Any]] | None:
    """The records the table's stream has had from the ``start``-th on, oldest first (moto keeps one shard per
    table), in the shape GetRecords gives them (enough of it for event filter patterns)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT][REGION].tables.get(stream_arn.split(":table/", 1)[-1].split("/", 1)[0])
    shard = getattr(table, "stream_shard", None)
    return None if shard is None else [record.record for record in shard.items[start:]]


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
