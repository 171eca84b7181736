"""EventBridge Scheduler (daily) -> overdue invoices fanned out to the invoice-due queue."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.observability import business_event, logger, metrics, tracer
from billing.services import dues
from billing.services.commands import ScheduledRun


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    run = ScheduledRun.model_validate(event)
    logger.set_correlation_id(f"{run.schedule}@{run.scheduled_time.isoformat()}")
    deps = bootstrap.deps()
    found = dues.sweep(deps.context, deps.publisher, deps.env["INVOICE_DUE_QUEUE_URL"], run.scheduled_time)
    logger.info("due sweep", extra={"scheduled_time": run.scheduled_time.isoformat(), "fanned_out": found})
    if found:
        business_event("OverdueInvoicesFound", found)
    return {"scheduled_time": run.scheduled_time.isoformat(), "duplicate": found is None, "fanned_out": found or 0}
