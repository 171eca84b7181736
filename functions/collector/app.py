"""SQS (finalized and voided invoices) -> charge_automatically invoices charged off session, once; a voided
invoice's PaymentIntents still open at Stripe canceled."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.events import DomainEvent
from billing.observability import logger, metrics, tracer
from billing.services import payments

processor = backoff.sqs_processor()


def charge(record: SQSRecord) -> None:
    event = DomainEvent.model_validate_json(record.body)
    logger.set_correlation_id(event.id)
    deps = bootstrap.deps()
    if event.type == "invoice.voided":
        payments.cancel_voided(deps.context, lambda: deps.stripe, event.tenant_id, event.aggregate_id)
        logger.info("voided invoice's payment intents closed", extra={"invoice_id": event.aggregate_id})
        return
    invoice = deps.context.repo.invoice(event.tenant_id, event.aggregate_id)
    if invoice.collection_method != "charge_automatically":
        return
    payment = payments.collect(deps.context, deps.stripe, event.tenant_id, invoice.id, "finalized")
    logger.info(
        "charged",
        extra={"invoice_id": invoice.id, "payment_id": payment and payment.id, "status": payment and payment.status},
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("collector")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, charge, processor, context)
