"""Reference for a DynamoDB-stream worker on the batch processor whose record handler parses a document of the new
image with a pydantic model (as outbox_relay parses a ``DomainEvent``): ``bench.bare.stream_batch`` plus pydantic
and one model, nothing of ours."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field


class Doc(BaseModel):
    id: str
    type: str
    data: dict = Field(default_factory=dict)


logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    logger.info("record", extra={"id": Doc.model_validate_json(image["doc"]).id})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
