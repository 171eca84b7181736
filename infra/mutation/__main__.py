"""``make mutation``: how well the tests pin the money rules, measured by mutating ``billing/domain``.

    python -m infra.mutation [--module money] [--jobs 2]

Two kinds of mutants, each run against the unit tests that exercise the domain (``DOMAIN_TESTS``):

- **inside functions**: mutmut (its operator set, its per-function test selection). mutmut imports the code it
  mutates from ``mutants/src`` (or ``mutants/``), so the layer's package is laid out as ``src/billing`` in a
  scratch directory, ``.mutation/``, with the unit tests beside it and a ``pyproject.toml`` that points mutmut
  at ``src/billing/domain``. Nothing in the repository moves;
- **module and class level**, which mutmut leaves alone (tables, constants, field limits): ``infra.mutation.tables``
  mutates them here, one at a time, and runs the tests of each mutated module.

It prints each module's score (killed of the non-equivalent mutants), lists what survived, and writes
docs/mutation.md. Survivors judged equivalent (no test could tell them apart) are listed with the reason in
``infra/mutation/equivalent.toml``; any other survivor is a gap. It exits 1 when any module, or all of them
together, is under the target (95 %).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

from infra.mutation import tables

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutation"
PACKAGE = ROOT / "layers" / "billing" / "billing"
EQUIVALENT = Path(__file__).with_name("equivalent.toml")
REPORT = ROOT / "docs" / "mutation.md"
TARGET = 95.0
KILLED = ("killed", "timeout", "caught by type check")  # mutmut's verdicts (and ours) for a mutant the tests caught
# Unit tests that run on the package alone (no local stack, no repository files): the domain's tests.
DOMAIN_TESTS = [
    "test_money.py",
    "test_stripe_money.py",
    "test_numbering_and_states.py",
    "test_payments.py",
    "test_periods.py",
    "test_plans.py",
    "test_pricing.py",
    "test_proration.py",
    "test_subscriptions.py",
    "test_dunning_policy.py",
    "test_email_render.py",
    "test_dunning_emails.py",
    "test_refund_email.py",
    "test_stripe_gateway_amounts.py",
    "test_state_tables.py",
    "test_payment_states.py",
    "test_invoice_lifecycle.py",
    "test_dunning_progress.py",
    "test_domain_refusals.py",
    "test_ids_and_times.py",
    "test_subscription_events.py",
    "test_model_defaults.py",
    "test_seller_profile.py",
    "test_monthly_recurring.py",
]
# ... but for these, which read the repository's files (not the package's)
REPOSITORY_TESTS = ["test_email_render.py::test_templates_ship_with_the_package"]
PYPROJECT = """\
[tool.mutmut]
source_paths = ["src"]
only_mutate = ["src/billing/domain/*"]
do_not_mutate = ["src/billing/domain/__init__.py"]
pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = [{deselect}]
filterwarnings = ["ignore:No application metrics to publish:UserWarning"]
"""


def prepare() -> None:
    """The scratch layout: ``src/billing`` (a copy of the layer's package) and the domain's unit tests."""
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(PACKAGE, WORK / "src" / "billing", ignore=shutil.ignore_patterns("__pycache__"))
    tests = WORK / "tests"
    (tests / "unit").mkdir(parents=True)
    for name in ("__init__.py", "conftest.py"):
        shutil.copy2(ROOT / "tests" / name, tests / name)
    shutil.copytree(ROOT / "tests" / "fixtures", tests / "fixtures", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "tests" / "unit" / "__init__.py", tests / "unit" / "__init__.py")
    for name in DOMAIN_TESTS:
        shutil.copy2(ROOT / "tests" / "unit" / name, tests / "unit" / name)
    deselect = ", ".join(f'"--deselect", "tests/unit/{test}"' for test in REPOSITORY_TESTS)
    (WORK / "pyproject.toml").write_text(PYPROJECT.replace("{deselect}", deselect))


def environment() -> dict[str, str]:
    """The tests import ``billing`` from the scratch copy only: not from the editable install of the repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PYTHONPATH"] = str(WORK / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_mutmut(jobs: int) -> dict[str, dict[str, str]]:
    """mutmut over the domain; its verdict for each mutant, by module."""
    mutmut = [sys.executable, "-m", "mutmut"]
    subprocess.run([*mutmut, "run", "--max-children", str(jobs)], cwd=WORK, env=environment(), check=True)
    verdicts: dict[str, dict[str, str]] = {}
    answer = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=WORK, env=environment(), check=True, capture_output=True, text=True
    )
    for line in answer.stdout.splitlines():
        if match := re.match(r"\s*(billing\.domain\.(\w+)\.\S+): (.+)$", line):
            verdicts.setdefault(match[2], {})[match[1]] = match[3].strip()
    return verdicts


