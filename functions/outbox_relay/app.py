"""DynamoDB stream (event items only, by the template's filter) -> the queues that act on each domain event.

The whole batch goes to the event bus and to the FIFO queues first (a series' drafted events together, as one
numbering message): if either refuses, the batch is retried whole (the bus's consumers dedupe on the event id, the
FIFO queue on the message's). Then each record to the other queues, a record that fails on its own."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.actor import acting_as_job
from billing.domain.events import DomainEvent
from billing.observability import business_event, logger, metrics, tracer
from billing.services import outbox

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def relay_record(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    event = DomainEvent.model_validate_json(image["doc"])
    logger.set_correlation_id(event.id)  # the domain event id follows the event through relay and notifier
    deps = bootstrap.deps()
    sent = outbox.relay([event], deps.env, deps.publisher, fifo=False)
    logger.info("relayed", extra={"event_type": event.type, "event_id": event.id, "queues": sent})
    business_event(f"DomainEvent.{event.type}")


def _events(event: dict) -> list[DomainEvent]:
    """The batch's domain events (a record that does not parse fails on its own, in ``relay_record``)."""
    found = []
    for record in event.get("Records", []):
        try:
            found.append(DomainEvent.model_validate_json(record["dynamodb"]["NewImage"]["doc"]["S"]))
        except (KeyError, TypeError, ValueError):
            continue
    return found


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("outbox_relay")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # the batch on the event bus first, ten to a request: if the bus refuses, the whole batch is retried
    events, deps = _events(event), bootstrap.deps()
    published = outbox.publish(events, deps.event_bus)
    together = outbox.relay(events, deps.env, deps.publisher, fifo=True)
    logger.info("published", extra={"events": published, "fifo_messages": together})
    return process_partial_response(event=event, record_handler=relay_record, processor=processor, context=context)
