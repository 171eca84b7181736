"""What each function imports at INIT (docs/benchmarks.md, section 1): only what its handler uses, models unbuilt.

Each function's handler module is imported in a fresh interpreter with the environment bench/cold_start.py gives it
(template.yaml's variables, Lambda's own, no network), and its ``sys.modules`` is checked against what it must not
load. The timings themselves are a benchmark (bench/cold_start.py), not a test; these are the causes they hold.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cold_start

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import {module}
modules = sorted(sys.modules)  # before this probe imports anything of its own

def walk(c):
    for s in c.__subclasses__():
        yield s
        yield from walk(s)

base = sys.modules.get("billing.domain.base_model")
models = walk(base.BaseModel) if base else ()
built = sorted({{f"{{c.__module__}}.{{c.__qualname__}}" for c in models if c.__pydantic_complete__}})
print(json.dumps({{"modules": modules, "built": built}}))
"""

HANDLERS = {h.logical_id: h for h in cold_start.handlers()}
API_ROUTERS = (
    "billing.api.routes",
    "billing.api.collections",
    "billing.api.customers",
    "billing.api.privacy",
    "billing.api.offline_payments",
    "billing.api.events",
    "billing.web.hosted_page",
    "billing.web.portal",
    "billing.web.dashboard",
    "billing.api.webhooks",
    "billing.api.adjustments",
    "billing.api.coupons",
    "billing.api.tax",
    "billing.api.api_keys",
)

# Packages no function loads at INIT: boto3 comes with the first client (bootstrap.Deps.client), ISO's and CLDR's
# currency data with the first currency looked at (billing.domain.money), the PDF engine with the first document.
NOWHERE = ("boto3", "iso4217", "typst", "aiohttp")
# Where a package may load at INIT, by function: everywhere else it must not.
ONLY_IN = {
    "stripe": {"StripeWebhookFunction"},  # the signature check; the gateway (and stripe) comes on first use
    "jinja2": {"NotifierFunction"},  # every message is an e-mail rendered from a template
}
# Modules a function does not use and must not load through an import chain.
NOT_IN = {
    "StripeWebhookFunction": (
        "pydantic",
        "billing.domain.models",
        "billing.domain.subscriptions",
        "billing.adapters.repository",
        "billing.services.commands",
    ),
    "OutboxRelayFunction": ("billing.domain.models", "billing.services.documents", "billing.services.payments"),
    "DocumentRendererFunction": ("billing.services.payments", "billing.services.subscriptions"),
    "EmailFeedbackFunction": ("billing.domain.models", "billing.adapters.repository"),
    "AnalyticsExportFunction": ("billing.services.commands", "billing.domain.models", "billing.adapters.repository"),
    "WebhookDeliveryFunction": (
        "billing.domain.models",
        "billing.services.subscriptions",
        "billing.adapters.repository",
    ),
    "DunningSweepFunction": ("billing.services.dunning", "billing.services.payments", "billing.services.subscriptions"),
    "InvoiceNumberingFunction": ("billing.services.commands", "billing.services.subscriptions"),
    # the API's door: each concern's router (and its services) comes with the first request for it (billing.api.app)
    "ApiFunction": (
        *API_ROUTERS,
        "billing.services.orders",
        "billing.services.subscriptions",
        "billing.services.commands",
        "billing.services.payments",
        "billing.adapters.repository",
    ),
    # the sweep reads its terms from services.billing_terms, not the subscription service and its models
    "BillingRunFunction": (
        "billing.services.subscriptions",
        "billing.domain.subscriptions",
        "billing.services.commands",
        "billing.domain.models",
    ),
    "BillingPagesFunction": ("billing.services.subscriptions", "billing.services.commands"),
    # the payment paths move a subscription with services.following, not the subscription service
    "CollectorFunction": (
        "billing.services.subscriptions",
        "billing.services.commands",
        "billing.adapters.repository",
        "billing.services.customers",  # an overpayment's credit: imported where one is kept
        "billing.domain.models",  # the aggregates come with the repository's first read
    ),
    "StripeEventsFunction": ("billing.services.subscriptions", "billing.services.commands"),
    "DunningWorkerFunction": ("billing.services.subscriptions", "billing.services.commands"),
    # the payment rules and refunds come with a repair, a refund or a dispute
    "ReconciliationFunction": (
        "billing.services.payments",
        "billing.services.refunds",
        "billing.services.subscriptions",
        "billing.adapters.repository",
    ),
    # the portal (sessions, its models) is imported for a sign-in e-mail; every e-mail links its page (portal_links)
    "NotifierFunction": (
        "billing.services.portal",
        "billing.adapters.repository",
        "billing.services.subscriptions",
        "billing.domain.models",  # the sender's profile reads its address from domain.address
    ),
}


