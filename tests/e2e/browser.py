"""A real headless browser for the tests: Debian's Chromium (installed by `make test`, see the Makefile) driven by
Playwright, whose own browser download this machine cannot reach. One browser per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Screenshots of every page the browser tests see, kept after the run for a person to look at (not in git).
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
# As root, without a sandbox; no background networking (this machine's network is closed: Chromium would keep
# trying Google's hosts).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shoot(page: Any, folder: str, name: str, full_page: bool = True) -> Path:
    """A screenshot of ``page`` kept as ``.artifacts/screenshots/<folder>/<name>.png``."""
    path = SCREENSHOTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=full_page)
    return path
