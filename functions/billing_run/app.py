"""EventBridge Scheduler (hourly) -> the billing run started: its record (the scheduled time is its idempotency key)
and one page message per billing shard to the page queue (functions/billing_pages fans the pages out)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.actor import acting_as_job
from billing.observability import logger, metrics, tracer
from billing.services import billing_run
from billing.services.scheduled import ScheduledRun


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("billing_run")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    run = ScheduledRun.model_validate(event)
    logger.set_correlation_id(f"{run.schedule}@{run.scheduled_time.isoformat()}")
    deps = bootstrap.deps()
    shards = billing_run.start(deps.context, deps.publisher, deps.env["BILLING_PAGE_QUEUE_URL"], run.scheduled_time)
    logger.info("billing run started", extra={"scheduled_time": run.scheduled_time.isoformat(), "shards": shards})
    return {"scheduled_time": run.scheduled_time.isoformat(), "duplicate": shards is None, "shards": shards or 0}
