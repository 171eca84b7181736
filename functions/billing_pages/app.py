"""SQS (the billing run's pages) -> one Query page of a billing shard fanned out to the billing queue, recorded on
the run, then the shard's next page (billing.services.billing_run: resumable, a redelivered page sends nothing twice
but what the crash left unsent)."""

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.observability import logger, metrics, tracer
from billing.services import billing_run
from billing.services.billing_run import PageMessage


class PageRecord(SqsRecordModel):
    body: Json[PageMessage]  # type: ignore[assignment]


processor = backoff.sqs_processor(PageRecord)


def fan_out(record: PageRecord) -> None:
    page = record.body
    logger.set_correlation_id(f"{page.schedule}@{page.scheduled_time.isoformat()}#{page.shard}")
    deps = bootstrap.deps()
    outcome = billing_run.fan_out_page(
        deps.context,
        deps.publisher,
        deps.env["BILLING_QUEUE_URL"],
        deps.env["BILLING_PAGE_QUEUE_URL"],
        page,
        record.messageId,
        int(deps.env.get("BILLING_PAGE_SIZE") or billing_run.PAGE_SIZE),
    )
    logger.info("billing page", extra={"shard": page.shard, "page": page.page, **outcome.__dict__})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("billing_pages")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return backoff.process(bootstrap.deps().publisher.client, event, fan_out, processor, context)
