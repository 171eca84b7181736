"""SQS (domain events) -> customer emails through SES, in the customer's language."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.events import DomainEvent
from billing.observability import business_event, logger, metrics, tracer
from billing.services import notifications

processor = backoff.sqs_processor()


def send_for(record: SQSRecord) -> None:
    event = DomainEvent.model_validate_json(record.body)
    logger.set_correlation_id(event.id)  # the domain event id follows the event through relay and notifier
    deps = bootstrap.deps()
    message_id = notifications.notify(deps.context, deps.mailer, event)
    logger.info("notified", extra={"event_type": event.type, "event_id": event.id, "ses_message_id": message_id})
    if message_id:
        business_event("EmailSent")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("notifier")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, send_for, processor, context)
