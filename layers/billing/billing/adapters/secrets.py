"""Secrets from SSM Parameter Store (SecureString) through Powertools parameters, cached for five minutes.

Never from code or template defaults: the template names the parameters, an operator puts the values
(docs/deploy.md), and the local stack writes its own.

Powertools' parameters package is imported on the first secret read, not at INIT: it imports boto3 and its
DynamoDB, Secrets Manager and AppConfig providers, which a function that reads no secret (most) never needs.
"""

from __future__ import annotations

import sys

MAX_AGE = 300


def secret(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(name, decrypt=True, max_age=MAX_AGE))


def forget() -> None:
    """Drop every cached secret and the provider's client (after a SnapStart restore: nothing read before the
    snapshot may be shared by the environments restored from it)."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()


def secret_list(name: str) -> list[str]:
    """A comma-separated list, e.g. the webhook signing secrets accepted during a rotation."""
    return [part.strip() for part in secret(name).split(",") if part.strip()]
