"""SQS (recorded Stripe events) -> applied to payments, invoices and customers, idempotently, in any order."""

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting, acting_as_job
from billing.domain.base_model import BaseModel
from billing.observability import logger, metrics, tracer
from billing.services import stripe_events


class RecordedEvent(BaseModel):
    tenant_id: str
    event_id: str


class RecordedEventRecord(SqsRecordModel):
    body: Json[RecordedEvent]  # type: ignore[assignment]


processor = backoff.sqs_processor(RecordedEventRecord)


def apply(record: RecordedEventRecord) -> None:
    logger.set_correlation_id(record.body.event_id)
    deps = bootstrap.deps()
    with acting("stripe_event", record.body.event_id):
        outcome = stripe_events.process(deps.context, deps.stripe, record.body.tenant_id, record.body.event_id)
    logger.info("Stripe event", extra={"event_id": record.body.event_id, "outcome": outcome})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("stripe_events")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, apply, processor, context)
