"""Reference for a scheduled function that parses the scheduler's event with a pydantic model (as billing_run,
dunning_sweep, reconciliation and analytics_export parse ``ScheduledRun``): ``bench.bare.scheduled`` plus pydantic
and one model, nothing of ours."""

from datetime import datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel


class Run(BaseModel):
    schedule: str
    scheduled_time: datetime


logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return {"scheduled_time": Run.model_validate(event).scheduled_time.isoformat()}
