"""Start the local stack in serve mode, as a developer would, and hand the tests its description file."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("stack")
    out = work / "stack.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local",
            "serve",
            "--port",
            "0",
            "--out",
            str(out),
            "--state-dir",
            str(work / "state"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
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


@pytest.fixture(scope="module")
def stripe_js(stack):
    """What Stripe.js does in the customer's browser, with the publishable side of the same localstripe."""
    return stripe.StripeClient(stack["stripe"]["secret_key"], base_addresses={"api": stack["stripe"]["api_base"]})
