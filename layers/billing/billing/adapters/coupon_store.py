"""Coupons, promotion codes and applied discounts in the single table (keys in ``keys``).

A coupon and a promotion code each have their own partition, holding the object, its events and its redemption
counter (``n``, moved only by a conditional ``ADD``); a promotion code's per-customer counters are in its partition
too. A code is found by its upper-cased text through its uniqueness guard. A discount lives in the partition of the
order, subscription or customer it applies to (sort key ``DISCOUNT``), so it is written with it.
"""

from __future__ import annotations

from billing.adapters import keys
from billing.adapters.dynamodb import DynamoStore, Transaction
from billing.domain.coupons import Coupon, Discount, PaidShare, PromotionCode
from billing.domain.errors import Conflict, NotFound

INDEX_BY_TENANT = "gsi3"


class CouponStore:
    def __init__(self, store: DynamoStore) -> None:
        self.store = store

    def _count(self, key: dict[str, str]) -> int:
        item = self.store.get(key)
        return int(item.get("n", 0)) if item else 0

    # --- coupons ------------------------------------------------------------------------------------------------
    def coupon(self, tenant_id: str, coupon_id: str) -> Coupon:
        item = self.store.get(keys.coupon(tenant_id, coupon_id))
        if item is None:
            raise NotFound("coupon_not_found", f"no coupon {coupon_id}")
        count = self._count(keys.coupon_redemptions(tenant_id, coupon_id))
        return Coupon.model_validate_json(item["doc"]).model_copy(
            update={"version": int(item["version"]), "times_redeemed": int(count)}
        )

    def save_coupon(self, tx: Transaction, coupon: Coupon) -> Coupon:
        saved = coupon.model_copy(update={"version": coupon.version + 1})
        attrs = {
            **keys.coupon(coupon.tenant_id, coupon.id),
            **keys.tenant_list_attrs(coupon.tenant_id, "COUPON", coupon.id),
            "type": "coupon",
            "doc": saved.model_dump_json(exclude={"times_redeemed"}),
            "version": saved.version,
        }
        if coupon.version == 0:
            tx.put_new(attrs, lambda: Conflict("coupon_exists", f"a coupon {coupon.id} exists already"))
        else:
            tx.put_versioned(attrs, coupon.version)
        return saved

    def coupons(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Coupon], str | None]:
        """The tenant's coupons, newest first (gsi3). Their redemption counts are read with each coupon."""
        pk = keys.tenant_list_attrs(tenant_id, "COUPON", "")["gsi3pk"]
        page = self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, f"T#{tenant_id}#")
        return [self.coupon(tenant_id, item["gsi3sk"]) for item in page.items], page.cursor

    # --- promotion codes ----------------------------------------------------------------------------------------
    def promotion_code(self, tenant_id: str, promotion_code_id: str, customer_id: str | None = None) -> PromotionCode:
        """The code with its redemption count (and, for ``customer_id``, ``customer_redemptions``)."""
        promo, _ = self.promotion_code_and_customer(tenant_id, promotion_code_id, customer_id)
        return promo

    def promotion_code_and_customer(
        self, tenant_id: str, promotion_code_id: str, customer_id: str | None
    ) -> tuple[PromotionCode, int]:
        item = self.store.get(keys.promotion_code(tenant_id, promotion_code_id))
        if item is None:
            raise NotFound("promotion_code_not_found", f"no promotion code {promotion_code_id}")
        count = self._count(keys.promotion_code_redemptions(tenant_id, promotion_code_id))
        mine = 0
        if customer_id:
            mine = self._count(keys.promotion_code_customer(tenant_id, promotion_code_id, customer_id))
        promo = PromotionCode.model_validate_json(item["doc"]).model_copy(
            update={"version": int(item["version"]), "times_redeemed": count}
        )
        return promo, mine

    def promotion_code_id_by_code(self, tenant_id: str, normalized_code: str) -> str | None:
        item = self.store.get(keys.promotion_code_by_code(tenant_id, normalized_code))
        return item["owner_id"] if item else None

    def save_promotion_code(self, tx: Transaction, promo: PromotionCode) -> PromotionCode:
        saved = promo.model_copy(update={"version": promo.version + 1})
        attrs = {
            **keys.promotion_code(promo.tenant_id, promo.id),
            **keys.tenant_list_attrs(promo.tenant_id, "PROMO", promo.id),
            "type": "promotion_code",
            "doc": saved.model_dump_json(exclude={"times_redeemed"}),
            "version": saved.version,
        }
        tx.put_versioned(attrs, promo.version)
        if promo.version == 0:
            guard = {
                **keys.promotion_code_by_code(promo.tenant_id, promo.lookup),
                "type": "external_id",
                "owner_id": promo.id,
            }
            tx.put_new(guard, lambda: Conflict("promotion_code_exists", f"the code {promo.code} is taken"))
        return saved

    def promotion_codes(
        self, tenant_id: str, limit: int, cursor: str | None
    ) -> tuple[list[PromotionCode], str | None]:
        pk = keys.tenant_list_attrs(tenant_id, "PROMO", "")["gsi3pk"]
        page = self.store.query(INDEX_BY_TENANT, "gsi3pk", pk, limit, cursor, f"T#{tenant_id}#")
        return [self.promotion_code(tenant_id, item["gsi3sk"]) for item in page.items], page.cursor

    # --- redemption ---------------------------------------------------------------------------------------------
    def count_redemption(
        self, tx: Transaction, coupon: Coupon, promo: PromotionCode | None, customer_id: str
    ) -> None:
        """Count one redemption in ``tx``, exactly: each counter moves by a conditional ``ADD`` (refused at its
        limit with its own problem), and the coupon and code must still be as they were read (not archived or
        deactivated in between)."""
        tenant_id = coupon.tenant_id
        tx.add_one(
            keys.coupon_redemptions(tenant_id, coupon.id),
            coupon.max_redemptions,
            lambda: Conflict("coupon_max_redemptions", f"coupon {coupon.id} has no redemptions left"),
            type="redemption_counter",
        )
        tx.check_version(keys.coupon(tenant_id, coupon.id), coupon.version)
        if promo is None:
            return
        tx.add_one(
            keys.promotion_code_redemptions(tenant_id, promo.id),
            promo.max_redemptions,
            lambda: Conflict("promotion_code_max_redemptions", f"promotion code {promo.code} is used up"),
            type="redemption_counter",
        )
        tx.check_version(keys.promotion_code(tenant_id, promo.id), promo.version)
        limit = promo.restrictions.per_customer_limit
        tx.add_one(
            keys.promotion_code_customer(tenant_id, promo.id, customer_id),
            limit,
            lambda: Conflict(
                "promotion_code_customer_limit", f"promotion code {promo.code} is used {limit} times by them"
            ),
            type="redemption_counter",
        )

    # --- discounts ----------------------------------------------------------------------------------------------
    def discount(self, aggregate_key: dict[str, str]) -> tuple[Discount | None, int]:
        """The discount applied to the object at ``aggregate_key`` (None) and the version to replace it at."""
        item = self.store.get(keys.discount(aggregate_key))
        if item is None:
            return None, 0
        found = None if item["doc"] == "null" else Discount.model_validate_json(item["doc"])
        return found, int(item["version"])

    def save_discount(
        self, tx: Transaction, aggregate_key: dict[str, str], discount: Discount | None, version: int
    ) -> None:
        """Put ``discount`` on the object (None: none any more), conditional on ``version`` (0: there was none)."""
        attrs = {**keys.discount(aggregate_key), "type": "discount", "version": version + 1}
        attrs["doc"] = discount.model_dump_json() if discount else "null"
        tx.put_versioned(attrs, version)

    def paid_shares(self, tenant_id: str, subscription_id: str) -> tuple[int | None, dict[str, PaidShare], int]:
        """(period index, what was paid per plan in it after discounts, version) of a subscription's open period."""
        item = self.store.get(keys.period_discount(tenant_id, subscription_id))
        if item is None:
            return None, {}, 0
        shares = {plan: PaidShare.model_validate(v) for plan, v in item["shares"].items()}
        return int(item["period_index"]), shares, int(item["version"])

    def save_paid_shares(
        self,
        tx: Transaction,
        tenant_id: str,
        subscription_id: str,
        period_index: int,
        shares: dict[str, PaidShare],
        version: int,
    ) -> None:
        attrs = {
            **keys.period_discount(tenant_id, subscription_id),
            "type": "paid_shares",
            "period_index": period_index,
            "shares": {plan: share.model_dump() for plan, share in shares.items()},
            "version": version + 1,
        }
        tx.put_versioned(attrs, version)
