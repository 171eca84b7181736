"""The README's shell examples, run as written (bash and curl) against a stack started as the README says
(``--start 2026-12-02T10:00:00Z``, the instant its clock examples suit): only the API's address and the description
file's path are the test's own. Every curl fails the script on an HTTP error."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, serving

README = (ROOT / "README.md").read_text()
START = "2026-12-02T10:00:00Z"
# curl as the README's readers run it, plus: fail on an HTTP error, say nothing but the body, end with a newline
CURL = 'curl() { command curl -sS --fail-with-body "$@"; echo; }\n'


def block_after(text: str) -> str:
    """The first ```bash block after ``text`` in the README."""
    found = re.search(re.escape(text) + r".*?```bash\n(.*?)```", README, flags=re.S)
    assert found, f"no bash block after {text!r} in README.md"
    return found[1]


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("readme")
    with serving(work, start=START) as stack:
        yield stack, work / "stack.json"


def run(script: str, stack: dict, description: Path) -> list:
    """Run ``script`` as the README's reader would; every JSON document it printed, in order."""
    script = script.replace("http://127.0.0.1:8710", stack["api_base_url"])
    script = script.replace(".local/stack.json", str(description))
    command = ["bash", "-euo", "pipefail", "-c", CURL + script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-2000:]}"
    decoder, text, documents = json.JSONDecoder(), done.stdout, []
    position = 0
    while (position := _skip_space(text, position)) < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def test_the_first_request_makes_a_numbered_invoice_with_its_pay_link(started):
    stack, description = started
    [invoice] = run(block_after("## A first request"), stack, description)
    assert invoice["number"].startswith("INV-2026-") and invoice["status"] == "open" and invoice["total"] == 5304
    assert invoice["hosted_invoice_url"].startswith(stack["api_base_url"] + "/pay/")


def test_the_local_routes_do_what_the_readme_says(started):
    stack, description = started
    *moves, clock, emails, drained = run(block_after("Local-only routes"), stack, description)
    assert [m["now"][:15] for m in moves] == [
        "2026-12-04T10:0",  # 2 days after the start (plus the seconds the test took)
        "2026-12-04T16:3",  # then 6 h 30 min
        "2026-12-05T00:0",  # to the instant
        "2026-12-06T09:0",  # to that day's dunning sweep
    ]
    billing_runs = moves[0]["schedules"]["billing-local-billing-run"]
    assert billing_runs["fires"] == 2 * 24 and moves[0]["fires"] > billing_runs["fires"]
    assert moves[3]["schedules"]["billing-local-dunning-sweep"]["last"] == "2026-12-06T09:05:00Z"
    assert clock["now"].startswith("2026-12-06T09:0")
    assert "billing-local-dunning-sweep" in {s["name"] for s in clock["schedules"]}
    assert isinstance(emails["emails"], list) and drained["handled"] >= 0
