"""API Gateway (public route POST /webhooks/stripe) -> verified, recorded once, enqueued; 2xx fast. SnapStart: the
clients' models are warmed before the snapshot, everything unique is renewed after a restore (billing.snapstart)."""

import base64
import binascii
import json

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap, snapstart
from billing.api.problems import problem_answer
from billing.observability import business_event, logger, metrics, tracer
from billing.services import stripe_webhooks

snapstart.enable(services=("dynamodb", "sqs"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=APIGatewayProxyEventV2)
def lambda_handler(event: APIGatewayProxyEventV2, context: LambdaContext) -> dict:
    raw = event.body or ""
    try:
        payload = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode()
    except binascii.Error:
        return problem_answer(400, "malformed_event", "the body is not valid base64")
    signature = next((v for k, v in (event.headers or {}).items() if k.lower() == "stripe-signature"), None)
    deps = bootstrap.deps()
    # Only deliveries that fail verification count against their source address: Stripe's own are never limited
    limiter, source, now = (
        deps.rate_limiter,
        event.request_context.http.source_ip or "unknown",
        deps.context.clock.now(),
    )
    if wait := limiter.blocked_for("source", source, now):
        return _too_many(wait)
    try:
        stripe_event = stripe_webhooks.verify(payload, signature, deps.webhook_secrets())
    except stripe_webhooks.InvalidWebhook as error:
        logger.warning("webhook refused", extra={"code": error.code, "detail": error.detail})
        counted = limiter.admit("source", source, now)
        return problem_answer(400, error.code, error.detail) if counted.admitted else _too_many(counted.retry_after)
    received = stripe_webhooks.receive(deps.context, stripe_event)
    if received.enqueue:
        deps.publisher.send(
            deps.env["STRIPE_EVENTS_QUEUE_URL"], [{"tenant_id": received.tenant_id, "event_id": received.event_id}]
        )
    logger.info(
        "webhook received",
        extra={
            "event_id": received.event_id,
            "event_type": received.event_type,
            "tenant_id": received.tenant_id,
            "enqueued": received.enqueue,
        },
    )
    business_event("StripeWebhookReceived")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"received": True, "id": received.event_id}),
    }


def _too_many(wait: int) -> dict:
    return problem_answer(429, "rate_limited", f"too many refused deliveries: try again in {wait} s", retry_after=wait)
