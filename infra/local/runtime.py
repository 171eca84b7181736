"""The local runtime: template.yaml's functions, wired to their triggers on the embedded AWS, in one process.

- HTTP API routes -> the API handler, as API Gateway (payload 2.0) would call it;
- SQS queues and the DynamoDB stream -> their consumers, with the batch sizes, filters and partial-batch
  failure handling the template declares;
- ScheduleV2 schedules -> their targets, fired by a clock that can start at any instant and be moved forward:
  moving it replays every fire time in between, in order, and lets the queues settle after each, so a month plays
  out in seconds. Every fire time happens once, whether reached by moving the clock or by real time passing.

One invocation at a time, like one warm container per function; nothing here is wired by hand: every route,
queue, filter and schedule comes from the template.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import logging
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from infra.local import aws, patterns, schedules
from infra.local import template as tpl

log = logging.getLogger("local")
MAX_ADVANCE_DAYS = 800  # how far one move of the clock may go, and how far ahead a schedule's next fire is looked for
# A GET answers without a business metric; Powertools warns about every such empty flush.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{aws.REGION}:{aws.ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Route:
    method: str
    path: str  # template path, e.g. /v1/{proxy+}
    regex: re.Pattern[str]
    function: str


@dataclass
class QueueSource:
    queue_url: str
    function: str
    batch_size: int
    queue_arn: str


@dataclass
class StreamSource:
    stream_arn: str
    function: str
    batch_size: int
    filters: list[dict[str, Any]]
    on_failure_url: str | None
    iterators: dict[str, str] = field(default_factory=dict)
    read_up_to: int = 0  # the stream's records before this one need no delivery (read, or filtered out)

    def passes(self, record: dict[str, Any]) -> bool:
        """Whether the mapping's FilterCriteria let ``record`` through to the function (no filters: all do)."""
        return not self.filters or any(patterns.matches(f, record) for f in self.filters)


@dataclass
class ScheduledTarget:
    name: str
    schedule: schedules.Schedule
    function: str
    input: str
    anchor: datetime


