"""SQS (subscriptions due) -> one draft invoice per subscription period, a batch of a tenant's subscriptions per
transaction (its drafts are numbered by the series' writer, functions/invoice_numbering).

Records are grouped by tenant (a transaction bills one tenant's subscriptions); a group that fails is reported as
failed items, and SQS redelivers only those (the group's transaction wrote nothing)."""

from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.base_model import BaseModel
from billing.observability import logger, metrics, tracer
from billing.services import subscriptions


class DueSubscription(BaseModel):
    tenant_id: str
    subscription_id: str


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("invoice_worker")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    records = SqsModel.model_validate(event).Records
    failures: list[dict[str, str]] = []
    groups: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        try:
            due = DueSubscription.model_validate_json(record.body)
        except ValidationError:
            logger.exception("malformed message", extra={"message_id": record.messageId})
            failures.append({"itemIdentifier": record.messageId})
            continue
        groups.setdefault(due.tenant_id, []).append((record.messageId, due.subscription_id))
    ctx = bootstrap.deps().context
    # one billing transaction per tenant and chunk (a transaction holds at most 100 writes)
    chunks = [
        (tenant_id, group[start : start + subscriptions.PER_TRANSACTION])
        for tenant_id, group in groups.items()
        for start in range(0, len(group), subscriptions.PER_TRANSACTION)
    ]
    for tenant_id, group in chunks:
        try:
            outcome = subscriptions.bill_subscriptions(ctx, tenant_id, [s for _, s in group])
        except Exception:
            logger.exception("billing failed", extra={"tenant_id": tenant_id, "subscriptions": len(group)})
            failures += [{"itemIdentifier": message_id} for message_id, _ in group]
            continue
        failures += [{"itemIdentifier": message_id} for message_id, s in group if s in outcome.failed]
        logger.info("billed", extra={"tenant_id": tenant_id, **outcome.model_dump()})
    return backoff.back_off(bootstrap.deps().publisher.client, event, {"batchItemFailures": failures})
