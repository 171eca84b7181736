"""SQS (subscriptions due) -> one draft invoice per subscription period, a batch of a tenant's subscriptions per
transaction (its drafts are numbered by the series' writer, functions/invoice_numbering). A message names up to
PER_TRANSACTION of one tenant's subscriptions (``subscription_ids``, as the billing run's pages pack them) or one
(``subscription_id``, as messages were before).

Records are grouped by tenant (a transaction bills one tenant's subscriptions); a group that fails is reported as
failed items, and SQS redelivers only those (the group's transaction wrote nothing)."""

from typing import Self

from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, ValidationError, model_validator

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.base_model import BaseModel
from billing.observability import logger, metrics, tracer
from billing.services import subscriptions


class DueSubscriptions(BaseModel):
    """A page's message: up to PER_TRANSACTION of one tenant's subscriptions (or one, as messages were before)."""

    tenant_id: str = Field(min_length=1)
    subscription_ids: list[str] = Field(default_factory=list, max_length=100)
    subscription_id: str | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.subscription_id is not None:
            self.subscription_ids = [*self.subscription_ids, self.subscription_id]
        if not self.subscription_ids:
            raise ValueError("no subscription")
        return self


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
            due = DueSubscriptions.model_validate_json(record.body)
        except ValidationError:
            logger.exception("malformed message", extra={"message_id": record.messageId})
            failures.append({"itemIdentifier": record.messageId})
            continue
        groups.setdefault(due.tenant_id, []).extend((record.messageId, s) for s in due.subscription_ids)
    ctx = bootstrap.deps().context
    failed: set[str] = set()
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
            failed |= {message_id for message_id, _ in group}
            continue
        failed |= {message_id for message_id, s in group if s in outcome.failed}
        logger.info("billed", extra={"tenant_id": tenant_id, **outcome.model_dump()})
    # a message of several subscriptions fails whole (its billed ones are skipped when it comes back)
    failures += [{"itemIdentifier": record.messageId} for record in records if record.messageId in failed]
    return backoff.back_off(bootstrap.deps().publisher.client, event, {"batchItemFailures": failures})