def _route_regex(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{pattern}\\Z", re.DOTALL)  # any character in a segment, an encoded line feed too


class LocalRuntime:
    def __init__(self, state_dir: Path, stage: str = "local") -> None:
        self.state_dir = state_dir
        self.log_file: Any = None
        self.stage = stage
        self.template = tpl.load()
        self.functions = {f.logical_id: f for f in tpl.functions(self.template)}
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.deps: dict[str, Any] = {}
        self.routes: list[Route] = []
        self.queues: list[QueueSource] = []
        self.streams: list[StreamSource] = []
        self.scheduled: list[ScheduledTarget] = []
        self.invoke_lock = threading.RLock()
        self.clock_lock = threading.Lock()  # taken before drain_lock, never after it
        self.drain_lock = threading.RLock()
        self.moto: aws.MotoServer | None = None
        self.provisioned: aws.Provisioned | None = None
        self.invocations: dict[str, int] = {}

    # --- start ----------------------------------------------------------------------------------------------
    def start(
        self,
        aws_port: int = 0,
        env: dict[str, str] | None = None,
        parameters: dict[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Start moto, create the template's resources and the SSM ``parameters`` (SecureStrings: the secrets an
        operator would put), then wire the functions with ``env`` added to their environment. The stack's clock
        starts at ``at`` (default: now) and runs on from there."""
        from billing.adapters.clock import OffsetFileClock

        self.state_dir.mkdir(parents=True, exist_ok=True)
        clock_file = self.state_dir / "clock.json"
        clock_file.unlink(missing_ok=True)
        self.clock = OffsetFileClock(clock_file)
        if at is not None:
            self.clock.set(at)
        self.delayed = aws.DelayedMessages(self.clock)
        aws.lighten_moto()
        self.moto = aws.MotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            AWS_DEFAULT_REGION=aws.REGION,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            BILLING_CLOCK_FILE=str(clock_file),
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        aws.connect_in_process(self.moto, self.aws_endpoint)
        os.environ.update(env or {})
        self.provisioned = aws.provision(self.template, self.stage)
        if feedback := self.provisioned.queue_urls.get("EmailFeedbackQueue"):
            aws.SesMailboxSimulator(feedback, self.clock).register(boto3.DEFAULT_SESSION)
        self.delayed.register(boto3.DEFAULT_SESSION)  # before any function's client is made: they copy the hooks
        ssm = boto3.client("ssm")
        for name, value in (parameters or {}).items():
            ssm.put_parameter(
                Name=name.replace("${Stage}", self.stage), Value=value, Type="SecureString", Overwrite=True
            )
        self._wire()

    @property
    def aws_endpoint(self) -> str:
        return os.environ["AWS_ENDPOINT_URL"]

    def _env(self, function: tpl.Function) -> dict[str, str]:
        assert self.provisioned is not None
        resolved = tpl.resolve(function.environment, self.provisioned.refs, self.provisioned.attrs)
        return {k: str(v) for k, v in resolved.items()}

    def _wire(self) -> None:
        from billing import bootstrap

        assert self.provisioned is not None
        envs = {fid: self._env(f) for fid, f in self.functions.items()}
        for env in envs.values():  # Powertools reads its settings at import: give every function's
            os.environ.update(env)  # (they agree on the names they share)
        # What the functions print (structured logs, EMF metrics) goes where CloudWatch would be: a log file.
        self.log_file = open(self.state_dir / "functions.log", "a", buffering=1)  # noqa: SIM115
        for fid, function in self.functions.items():
            module = importlib.import_module(function.module)
            self.handlers[fid] = getattr(module, function.handler)
            self.deps[fid] = bootstrap.Deps(env={**os.environ, **envs[fid]})
            for name, event in function.events.items():
                self._wire_event(fid, name, event)
        self.fired_until = self.clock.now()  # schedules fire from the stack's start on
        for handler in logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "billing")).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self.log_file)

    def _wire_event(self, fid: str, name: str, event: dict[str, Any]) -> None:
        assert self.provisioned is not None
        props = tpl.resolve(event.get("Properties", {}), self.provisioned.refs, self.provisioned.attrs)
        kind = event["Type"]
        if kind == "HttpApi":
            self.routes.append(Route(props["Method"].upper(), props["Path"], _route_regex(props["Path"]), fid))
        elif kind == "SQS":
            arn = props["Queue"]
            url = next(u for q, u in self.provisioned.queue_urls.items() if self.provisioned.attrs[(q, "Arn")] == arn)
            self.queues.append(QueueSource(url, fid, int(props.get("BatchSize", 10)), arn))
        elif kind == "DynamoDB":
            filters = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
            dest = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            dest_url = next(
                (u for q, u in self.provisioned.queue_urls.items() if self.provisioned.attrs[(q, "Arn")] == dest),
                None,
            )
            self.streams.append(StreamSource(props["Stream"], fid, int(props.get("BatchSize", 100)), filters, dest_url))
        elif kind in ("ScheduleV2", "Schedule"):
            self.scheduled.append(
                ScheduledTarget(
                    props.get("Name", name),
                    schedules.Schedule(props["ScheduleExpression"]),
                    fid,
                    props.get("Input", "{}"),
                    self.clock.now(),  # a rate counts from when the schedule was made, on the stack's clock
                )
            )
        else:
            raise ValueError(f"{fid}: the local runtime does not know event type {kind}")

    # --- invoke ---------------------------------------------------------------------------------------------
    def invoke(self, fid: str, event: dict[str, Any]) -> Any:
        from billing import bootstrap

        with self.invoke_lock, contextlib.redirect_stdout(self.log_file):
            bootstrap.use(self.deps[fid])
            self.invocations[fid] = self.invocations.get(fid, 0) + 1
            return self.handlers[fid](event, LambdaContext(function_name=f"billing-{self.stage}-{fid}"))

    # --- HTTP -----------------------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method in (method, "ANY") and (m := route.regex.match(path)):
                return route, m.groupdict()
        return None

    def http_event(
        self,
        route: Route,
        params: dict[str, str],
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        source_ip: str,
    ) -> dict[str, Any]:
        lowered: dict[str, str] = {}
        for k, v in headers.items():
            lowered[k.lower()] = f"{lowered[k.lower()]},{v}" if k.lower() in lowered else v
        content_type = lowered.get("content-type", "")
        textual = not body or content_type.startswith(("text/", "application/json", "application/x-www-form"))
        if textual and body:
            try:
                body.decode()
            except UnicodeDecodeError:  # API Gateway passes bytes it cannot read as text base64-encoded
                textual = False
        qs: dict[str, str] = {}
        for pair in filter(None, query.split("&")):
            from urllib.parse import unquote_plus

            k, _, v = pair.partition("=")
            k, v = unquote_plus(k), unquote_plus(v)
            qs[k] = f"{qs[k]},{v}" if k in qs else v
        now = self.clock.now()
        route_key = f"{route.method} {route.path}"
        return {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": lowered,
            "queryStringParameters": qs or None,
            "pathParameters": params or None,
            "requestContext": {
                "accountId": aws.ACCOUNT,
                "apiId": "local",
                "domainName": lowered.get("host", "127.0.0.1"),
                "domainPrefix": "local",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": lowered.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "body": (body.decode() if textual else base64.b64encode(body).decode()) if body else None,
            "isBase64Encoded": not textual,
        }

    # --- queues and streams ---------------------------------------------------------------------------------
    def _client(self, service: str) -> Any:
        """One boto3 client per service for the pollers: making one costs more than a poll (clients are
        thread-safe)."""
        clients = self.__dict__.setdefault("_clients", {})
        if service not in clients:
            clients[service] = boto3.client(service)
        return clients[service]

    def drain(self, rounds: int = 1000) -> int:
        """Deliver queued messages and stream records until nothing is left to deliver; how many were handled.

        One drain at a time: a caller (``POST /_local/drain``, a move of the clock) waits for the serve mode's
        background drain to finish the messages it has taken, so that when it returns nothing is half-done."""
        handled = 0
        with self.drain_lock:
            for _ in range(rounds):
                moved = sum(self._poll_stream(s) for s in self.streams) + sum(self._poll_queue(q) for q in self.queues)
                handled += moved
                if not moved:
                    return handled
        return handled

    def _poll_queue(self, source: QueueSource) -> int:
        if aws.visible_messages(source.queue_url) == 0:
            return 0
        sqs = self._client("sqs")
        answer = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(10, source.batch_size),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": aws.REGION,
            }
            for m in messages
        ]
        try:
            result = self.invoke(source.function, {"Records": records}) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            log.exception("%s failed on a batch of %d", source.function, len(records))
            failed = {r["messageId"] for r in records}
        done = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
            for n, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=done)
        if failed:
            log.warning(
                "%s: %d message(s) failed; they return after the visibility timeout", source.function, len(failed)
            )
        return len(done)

    def _poll_stream(self, source: StreamSource) -> int:
        """Deliver the next batch of the stream's records that pass the filters. As Lambda's event source mapping
        does, records the filters drop are consumed without an invocation; when the peek shows that every new
        record is such, they are passed over without reading them (an hourly run's record, a month of them)."""
        new = aws.stream_records(source.stream_arn, start=source.read_up_to)
        if new is not None:
            if not new:
                return 0
            if not any(source.passes(r) for r in new):
                source.read_up_to += len(new)
                return 0
        streams = self._client("dynamodbstreams")
        if not source.iterators:
            shards = streams.describe_stream(StreamArn=source.stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                source.iterators[shard["ShardId"]] = streams.get_shard_iterator(
                    StreamArn=source.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        handled = 0
        for shard, iterator in list(source.iterators.items()):
            while True:  # read on over batches the filters drop whole
                answer = streams.get_records(ShardIterator=iterator, Limit=source.batch_size)
                iterator = source.iterators[shard] = answer.get("NextShardIterator", iterator)
                fetched = answer.get("Records", [])
                records = [{**r, "eventSourceARN": source.stream_arn} for r in fetched if source.passes(r)]
                if records:
                    self._deliver_stream_batch(source, records)
                    handled += len(records)
                    break
                if not fetched:
                    break
        if not handled and new is not None:
            source.read_up_to += len(new)
        return handled

    def _deliver_stream_batch(self, source: StreamSource, records: list[dict[str, Any]], attempts: int = 3) -> None:
        for _ in range(attempts):
            try:
                result = self.invoke(source.function, {"Records": records}) or {}
            except Exception:
                log.exception("%s failed on a stream batch", source.function)
                continue
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            if not failed:
                return
            first = min(failed)  # a stream retries from the first failed sequence number
            records = [r for r in records if r["dynamodb"]["SequenceNumber"] >= first]
        if source.on_failure_url:  # what Lambda sends: the batch's place in the stream, not its records
            self._client("sqs").send_message(
                QueueUrl=source.on_failure_url, MessageBody=json.dumps(self._failed_batch(source, records))
            )
        log.error("%s: %d stream record(s) sent to the on-failure destination", source.function, len(records))

    def _failed_batch(self, source: StreamSource, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Lambda's on-failure record of a stream batch (``DDBStreamBatchInfo``), arrival times on the stack's
        clock."""
        arrived = self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
            "responseContext": {"functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": arrived,
            "DDBStreamBatchInfo": {
                "shardId": "shardId-local",
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrived,
                "approximateArrivalOfLastRecord": arrived,
                "batchSize": len(records),
                "streamArn": source.stream_arn,
            },
        }

    # --- clock and schedules --------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def schedule(self, name: str) -> ScheduledTarget:
        """A schedule by its template name (``billing-local-dunning-sweep``) or its name in the stage
        (``dunning-sweep``)."""
        for target in self.scheduled:
            if name in (target.name, target.name.removeprefix(f"billing-{self.stage}-")):
                return target
        raise KeyError(name)

    def next_fire(self, name: str, after: datetime) -> datetime:
        """The first fire time of schedule ``name`` later than ``after``."""
        target = self.schedule(name)
        horizon = after + timedelta(days=MAX_ADVANCE_DAYS)
        for when in target.schedule.fire_times(after, horizon, target.anchor):
            return when
        raise ValueError(f"{target.name} does not fire within {MAX_ADVANCE_DAYS} days after {after.isoformat()}")

    def advance_to(self, instant: datetime) -> list[dict[str, Any]]:
        """Move the clock forward to ``instant``, firing every schedule that falls due on the way, in order, each
        with the clock at its fire time and the queues settled before the next."""
        with self.clock_lock:
            self.drain()
            fired = self._fire_due(instant, move_clock=True)
            if instant > self.clock.now():  # (real time may have passed it meanwhile: the clock never goes back)
                self.clock.advance(instant - self.clock.now())
            self.drain()
        return fired

    def advance(self, by: timedelta) -> list[dict[str, Any]]:
        return self.advance_to(self.clock.now() + by)

    def _fire_due(self, until: datetime, move_clock: bool) -> list[dict[str, Any]]:
        """Fire, in order, every fire time after the last one fired and up to ``until``: whether time got there by
        moving the clock or by passing, each fire time fires once. Called with the clock lock held."""
        due = sorted(
            ((t, s) for s in self.scheduled for t in s.schedule.fire_times(self.fired_until, until, s.anchor)),
            key=lambda pair: pair[0],
        )
        fired = []
        for when, target in due:
            self._release_delayed(when, move_clock)
            if move_clock and when > self.clock.now():
                self.clock.advance(when - self.clock.now())
            fired.append(self.fire(target, when))
            self.fired_until = when
            self.drain()
        self._release_delayed(until, move_clock)
        self.fired_until = max(self.fired_until, until)
        return fired

    def _release_delayed(self, until: datetime, move_clock: bool) -> None:
        """Send, in order, every held delayed message due by ``until`` (aws.DelayedMessages), each with the clock
        at its due instant and the queues settled before the next; what they cause may hold more, due sooner."""
        delayed = getattr(self, "delayed", None)
        while delayed is not None and (due := delayed.next_due()) is not None and due <= until:
            if due > self.clock.now():
                if not move_clock:
                    return
                self.clock.advance(due - self.clock.now())
            self._client("sqs").send_message(**delayed.pop())
            self.drain()

    def fire(self, target: ScheduledTarget, when: datetime) -> dict[str, Any]:
        scheduled = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        payload = json.loads(target.input.replace("<aws.scheduler.scheduled-time>", scheduled))
        result = self.invoke(target.function, payload)
        return {"schedule": target.name, "scheduled_time": scheduled, "result": result}

    def run_background(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Serve mode: deliver messages as they arrive and fire schedules as the stack's time passes."""
        while not stop.is_set():
            try:
                self.drain()
                with self.clock_lock:
                    self._fire_due(self.clock.now(), move_clock=False)
            except Exception:
                log.exception("background delivery failed")
            time.sleep(interval)

    def stop(self) -> None:
        if self.moto:
            self.moto.stop()
        if self.log_file:
            self.log_file.close()
