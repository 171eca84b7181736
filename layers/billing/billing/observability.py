"""One Logger, Tracer and Metrics per process, shared by the handler and the code it calls."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def business_event(name: str, count: int = 1) -> None:
    """One metric per business event (InvoiceFinalized, EmailSent, …)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
