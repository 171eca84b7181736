"""SQS (invoices needing attention) -> the dunning steps whose day has come, each exactly once."""

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.base_model import BaseModel
from billing.observability import logger, metrics, tracer
from billing.services import dunning


class InvoiceNeedingAttention(BaseModel):
    tenant_id: str
    invoice_id: str


class DunningRecord(SqsRecordModel):
    body: Json[InvoiceNeedingAttention]  # type: ignore[assignment]


processor = backoff.sqs_processor(DunningRecord)


def advance(record: DunningRecord) -> None:
    logger.set_correlation_id(record.body.invoice_id)
    deps = bootstrap.deps()
    done = dunning.advance(deps.context, deps.stripe, record.body.tenant_id, record.body.invoice_id)
    logger.info("dunning", extra={"invoice_id": record.body.invoice_id, "done": done})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("dunning_worker")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, advance, processor, context)
