"""EventBridge Scheduler (every 6 hours) -> the newest finished table export turned into the reports' facts, the
next export started."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.actor import acting_as_job
from billing.observability import business_event, logger, metrics, tracer
from billing.services import analytics
from billing.services.scheduled import ScheduledRun


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("analytics_export")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    run = ScheduledRun.model_validate(event)
    logger.set_correlation_id(f"{run.schedule}@{run.scheduled_time.isoformat()}")
    deps = bootstrap.deps()
    done = analytics.run(
        deps.client("dynamodb"),
        deps.client("s3"),
        deps.env["TABLE_ARN"],
        deps.env["ANALYTICS_BUCKET"],
        run.scheduled_time,
    )
    converted = done["converted"]
    logger.info(
        "analytics export",
        extra={
            "scheduled_time": run.scheduled_time.isoformat(),
            "converted": converted and converted["export"],
            "started": done["started"]["export_arn"],
        },
    )
    if converted:
        business_event("AnalyticsFactsPublished")
    return {
        "scheduled_time": run.scheduled_time.isoformat(),
        "converted": converted and {k: converted[k] for k in ("export", "data_through", "rows", "files")},
        "started": done["started"],
    }
