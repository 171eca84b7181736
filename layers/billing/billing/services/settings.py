"""A tenant's settings: the seller profile (read, replace) and the dunning policy (read, replace, and preview against
an invoice before saving)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from billing.adapters import keys
from billing.domain.base_model import BaseModel
from billing.domain.changes import changes
from billing.domain.dunning import Action, Anchor, DunningPolicy, timeline
from billing.domain.errors import NotFound, ValidationFailed
from billing.domain.events import DomainEvent
from billing.domain.profile import SellerProfile, default_profile
from billing.domain.rate_limits import Limit
from billing.observability import business_event
from billing.services.unit import Claim, Context, remember, retrying

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Tenant


def profile(ctx: Context, tenant_id: str) -> SellerProfile:
    """What the tenant's invoices say of the seller: its own profile, or its name until it sets one."""
    saved, _ = ctx.repo.profile(tenant_id)
    if saved is not None:
        return saved
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    return default_profile(tenant.name)


def sender(ctx: Context, tenant: Tenant) -> tuple[str, str | None]:
    """Who the tenant's e-mails and pages say they are from: the profile's legal name (or the tenant's name), and
    where replies go (the tenant's reply-to, or the profile's support address)."""
    saved, _ = ctx.repo.profile(tenant.id)
    if saved is None:
        return tenant.name, tenant.reply_to
    return saved.legal_name, tenant.reply_to or saved.support_email


@retrying()
def replace_profile(ctx: Context, tenant_id: str, new: SellerProfile, claim: Claim | None = None) -> SellerProfile:
    """Replace the seller profile. Documents already rendered keep the profile they were rendered with."""
    old, version = ctx.repo.profile(tenant_id, consistent=True)
    tx = ctx.repo.transaction()
    ctx.repo.save_profile(tx, tenant_id, new, version)
    diff = changes(_audited(old), _audited(new))
    event = DomainEvent.new("tenant.profile_updated", tenant_id, "tenant", tenant_id, ctx.clock.now(), changes=diff)
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)
    remember(ctx, tx, tenant_id, claim, new.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("ProfileChanged")
    return new


def _audited(profile: SellerProfile | None) -> dict[str, Any] | None:
    """The profile as the audit trail keeps it: its logo by type, size and digest (the image itself is up to
    100 KB, more than an event is worth and than EventBridge takes)."""
    if profile is None:
        return None
    fields = profile.model_dump(mode="json")
    if profile.logo is not None:
        logo = profile.logo
        digest = hashlib.sha256(logo.data).hexdigest()
        fields["logo"] = {"content_type": logo.content_type, "bytes": len(logo.data), "sha256": digest}
    return fields


def dunning_policy(ctx: Context, tenant_id: str) -> DunningPolicy:
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    return tenant.dunning_policy


@retrying()
def replace_dunning_policy(
    ctx: Context, tenant_id: str, policy: DunningPolicy, claim: Claim | None = None
) -> DunningPolicy:
    tenant = ctx.repo.tenant(tenant_id, consistent=True)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_tenant(tx, tenant.model_copy(update={"dunning_policy": policy}))
    before, after = (p.model_dump(mode="json") for p in (tenant.dunning_policy, saved.dunning_policy))
    event = DomainEvent.new(
        "tenant.dunning_policy_updated", tenant_id, "tenant", tenant_id, ctx.clock.now(), changes=changes(before, after)
    )
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)
    remember(ctx, tx, tenant_id, claim, saved.dunning_policy.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("DunningPolicyChanged")
    return saved.dunning_policy


@retrying()
def set_rate_limit(ctx: Context, tenant_id: str, limit: str | None) -> str | None:
    """The tenant's own API rate limit (``<rate>/<burst>``), or the stack's again (``None``): an operator's
    decision (``infra.admin set-rate-limit``), seen by every container within the key cache's TTL."""
    if limit is not None:
        try:
            parsed = Limit.parse(limit)
        except ValueError as error:
            raise ValidationFailed("invalid_rate_limit", str(error)) from error
        limit = f"{parsed.rate}/{parsed.burst}"
    tenant = ctx.repo.tenant(tenant_id, consistent=True)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    if tenant.rate_limit == limit:
        return limit
    tx = ctx.repo.transaction()
    ctx.repo.save_tenant(tx, tenant.model_copy(update={"rate_limit": limit}))
    diff = {"rate_limit": {"before": tenant.rate_limit, "after": limit}}
    event = DomainEvent.new("tenant.rate_limit_updated", tenant_id, "tenant", tenant_id, ctx.clock.now(), changes=diff)
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)
    ctx.repo.commit(tx)
    return limit


class PreviewRequest(BaseModel):
    invoice_id: str
    policy: DunningPolicy | None = None  # None: the tenant's current policy


class PreviewStep(BaseModel):
    index: int
    day: int
    anchor: Anchor
    actions: list[Action]
    at: datetime | None
    state: Literal["past", "planned", "waiting_for_failure", "not_needed"]


class Preview(BaseModel):
    invoice_id: str
    invoice_status: str
    amount_due: int
    first_failure_at: datetime | None
    steps: list[PreviewStep]
    # the invoice's collection case, if a step escalated it already (an escalate step does not open a second)
    collection_case_id: str | None = None


def preview(ctx: Context, tenant_id: str, request: PreviewRequest) -> Preview:
    """What a policy would do to an invoice: each step's date and whether it is behind, ahead, waiting for a first
    failed charge, or not needed (the invoice is no longer owed). Changes nothing."""
    invoice = ctx.repo.invoice(tenant_id, request.invoice_id)
    policy = request.policy or dunning_policy(ctx, tenant_id)
    failures = [p.updated_at for p in ctx.repo.payments(tenant_id, invoice.id) if p.status == "failed"]
    first_failure = min(failures) if failures else None
    now = ctx.clock.now()
    owed = invoice.status == "open" and invoice.amount_due > 0 and invoice.due_date is not None
    steps = []
    for planned in timeline(policy, invoice.due_date or now.date(), first_failure):
        if not owed:
            state = "not_needed"
        elif planned.at is None:
            state = "waiting_for_failure"
        else:
            state = "past" if planned.at <= now else "planned"
        steps.append(PreviewStep(**planned.model_dump(), state=state))
    return Preview(
        invoice_id=invoice.id,
        invoice_status=invoice.status,
        amount_due=invoice.amount_due,
        first_failure_at=first_failure,
        steps=steps,
        collection_case_id=invoice.dunning.case_id,
    )
