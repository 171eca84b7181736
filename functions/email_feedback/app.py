"""SQS (SES bounce and complaint notifications, through SNS) -> the tenant's suppression list."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.observability import business_event, logger, metrics, tracer
from billing.services import email_feedback

processor = backoff.sqs_processor()


def take(record: SQSRecord) -> None:
    try:
        feedback = email_feedback.suppression(record.body)
    except email_feedback.NotFeedback as error:  # retrying cannot make it readable: drop it, loudly
        logger.error("not an SES notification", extra={"message_id": record.message_id, "error": str(error)})
        return
    if feedback is None:
        return
    added = email_feedback.record(bootstrap.deps().context, feedback)
    logger.info(
        "email address suppressed",
        extra={
            "tenant_id": feedback.tenant_id,
            "reason": feedback.reason,
            "ses_message_id": feedback.message_id,
            "newly_suppressed": added,
        },
    )
    if added:
        business_event("EmailAddressSuppressed")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("email_feedback")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, take, processor, context)
