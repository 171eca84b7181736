"""Cold-start baseline: the smallest Powertools HTTP handler (Logger, Tracer, Metrics, one route, no validation).

bench.cold_start times ``import bench.bare_powertools`` beside the real handlers: what any function built on
Powertools pays before it does anything of its own.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()


@app.get("/ping")
def ping() -> dict:
    return {"ok": True}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
