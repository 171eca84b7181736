"""The examples of docs/*.md, run or checked against what they name, so that none can rot (the README's are run by
tests/e2e/test_readme.py). What needs a cloud account (``sam deploy``, ``aws …``) is checked against the files it
relies on: the config environments, the template's parameters and the SSM names the functions read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from functions.api import app
from infra.local import clock_moves
from infra.local import template as tpl
from tests.e2e.conftest import ROOT
from tests.integration.conftest import FakeLambdaContext, http_event

DOCS = ROOT / "docs"


def blocks(name: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def inline_json(text: str) -> list[dict]:
    """Every inline code span of ``text`` that is a JSON object (a span may wrap over a line)."""
    return [json.loads(" ".join(span.split())) for span in re.findall(r"`(\{[^`]*\})`", text) if '"' in span]


def test_the_plan_of_subscriptions_md_is_one_the_api_takes(deps, tenant):
    (plan,) = blocks("subscriptions.md", "json")
    body = json.loads(plan)
    answer = app.lambda_handler(http_event("POST", "/v1/plans", tenant[1], body), FakeLambdaContext())
    assert answer["statusCode"] == 201, answer["body"]
    created = json.loads(answer["body"])
    assert {k: created[k] for k in ("name", "interval", "usage", "trial_days")} == {
        k: body[k] for k in ("name", "interval", "usage", "trial_days")
    }
    # the plan answers its prices keyed by currency, as the document says
    assert {c: p["amount"] for c, p in created["prices"].items()} == {
        p["currency"]: p["amount"] for p in body["prices"]
    }


def test_the_clock_moves_of_local_stack_md_are_moves_the_stack_takes():
    text = (DOCS / "local-stack.md").read_text()
    paragraph = text[text.index("- **Clock**") :].split("\n- **")[0]
    moves = inline_json(paragraph)
    assert {frozenset(m) for m in moves} >= {frozenset({"days"}), frozenset({"hours"}), frozenset({"to"})}
    now = datetime(2026, 12, 2, 10, tzinfo=UTC)
    for move in moves:
        target = clock_moves.target_of(move, now, lambda name, after: after + timedelta(hours=1), max_days=800)
        assert target is not None and target > now, move
    documented_codes = set(re.findall(r"`([a-z_]+)`", paragraph.split("a stable code")[1].split(")")[0]))
    raised_codes = set(re.findall(r'BadMove\(\s*"([a-z_]+)"', (ROOT / "infra/local/clock_moves.py").read_text()))
    assert documented_codes == raised_codes


@pytest.mark.parametrize(
    "line", [line for block in blocks("benchmarks.md", "") for line in block.splitlines() if "-m bench." in line]
)
def test_the_benchmark_commands_of_benchmarks_md_take_the_options_shown(line):
    module = re.search(r"-m (bench\.\w+)", line)[1]
    shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", line.split(module, 1)[1]))
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert shown and all(option in done.stdout for option in shown), (shown, done.stdout)


def test_the_deploy_commands_of_deploy_md_name_what_exists():
    commands = "\n".join(blocks("deploy.md", "bash"))
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", commands, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in re.findall(r"--config-env (\w+)", commands):
        assert "deploy" in config[env], env
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    overrides = re.search(r"--parameter-overrides (.*)", commands)[1]
    assert set(re.findall(r"(\w+)=", overrides)) <= set(template["Parameters"])
    for name in re.findall(r"--name (/billing/\S+)", commands):
        assert name.replace("<stage>", "${Stage}") in (ROOT / "template.yaml").read_text(), name
    stacks = {e["deploy"]["parameters"]["stack_name"] for e in config.values() if isinstance(e, dict) and "deploy" in e}
    assert set(re.findall(r"--stack-name (\S+)", commands)) <= stacks
    resources = set(tpl.resources(tpl.load(), "AWS::SQS::Queue"))
    assert set(re.findall(r"--logical-resource-id (\w+)", commands)) <= resources


class _Loader(yaml.SafeLoader):
    """template.yaml with its short-form intrinsics (``!Ref``, ``!Sub``…) read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