@functools.cache
def loaded(logical_id: str) -> dict[str, list[str]]:
    handler = HANDLERS[logical_id]
    env = cold_start.lambda_env(logical_id, cold_start.function_envs()[logical_id])
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=handler.module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def imported(logical_id: str, name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in loaded(logical_id)["modules"])


@pytest.mark.parametrize("logical_id", sorted(HANDLERS))
def test_a_function_loads_only_what_its_handler_uses(logical_id: str) -> None:
    wrong = [name for name in NOWHERE if imported(logical_id, name)]
    wrong += [name for name, where in ONLY_IN.items() if logical_id not in where and imported(logical_id, name)]
    wrong += [name for name in NOT_IN.get(logical_id, ()) if imported(logical_id, name)]
    assert wrong == [], f"{logical_id} imports {wrong} at INIT"


@pytest.mark.parametrize("logical_id", sorted(HANDLERS))
def test_no_model_of_ours_is_built_at_import(logical_id: str) -> None:
    """defer_build holds: importing a handler builds no validator of the project's models (a module-level model
    instance, or a model not on the shared base, would)."""
    assert loaded(logical_id)["built"] == []


def test_the_constraints_above_name_real_functions() -> None:
    named = set(NOT_IN) | {f for where in ONLY_IN.values() for f in where}
    assert named <= set(HANDLERS)


def test_every_model_is_on_the_deferred_base() -> None:
    """A model defined on pydantic's own BaseModel would be built at import again: the project's code imports
    ``BaseModel`` from billing.domain.base_model (repository.py only types with pydantic's)."""
    layer = ROOT / "layers/billing/billing"
    allowed = {layer / "domain/base_model.py", layer / "adapters/repository.py"}
    offenders = []
    for path in [*layer.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "pydantic":
                if any(alias.name == "BaseModel" for alias in node.names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_deferred_model_validates_and_describes_itself_as_before() -> None:
    """Config merges with a model's own (extra="forbid" still refuses), errors and schemas are pydantic's."""
    from pydantic import ValidationError

    from billing.services.commands import CreateCustomer
    from billing.services.scheduled import ScheduledRun

    assert CreateCustomer.model_config["defer_build"] is True
    assert CreateCustomer.model_config["extra"] == "forbid"
    with pytest.raises(ValidationError) as error:
        CreateCustomer.model_validate({"email": "a@example.com", "unknown": 1})
    assert {e["type"] for e in error.value.errors()} >= {"extra_forbidden"}
    run = ScheduledRun.model_validate({"schedule": "billing-run", "scheduled_time": "2026-12-01T10:00:00Z"})
    assert run.scheduled_time.isoformat() == "2026-12-01T10:00:00+00:00"
    assert ScheduledRun.model_json_schema()["required"] == ["schedule", "scheduled_time"]


def test_the_default_dunning_policy_is_one_instance_built_on_first_use() -> None:
    from billing.domain import dunning
    from billing.domain.models import Tenant

    assert dunning.DEFAULT_POLICY is dunning.default_policy()
    with pytest.raises(AttributeError):
        _ = dunning.NO_SUCH_NAME
    tenant = Tenant.model_fields["dunning_policy"].default_factory()  # type: ignore[misc]
    assert tenant == dunning.DEFAULT_POLICY and tenant is not dunning.DEFAULT_POLICY


def test_the_api_holds_every_router_it_includes_on_demand() -> None:
    from billing.api import app

    assert set(app.ROUTERS) == set(API_ROUTERS)


# A request imports its own concern's routers only (once): here a tax-rates request, refused for its missing key.
REQUEST = """
import json, sys
import functions.api.app
from billing.api import app
http = {"method": "GET", "path": "/v1/tax_rates", "sourceIp": "192.0.2.1", "protocol": "HTTP/1.1", "userAgent": "t"}
context = {"http": http, "stage": "$default", "requestId": "r", "domainName": "api.example.com", "timeEpoch": 0}
event = {"version": "2.0", "rawPath": http["path"], "rawQueryString": "", "headers": {}, "requestContext": context}
status = app.handle(event, None)["statusCode"]
print(json.dumps({"status": status, "modules": sorted(sys.modules), "included": sorted(app.included)}))
"""


def test_a_request_imports_only_its_concerns_routers() -> None:
    env = cold_start.lambda_env("ApiFunction", cold_start.function_envs()["ApiFunction"])
    proc = subprocess.run(
        [sys.executable, "-c", REQUEST], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["status"] == 401
    assert answer["included"] == ["billing.api.tax"]
    assert [m for m in API_ROUTERS if m in answer["modules"]] == ["billing.api.tax"]
    assert "billing.services.orders" not in answer["modules"]
