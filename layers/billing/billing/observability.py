"""One Logger, Tracer and Metrics per process, shared by the handler and the code it calls.

Logs are masked: a log record that holds a personal or secret field (an email address, a postal address, a name,
a client secret, a pay token), at any depth of its extra keys, has it erased by Powertools' data masking before
it is written. Traces hold no responses or error messages (template.yaml: ``POWERTOOLS_TRACER_CAPTURE_*``).
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_masking import DataMasking

PERSONAL_FIELDS = frozenset(
    {"email", "customer_email", "to", "address", "customer_name", "phone", "client_secret", "pay_token"}
)


@functools.cache
def _masking() -> DataMasking:
    """Powertools' data masking, built for the first record that needs it (it imports jsonpath-ng and its parser,
    ≈15 ms of INIT, and most records hold no personal field)."""
    from aws_lambda_powertools.utilities.data_masking import DataMasking
    from aws_lambda_powertools.utilities.data_masking.provider import BaseProvider

    return DataMasking(
        provider=BaseProvider(json_serializer=functools.partial(json.dumps, default=str)), raise_on_missing_field=False
    )


def _personal_keys(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in PERSONAL_FIELDS:
                found.add(k)
            _personal_keys(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            _personal_keys(v, found)
    return found


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every personal or secret field erased (``*****``) wherever it is; as is when it holds none
    (most do not: the check is cheap, the masking is not)."""
    present = _personal_keys(record, set())
    return _masking().erase(record, fields=[f"$..{key}" for key in sorted(present)]) if present else record


class MaskingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:
        return super().serialize(masked(log))


logger = Logger(logger_formatter=MaskingFormatter())
tracer = Tracer()
metrics = Metrics()


def business_event(name: str, count: int = 1) -> None:
    """One metric per business event (InvoiceFinalized, EmailSent, …)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
