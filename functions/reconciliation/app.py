"""EventBridge Scheduler (every 3 hours) -> Stripe's recent PaymentIntents reconciled with our payments."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.actor import acting_as_job
from billing.observability import business_event, logger, metrics, tracer
from billing.services import reconciliation
from billing.services.scheduled import ScheduledRun


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("reconciliation")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    run = ScheduledRun.model_validate(event)
    logger.set_correlation_id(f"{run.schedule}@{run.scheduled_time.isoformat()}")
    deps = bootstrap.deps()
    report = reconciliation.reconcile(deps.context, deps.stripe, run.scheduled_time)
    logger.info("reconciliation", extra={"scheduled_time": run.scheduled_time.isoformat(), "report": report})
    if report and report["repaired"]:
        business_event("PaymentsRepaired", report["repaired"])
    return {"scheduled_time": run.scheduled_time.isoformat(), "duplicate": report is None, **(report or {})}
