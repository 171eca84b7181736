"""The embedded AWS: moto in server mode on 127.0.0.1, and the resources template.yaml declares, created in it.

DynamoDB requests are served one at a time, as DynamoDB makes each request atomic: moto's backends are not
thread-safe, and an interleaved conditional write would let through what DynamoDB refuses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

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


class MotoServer(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


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


def sent_emails() -> list[dict[str, Any]]:
    """What the local SES has sent (moto keeps the HTML part)."""
    from moto.ses.models import ses_backends

    messages = ses_backends[ACCOUNT][REGION].sent_messages
    return [
        {
            "id": m.id,
            "from": m.source,
            "to": m.destinations.get("ToAddresses", []),
            "subject": m.subject,
            "html": m.body,
        }
        for m in messages
        if hasattr(m, "subject")
    ]