def equivalent() -> dict[str, str]:
    """Mutant name -> why it is equivalent (no observable difference)."""
    return tomllib.loads(EQUIVALENT.read_text()).get("equivalent", {}) if EQUIVALENT.exists() else {}


def score(verdicts: dict[str, str], judged: dict[str, str]) -> tuple[int, int, list[str], list[str]]:
    """(killed, non-equivalent, survivors that are gaps, survivors judged equivalent)."""
    killed = sum(1 for v in verdicts.values() if v in KILLED)
    survived = sorted(name for name, v in verdicts.items() if v not in KILLED)
    gaps = [name for name in survived if name not in judged]
    equal = [name for name in survived if name in judged]
    return killed, len(verdicts) - len(equal), gaps, equal


def report(inside: dict[str, dict[str, str]], outside: dict[str, dict[str, str]]) -> tuple[str, bool]:
    judged = equivalent()
    lines = [
        "# Mutation testing",
        "",
        "`make mutation` (`python -m infra.mutation`) mutates `billing/domain` and runs the domain's unit tests",
        "against each mutant: mutmut inside functions, `infra/mutation/tables.py` for module- and class-level code",
        "(tables, constants, field limits) that mutmut leaves alone. Score: killed ÷ (all − judged equivalent).",
        f"Target: at least {TARGET:.0f} % per module and overall. Equivalent survivors, each with its reason, are in",
        "`infra/mutation/equivalent.toml`.",
        "",
        "| module | mutants | killed | equivalent | gaps | score |",
        "|---|---|---|---|---|---|",
    ]
    all_killed = all_counted = 0
    gaps_all: list[str] = []
    equal_all: list[str] = []
    under: list[str] = []
    for module in sorted(set(inside) | set(outside)):
        verdicts = {**inside.get(module, {}), **outside.get(module, {})}
        killed, counted, gaps, equal = score(verdicts, judged)
        all_killed, all_counted = all_killed + killed, all_counted + counted
        gaps_all += gaps
        equal_all += equal
        pct = 100.0 * killed / counted if counted else 100.0
        if pct < TARGET:
            under.append(f"{module} ({pct:.1f} %)")
        lines.append(f"| `{module}` | {len(verdicts)} | {killed} | {len(equal)} | {len(gaps)} | {pct:.1f} % |")
    overall = 100.0 * all_killed / all_counted if all_counted else 100.0
    if overall < TARGET:
        under.append(f"overall ({overall:.1f} %)")
    lines += [f"| **all** | | {all_killed} | {len(equal_all)} | {len(gaps_all)} | **{overall:.1f} %** |", ""]
    if under:
        lines += [f"**Under the {TARGET:.0f} % target:** {', '.join(under)}.", ""]
    if gaps_all:
        lines += ["## Surviving mutants (gaps)", ""] + [f"- `{name}`" for name in gaps_all] + [""]
    if equal_all:
        lines += ["## Survivors judged equivalent", ""]
        lines += [f"- `{name}`: {judged[name]}" for name in equal_all] + [""]
    return "\n".join(lines), not under


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", choices=("functions", "tables"), help="one kind of mutant only (no report)")
    args = parser.parse_args(argv)
    prepare()
    inside = run_mutmut(args.jobs) if args.only != "tables" else {}
    outside = tables.run(WORK, environment(), args.jobs) if args.only != "functions" else {}
    text, good = report(inside, outside)
    if args.only is None:
        REPORT.write_text(text)
    print(text)
    counts = Counter(v for verdicts in (*inside.values(), *outside.values()) for v in verdicts.values())
    print(json.dumps(dict(counts)), file=sys.stderr)
    if args.only is None:
        survivors = {
            name
            for verdicts in (*inside.values(), *outside.values())
            for name, verdict in verdicts.items()
            if verdict not in KILLED
        }
        stale = sorted(set(equivalent()) - survivors)
        if stale:  # killed now, renamed, or gone: the entry says nothing any more
            print("judged equivalent but not a survivor of this run:", *stale, sep="\n  ", file=sys.stderr)
    if not good:
        print(f"mutation score under {TARGET:.0f} % for a module or overall (see the table)", file=sys.stderr)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
