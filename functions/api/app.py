"""API Gateway HTTP API -> the storefront and finance API (billing.api). SnapStart: the OpenAPI document and the
clients' models are warmed before the snapshot, everything unique is renewed after a restore (billing.snapstart)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import snapstart
from billing.api.app import handle, openapi_document
from billing.observability import logger, metrics, tracer

snapstart.enable(services=("dynamodb", "sqs", "s3"), warmers=(openapi_document,))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context)
