"""Webhook endpoints and deliveries in the single table (keys in ``keys``): the endpoint in its own partition with
its deliveries beside it, and on gsi3 (a tenant's endpoints, one Query)."""

from __future__ import annotations

from typing import Any

from billing.adapters import keys
from billing.adapters.dynamodb import DynamoStore, Transaction, decode_cursor, encode_cursor, from_item
from billing.domain.errors import NotFound
from billing.domain.webhooks import WebhookDelivery, WebhookEndpoint

INDEX_BY_TENANT = "gsi3"


class DeliveryExists(Exception):
    """The delivery of this event to this endpoint was made before."""


def _load_endpoint(item: dict[str, Any] | None) -> WebhookEndpoint | None:
    if item is None:
        return None
    return WebhookEndpoint.model_validate_json(item["doc"]).model_copy(update={"version": int(item["version"])})


def _load_delivery(item: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery.model_validate_json(item["doc"]).model_copy(update={"version": int(item["version"])})


class WebhookStore:
    def __init__(self, store: DynamoStore) -> None:
        self.store = store

    # --- endpoints ------------------------------------------------------------------------------------------
    def endpoint(self, tenant_id: str, endpoint_id: str, consistent: bool = True) -> WebhookEndpoint:
        found = _load_endpoint(self.store.get(keys.webhook_endpoint(tenant_id, endpoint_id), consistent))
        if found is None or found.deleted:
            raise NotFound("webhook_endpoint_not_found", f"no webhook endpoint {endpoint_id}")
        return found

    def endpoint_or_none(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return _load_endpoint(self.store.get(keys.webhook_endpoint(tenant_id, endpoint_id)))

    def save_endpoint(self, tx: Transaction, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        saved = endpoint.model_copy(update={"version": endpoint.version + 1})
        attrs: dict[str, Any] = {
            **keys.webhook_endpoint(endpoint.tenant_id, endpoint.id),
            "type": "webhook_endpoint",
            "doc": saved.model_dump_json(),
            "version": saved.version,
        }
        if not endpoint.deleted:  # a deleted endpoint leaves the tenant's list
            attrs.update(keys.webhook_endpoints_attrs(endpoint.tenant_id, endpoint.id))
        tx.put_versioned(attrs, endpoint.version)
        return saved

    def endpoints(
        self, tenant_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[WebhookEndpoint], str | None]:
        """The tenant's endpoints, newest first (one Query on gsi3)."""
        pk = keys.webhook_endpoints_attrs(tenant_id, "")["gsi3pk"]
        page = self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, f"T#{tenant_id}#")
        return [e for e in map(_load_endpoint, page.items) if e is not None], page.cursor

    # --- deliveries -----------------------------------------------------------------------------------------
    def delivery(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        item = self.store.get(keys.webhook_delivery(tenant_id, endpoint_id, delivery_id))
        if item is None:
            raise NotFound("webhook_delivery_not_found", f"no delivery {delivery_id} for endpoint {endpoint_id}")
        return _load_delivery(item)

    def delivery_and_payload(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> tuple[WebhookDelivery, str]:
        """A delivery and the exact body every attempt of it sends."""
        item = self.store.get(keys.webhook_delivery(tenant_id, endpoint_id, delivery_id))
        if item is None:
            raise NotFound("webhook_delivery_not_found", f"no delivery {delivery_id} for endpoint {endpoint_id}")
        return _load_delivery(item), item["payload"]

    def add_delivery(self, delivery: WebhookDelivery, payload: str) -> None:
        """Record a new delivery (its exact body kept for every attempt); ``DeliveryExists`` if it was made before."""
        tx = self.store.transaction()
        tx.put_new(
            {**self._delivery_attrs(delivery.model_copy(update={"version": 1})), "payload": payload}, DeliveryExists
        )
        self.store.commit(tx)

    def save_delivery(self, tx: Transaction, delivery: WebhookDelivery, payload: str) -> WebhookDelivery:
        saved = delivery.model_copy(update={"version": delivery.version + 1})
        tx.put_versioned({**self._delivery_attrs(saved), "payload": payload}, delivery.version)
        return saved

    @staticmethod
    def _delivery_attrs(delivery: WebhookDelivery) -> dict[str, Any]:
        return {
            **keys.webhook_delivery(delivery.tenant_id, delivery.endpoint_id, delivery.id),
            "type": "webhook_delivery",
            "status": delivery.status,
            "doc": delivery.model_dump_json(),
            "version": delivery.version,
        }

    def deliveries(
        self, tenant_id: str, endpoint_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[WebhookDelivery], str | None]:
        """An endpoint's deliveries, newest event first, optionally of one status (one Query, its partition)."""
        pk = keys.webhook_endpoint(tenant_id, endpoint_id)["pk"]
        client, table = self.store.client, self.store.table
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": "WHD#"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status:
            kwargs["FilterExpression"] = "#s = :s"
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
            kwargs["ExpressionAttributeValues"][":s"] = {"S": status}
        listing = f"deliveries:{pk}:{status}"
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, f"T#{tenant_id}#", listing)
        answer = client.query(**kwargs)
        items = [_load_delivery(from_item(i)) for i in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return items, encode_cursor(last, listing) if last else None
