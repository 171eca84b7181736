"""Baseline of an SQS worker whose batch processor parses each record with a Powertools parser model (a
``SqsRecordModel`` with a ``Json[...]`` pydantic body: dunning_worker, stripe_events)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel


class Body(BaseModel):
    tenant_id: str
    id: str


class Record(SqsRecordModel):
    body: Json[Body]  # type: ignore[assignment]


logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, model=Record)


def record_handler(record: Record) -> None:
    logger.info("record", extra={"id": record.body.id})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
