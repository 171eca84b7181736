"""EventBridge Scheduler (daily) -> the invoices needing attention today fanned out to the dunning queue."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.actor import acting_as_job
from billing.observability import business_event, logger, metrics, tracer
from billing.services import dunning_sweep
from billing.services.scheduled import ScheduledRun


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("dunning_sweep")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    run = ScheduledRun.model_validate(event)
    logger.set_correlation_id(f"{run.schedule}@{run.scheduled_time.isoformat()}")
    deps = bootstrap.deps()
    found = dunning_sweep.sweep(deps.context, deps.publisher, deps.env["DUNNING_QUEUE_URL"], run.scheduled_time)
    logger.info("dunning sweep", extra={"scheduled_time": run.scheduled_time.isoformat(), "fanned_out": found})
    if found:
        business_event("InvoicesNeedingAttention", found)
    return {"scheduled_time": run.scheduled_time.isoformat(), "duplicate": found is None, "fanned_out": found or 0}
