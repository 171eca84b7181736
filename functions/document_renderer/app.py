"""SQS (invoice.finalized, credit_note.issued) -> each document rendered to PDF once, stored in the documents bucket."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.events import DomainEvent
from billing.observability import logger, metrics, tracer
from billing.services import documents

processor = backoff.sqs_processor()


def render_for(record: SQSRecord) -> None:
    event = DomainEvent.model_validate_json(record.body)
    logger.set_correlation_id(event.id)
    deps = bootstrap.deps()
    key = documents.render_for(deps.context, deps.documents, event, deps.env.get("PUBLIC_BASE_URL"))
    logger.info("document ready", extra={"event_type": event.type, "event_id": event.id, "key": key})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("document_renderer")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, render_for, processor, context)
