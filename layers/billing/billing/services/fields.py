"""The request fields and bases that use cases other than the API's share (a currency, an exact percent, what a
new subscription or an order redeems): small, so a worker that bills subscriptions does not import every request
body of the API (billing.services.commands re-exports them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from billing.domain.base_model import BaseModel
from billing.domain.money import normalize_currency

Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["usd"]), AfterValidator(normalize_currency)]


def _exact(value: object) -> object:
    if isinstance(value, float):
        raise ValueError(
            'give a percent as a string, e.g. "8.25", or a whole number: a JSON fraction is a binary float'
        )
    return value


# A percent is exact: a decimal string ("8.25") or a whole number, never a JSON fraction (8.25 as a binary float).
Percent = Annotated[
    Decimal,
    BeforeValidator(_exact),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\d{1,3}(\.\d{1,4})?$"}, {"type": "integer"}]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Redeeming(_Strict):
    """What an order or a new subscription redeems: a coupon or a promotion code, at most one of the two."""

    coupon: str | None = Field(default=None, min_length=1, max_length=64, description="a coupon's id to apply")
    promotion_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="a promotion code to apply (its text, any case)"
    )

    @model_validator(mode="after")
    def _at_most_one(self) -> Redeeming:
        if self.coupon is not None and self.promotion_code is not None:
            raise ValueError("give a coupon or a promotion_code, not both")
        return self
