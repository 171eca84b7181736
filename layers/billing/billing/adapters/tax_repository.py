"""The repository's part for taxes: the tenant's tax rates and tax settings (billing.domain.tax), in the tenant's
partition (``TAX#RATE#<id>``, ``TAX#SETTINGS``). A mixin of billing.adapters.repository.Repository."""

from __future__ import annotations

from typing import Any

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction, from_item
from billing.domain.errors import NotFound
from billing.domain.tax import TaxRate, TaxSettings


class TaxRepository:
    store: Any

    def tax_rate(self, tenant_id: str, tax_rate_id: str, consistent: bool = False) -> TaxRate:
        item = self.store.get(keys.tax_rate(tenant_id, tax_rate_id), consistent=consistent)
        if item is None:
            raise NotFound("tax_rate_not_found", f"no tax rate {tax_rate_id}")
        return _rate(item)

    def save_tax_rate(self, tx: Transaction, rate: TaxRate) -> TaxRate:
        saved = rate.model_copy(update={"version": rate.version + 1})
        attrs = {
            **keys.tax_rate(rate.tenant_id, rate.id),
            "type": "tax_rate",
            "status": "active" if rate.active else "archived",
            "doc": saved.model_dump_json(),
            "version": saved.version,
        }
        tx.put_versioned(attrs, rate.version)
        return saved

    def tax_rates(
        self, tenant_id: str, limit: int, cursor: str | None, active: bool | None = None
    ) -> tuple[list[TaxRate], str | None]:
        """One page of the tenant's tax rates, oldest first (ids sort by creation); ``active`` filters."""
        prefix = f"{keys.TAX_PREFIX}RATE#"
        filters = None if active is None else {"status": "active" if active else "archived"}
        page = self.store.query(
            None,
            "pk",
            keys.tax_rate(tenant_id, "")["pk"],
            limit,
            cursor,
            f"T#{tenant_id}",
            filters,
            ascending=True,
            sort_between=("sk", prefix, prefix + "~"),
        )
        return [_rate(item) for item in page.items], page.cursor

    def tax_settings(self, tenant_id: str, consistent: bool = False) -> tuple[TaxSettings, int]:
        """The tenant's tax settings (none set: empty) and the version to replace them at."""
        item = self.store.get(keys.tax_settings(tenant_id), consistent=consistent)
        if item is None:
            return TaxSettings(), 0
        return TaxSettings.model_validate_json(item["doc"]), int(item["version"])

    def save_tax_settings(self, tx: Transaction, tenant_id: str, settings: TaxSettings, version: int) -> None:
        attrs = {
            **keys.tax_settings(tenant_id),
            "type": "tax_settings",
            "doc": settings.model_dump_json(),
            "version": version + 1,
        }
        tx.put_versioned(attrs, version)

    def tax_book_request(self, tenant_id: str) -> dict[str, Any]:
        """The Query ``tax_book`` makes (a route reads it ahead with ``DynamoStore.prefetch``)."""
        return {
            "TableName": self.store.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.tax_settings(tenant_id)["pk"]},
                ":prefix": {"S": keys.TAX_PREFIX},
            },
            "ConsistentRead": True,
        }

    def tax_book(self, tenant_id: str) -> tuple[TaxSettings, int, dict[str, TaxRate]]:
        """The tenant's tax settings (and their version) and every one of its rates, by id: ONE Query of the
        tenant's partition over ``TAX#`` (strongly consistent). What the resolution of a whole invoice needs."""
        answer = self.store.run_query(self.tax_book_request(tenant_id))  # every page: some 2,000 rates per MB
        settings, version, rates = TaxSettings(), 0, {}
        for item in map(from_item, answer):
            if item["sk"] == keys.tax_settings(tenant_id)["sk"]:
                settings, version = TaxSettings.model_validate_json(item["doc"]), int(item["version"])
            else:
                rate = _rate(item)
                rates[rate.id] = rate
        return settings, version, rates


def _rate(item: dict[str, Any]) -> TaxRate:
    return TaxRate.model_validate_json(item["doc"]).model_copy(update={"version": int(item["version"])})
