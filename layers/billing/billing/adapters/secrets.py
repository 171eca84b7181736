"""Secrets from SSM Parameter Store (SecureString) through Powertools parameters, cached for five minutes.

Never from code or template defaults: the template names the parameters, an operator puts the values
(docs/deploy.md), and the local stack writes its own.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

MAX_AGE = 300


def secret(name: str) -> str:
    return str(parameters.get_parameter(name, decrypt=True, max_age=MAX_AGE))


def secret_list(name: str) -> list[str]:
    """A comma-separated list, e.g. the webhook signing secrets accepted during a rotation."""
    return [part.strip() for part in secret(name).split(",") if part.strip()]
