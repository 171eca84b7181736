"""Baseline of a scheduled function (billing_run, dunning_sweep, reconciliation, analytics_export): Logger with the
Lambda context, Tracer and Metrics on a handler that reads the scheduler's event as a dict."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return {"scheduled_time": event.get("scheduled_time")}
