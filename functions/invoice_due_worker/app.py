"""SQS (overdue invoices) -> each invoice marked past due, once."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from billing import bootstrap
from billing.observability import business_event, logger, metrics, tracer
from billing.services import dues


class DueInvoice(BaseModel):
    tenant_id: str
    invoice_id: str


class DueInvoiceRecord(SqsRecordModel):
    body: Json[DueInvoice]  # type: ignore[assignment]


processor = BatchProcessor(event_type=EventType.SQS, model=DueInvoiceRecord)


def mark(record: DueInvoiceRecord) -> None:
    logger.set_correlation_id(record.body.invoice_id)
    marked = dues.mark_past_due(bootstrap.deps().context, record.body.tenant_id, record.body.invoice_id)
    logger.info("invoice due", extra={"invoice_id": record.body.invoice_id, "marked_past_due": marked})
    if marked:
        business_event("InvoicePastDue")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=mark, processor=processor, context=context)
