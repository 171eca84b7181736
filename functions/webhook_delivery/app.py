"""SQS (domain events and webhook attempts) -> tenant webhook endpoints, signed per Standard Webhooks."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.observability import logger, metrics, tracer
from billing.services import webhook_delivery

processor = backoff.sqs_processor()


def deliver(record: SQSRecord) -> None:
    deps = bootstrap.deps()
    outcome = webhook_delivery.handle(deps.context, deps.webhooks, deps.webhook_sender, record.body)
    logger.info("webhook message", extra={"message_id": record.message_id, "outcome": outcome})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("webhook_delivery")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, deliver, processor, context)
