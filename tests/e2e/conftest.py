"""Start the local stack in serve mode, as a developer would, and hand the tests its description file."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serving(work: Path, start: str | None = None) -> Iterator[dict[str, Any]]:
    """``python -m infra.local serve`` in ``work``, as a developer starts it, its clock at ``start`` (default: what
    BILLING_LOCAL_START says, else now); yields its description file."""
    out = work / "stack.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    command = [sys.executable, "-m", "infra.local", "serve", "--port", "0", "--out", str(out)]
    command += ["--state-dir", str(work / "state")] + (["--start", start] if start else [])
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not out.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.poll() is not None else ""
                pytest.fail(f"the local stack did not start:\n{output}")
            time.sleep(0.2)
        description = json.loads(out.read_text())
        description["state_dir"] = str(work / "state")
        yield description
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with serving(tmp_path_factory.mktemp("stack")) as description:
        yield description


class Storefront:
    def __init__(self, stack: dict[str, Any]) -> None:
        self.base = stack["api_base_url"]
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {stack['api_key']}"

    def post(self, path: str, body: Any = None, timeout: float = 30, **headers: str) -> requests.Response:
        return self.http.post(self.base + path, json=body, headers=headers, timeout=timeout)

    def get(self, path: str, **params: str) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)


@pytest.fixture(scope="module")
def shop(stack: dict[str, Any]) -> Storefront:
    return Storefront(stack)


def stripe_client(stack: dict[str, Any]) -> stripe.StripeClient:
    """What Stripe.js does in the customer's browser, with the publishable side of the same localstripe."""
    return stripe.StripeClient(stack["stripe"]["secret_key"], base_addresses={"api": stack["stripe"]["api_base"]})


@pytest.fixture(scope="module")
def stripe_js(stack):
    return stripe_client(stack)
