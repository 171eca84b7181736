"""Baseline of an SQS worker that parses its whole event with Powertools' ``SqsModel`` and each body with a pydantic
model, reporting failures itself (invoice_worker, invoice_numbering): Logger, Tracer, Metrics, no batch processor."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError


class Body(BaseModel):
    tenant_id: str
    id: str


logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    failures = []
    for record in SqsModel.model_validate(event).Records:
        try:
            Body.model_validate_json(record.body)
        except ValidationError:
            failures.append({"itemIdentifier": record.messageId})
    return {"batchItemFailures": failures}
