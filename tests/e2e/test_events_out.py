"""Events out on the local stack, over HTTP and the local AWS endpoint, as an AWS-native consumer sees them: a rule on
the stack's event bus sends what the storefront's calls did to a queue; the audit trail says the same."""

from __future__ import annotations

import json
import time

import boto3

from tests.e2e.conftest import Storefront

CUSTOMER = {"email": "ines@example.com", "name": "Inês", "locale": "en", "currency": "eur"}


def client(stack: dict, service: str):
    aws = stack["aws"]
    return boto3.client(
        service,
        endpoint_url=aws["endpoint_url"],
        region_name=aws["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_rule_on_the_bus_gets_the_storefronts_events_and_the_trail_names_the_key(shop: Storefront, stack):
    bus = stack["aws"]["event_bus"]
    assert bus == "billing-local"
    events, sqs = client(stack, "events"), client(stack, "sqs")
    queue = sqs.create_queue(QueueName="e2e-customer-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["billing"], "detail-type": ["customer.created"]}
    pattern["detail"] = {"tenant_id": [stack["tenant_id"]]}
    events.put_rule(Name="e2e-customers", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="e2e-customers", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    created = shop.post("/v1/customers", CUSTOMER)
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]

    delivered, deadline = [], time.monotonic() + 20
    while not delivered and time.monotonic() < deadline:  # the relay runs on the stream, a moment after the write
        # short polls: moto's long poll waits on a clock that faketime (the start-instant runs) can stall
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        delivered += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        time.sleep(0 if delivered else 0.2)
    assert [m["detail"]["object"]["id"] for m in delivered] == [customer_id]
    (message,) = delivered
    assert message["source"] == "billing" and message["detail-type"] == "customer.created"

    trail = shop.get("/v1/events", object_id=customer_id)
    assert trail.status_code == 200, trail.text
    (event,) = trail.json()["data"]
    assert event == message["detail"] | {"created": event["created"]}  # one event, by the bus and by the API
    assert event["actor"]["type"] == "api_key" and event["actor"]["id"].startswith("key_")
    (issued,) = shop.get("/v1/events", type="api_key.created").json()["data"]  # the stack made its tenant's key
    assert issued["actor"] == {"type": "admin_command", "id": "create-tenant"}
    assert shop.http.delete(f"{shop.base}/v1/events/{event['id']}", timeout=10).status_code in (404, 405)
