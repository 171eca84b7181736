"""Reference for an SQS worker on the batch processor with its SQSRecord data class whose record handler parses
the body with a pydantic model (as notifier, collector, webhook_delivery, document_renderer and email_feedback
parse a ``DomainEvent``): ``bench.bare.sqs_batch`` plus pydantic and one model, nothing of ours."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field


class Body(BaseModel):
    id: str
    tenant_id: str
    data: dict = Field(default_factory=dict)


logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    logger.info("record", extra={"id": Body.model_validate_json(record.body).id})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
