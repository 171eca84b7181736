"""SQS FIFO (a billing run's drafts, one message group per tenant and series) -> their gapless numbers.

One writer per group: FIFO hands a group's messages over in order, one batch in flight per group. Each group of the
batch is numbered by the service (a move of the counter per 99 invoices); a message that fails, and every later one
of its group, is reported failed so the group's order holds (``batchItemFailures``)."""

from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import backoff, bootstrap
from billing.actor import acting_as_job
from billing.domain.base_model import BaseModel
from billing.domain.events import DomainEvent
from billing.observability import logger, metrics, tracer
from billing.services import invoice_numbering


class Drafted(BaseModel):
    series: str
    invoice_ids: list[str]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@acting_as_job("invoice_numbering")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    failures: list[dict[str, str]] = []
    groups: dict[str, list[tuple[str, list[str]]]] = {}
    where: dict[str, tuple[str, str]] = {}
    broken: set[str] = set()  # groups with a malformed message: it and the rest of its group wait
    for record in SqsModel.model_validate(event).Records:
        group = record.attributes.MessageGroupId or ""
        if group in broken:
            failures.append({"itemIdentifier": record.messageId})
            continue
        try:
            drafted = DomainEvent.model_validate_json(record.body)
            data = Drafted.model_validate(drafted.data)
        except ValidationError:
            logger.exception("malformed message", extra={"message_id": record.messageId})
            broken.add(group)  # the group's earlier messages are numbered; this one and the later ones wait
            failures.append({"itemIdentifier": record.messageId})
            continue
        groups.setdefault(group, []).append((record.messageId, data.invoice_ids))
        where[group] = (drafted.tenant_id, data.series)
    ctx = bootstrap.deps().context
    for group, messages in groups.items():
        tenant_id, series = where[group]
        outcome = invoice_numbering.number_group(ctx, tenant_id, series, messages)
        failures += [{"itemIdentifier": message_id} for message_id in outcome.failed]
        logger.info(
            "numbered",
            extra={
                "tenant_id": tenant_id,
                "series": series,
                "numbered": outcome.numbered,
                "skipped": outcome.skipped,
                "moves": [m.numbers for m in outcome.moves],
                "failed": len(outcome.failed),
            },
        )
    return backoff.back_off(bootstrap.deps().publisher.client, event, {"batchItemFailures": failures})
