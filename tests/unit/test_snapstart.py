"""SnapStart (issue 17): the runtime hooks of billing.snapstart, as plain functions, and the template's promise that
every function with SnapStart registers them and is invoked through its published alias."""

from __future__ import annotations

import random
import sys
import types
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from billing import bootstrap, snapstart
from billing.adapters import secrets
from infra.local import template as tpl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Each test leaves the process's deps, boto3 default session and warmed loader as it found them."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    deps, session, loader = bootstrap._deps, boto3.DEFAULT_SESSION, snapstart._loader
    yield
    bootstrap.use(deps)
    boto3.DEFAULT_SESSION = session
    snapstart._loader = loader


def test_outside_lambda_enable_registers_nothing():
    assert "snapshot_restore_py" not in sys.modules
    assert snapstart.enable(services=("dynamodb",)) is False


def test_in_lambda_enable_registers_both_hooks(monkeypatch):
    registered = {}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda fn, *args: registered.setdefault("before", (fn, args))
    runtime.register_after_restore = lambda fn, *args: registered.setdefault("after", (fn, args))
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)

    def warm() -> None:
        return None

    assert snapstart.enable(services=("dynamodb", "sqs"), warmers=(warm,)) is True
    assert registered == {
        "before": (snapstart.before_snapshot, (("dynamodb", "sqs"), (warm,))),
        "after": (snapstart.after_restore, ()),
    }


def test_two_environments_restored_from_one_snapshot_draw_different_randomness():
    random.seed(17)
    snapshot = random.getstate()
    without_hook = random.random()
    drawn = []
    for _ in range(2):
        random.setstate(snapshot)  # what every restored environment starts from
        snapstart.after_restore()
        drawn.append(random.random())
    assert drawn[0] != drawn[1]
    assert without_hook not in drawn


def test_a_restore_drops_every_client_session_and_cached_secret():
    bootstrap.use(bootstrap.Deps(env={"TABLE_NAME": "t"}))
    boto3.setup_default_session()
    before = boto3.DEFAULT_SESSION
    parameters.base.DEFAULT_PROVIDERS["ssm"] = parameters.SSMProvider()
    parameters.base.DEFAULT_PROVIDERS["ssm"].store["/billing/test/stripe/secret-key"] = object()

    snapstart.after_restore()

    assert bootstrap._deps is None
    assert boto3.DEFAULT_SESSION is not before
    assert parameters.base.DEFAULT_PROVIDERS == {}


def test_before_the_snapshot_models_are_warmed_and_nothing_with_credentials_is_kept():
    warmed = []

    def builds_deps() -> None:
        warmed.append(bootstrap.deps())  # a warmer that builds what holds clients

    snapstart.before_snapshot(("dynamodb",), (builds_deps,))

    assert warmed and bootstrap._deps is None
    assert boto3.DEFAULT_SESSION is None
    assert snapstart._loader is not None
    model = snapstart._loader.load_service_model("dynamodb", "service-2")  # from the loader's cache
    assert model["metadata"]["serviceId"] == "DynamoDB"

    snapstart.after_restore()
    restored = boto3.DEFAULT_SESSION
    assert restored is not None
    assert restored._session.get_component("data_loader") is snapstart._loader  # noqa: SLF001
    assert restored._session._credentials is None  # noqa: SLF001 - resolved on first use, after the restore


def test_secrets_forget_is_harmless_before_any_secret_was_read(monkeypatch):
    monkeypatch.delitem(sys.modules, "aws_lambda_powertools.utilities.parameters", raising=False)
    secrets.forget()


def snapstart_functions():
    for name, function in tpl.resources(tpl.load(), "AWS::Serverless::Function").items():
        if function["Properties"].get("SnapStart"):
            yield name, function["Properties"]


def test_every_function_with_snapstart_publishes_an_alias_and_registers_the_hooks():
    found = dict(snapstart_functions())
    assert {"ApiFunction", "StripeWebhookFunction"} <= set(found)
    for name, properties in found.items():
        assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        assert properties["AutoPublishAlias"], f"{name}: SnapStart applies to published versions only"
        handler = ROOT / properties["CodeUri"] / (properties["Handler"].rpartition(".")[0] + ".py")
        assert "snapstart.enable(" in handler.read_text(), f"{name} does not register billing.snapstart's hooks"
