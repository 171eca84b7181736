"""The finance dashboard in a real headless browser (Chromium): a finance team opens its 30-minute link, sees the
known year of tests/fixtures/dashboard_facts.py in its language, with Chart.js (served here, pinned in infra/web)
drawing the MRR movements, invoiced and collected, and the dunning funnel; every figure on the page is the JSON
report's; the CSP holds (no script error, nothing refused). Screenshots in en, zh and ru at desktop and mobile width
are kept in .artifacts/screenshots/dashboard/.

The API runs in this process on moto with the facts in a directory (DirectoryFacts), behind a small HTTP server that
turns each request into the API Gateway event the function gets: the local stack's analytics export is another
test's subject (tests/e2e/test_reports_quarter.py), and a known scenario is simplest written as facts.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws

from billing import bootstrap
from billing.adapters.analytics import DirectoryFacts
from billing.adapters.clock import FixedClock
from billing.i18n import format_money, messages
from billing.services import tenants
from billing.web import dashboard as web_dashboard
from functions.api import app
from infra.local import template as tpl
from infra.local.stack import LOCAL_WIDE_LIMIT
from tests.e2e.browser import browser, shoot  # noqa: F401 - the fixture
from tests.e2e.test_hosted_page_browser import WIDTHS
from tests.fixtures.dashboard_facts import write_scenario
from tests.integration.conftest import FakeLambdaContext, sample_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
THROUGH = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


class Api(BaseHTTPRequestHandler):
    """One request as API Gateway (HTTP API, payload 2.0) hands it to the function; one at a time."""

    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        event = sample_event("http_api_request.json")
        event["headers"] = {k.lower(): v for k, v in self.headers.items()}
        event["rawPath"], event["rawQueryString"] = parts.path, parts.query
        event["routeKey"] = f"{method} {parts.path}"
        event["requestContext"]["http"].update(method=method, path=parts.path)
        event["queryStringParameters"] = dict(parse_qsl(parts.query)) or None
        event["body"], event["isBase64Encoded"] = body, False
        with self.lock:
            answer = app.lambda_handler(event, FakeLambdaContext())
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        self.send_response(answer["statusCode"])
        for name, value in (answer.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not web_dashboard.STATIC_FILES["chart.umd.min.js"].is_file():
        pytest.fail("Chart.js is not installed: run `make install`")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    base = f"http://127.0.0.1:{server.server_port}"
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    with mock_aws():
        boto3.client("dynamodb").create_table(**tpl.table_definition(tpl.load(), "Table", "billing-dashboard"))
        # one address (loopback) and a clock that stands still: the local stack's wide page limits, or every
        # request after the 30th would be one second's too many
        wide = {"SOURCE_RATE_LIMIT": LOCAL_WIDE_LIMIT, "LINK_RATE_LIMIT": LOCAL_WIDE_LIMIT}
        deps = bootstrap.Deps(env={**os.environ, **wide, "TABLE_NAME": "billing-dashboard", "PUBLIC_BASE_URL": base})
        deps.__dict__["clock"] = FixedClock(NOW)
        bootstrap.use(deps)
        tenant, key = tenants.create_tenant(deps.context, "Northwind Analytics")
        root = write_scenario(tmp_path_factory.mktemp("facts"), tenant.id)
        deps.__dict__["facts"] = DirectoryFacts(root, data_through=THROUGH)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield {"base": base, "key": key}
        finally:
            server.shutdown()
            server.server_close()
            bootstrap.use(None)
            os.environ.clear()
            os.environ.update(saved)


def dashboard_url(served: dict[str, Any], locale: str) -> str:
    answer = requests.post(
        served["base"] + "/v1/dashboard_sessions",
        json={"locale": locale},
        headers={"Authorization": f"Bearer {served['key']}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["url"]


def watched(chromium: Any, width: str) -> tuple[Any, list[str]]:
    """A new page at ``width`` that records every script error, CSP refusal and failed request."""
    page = chromium.new_page(viewport=dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    return page, errors


CHARTS = """() => [...document.querySelectorAll('canvas[data-chart]')].map(canvas => {
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return {
    kind: canvas.dataset.chart, currency: canvas.dataset.currency, painted, width: canvas.width,
    labels: chart ? chart.data.labels : null,
    datasets: chart ? chart.data.datasets.map(d => ({label: d.label, data: d.data})) : null,
  };
})"""


def report(page: Any, url: str, name: str) -> dict[str, Any]:
    """The report as the dashboard's JSON link gives it, fetched by the page itself (its session, its origin)."""
    path = urlsplit(url).path
    return page.evaluate(f"async () => (await fetch('{path}/reports/{name}.json')).json()")


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_the_charts_draw_the_reports_and_the_page_shows_their_numbers(served, browser, locale):  # noqa: F811
    url = dashboard_url(served, locale)
    d = messages(locale)["dashboard"]
    for width in WIDTHS:
        page, errors = watched(browser, width)
        page.goto(url)
        page.wait_for_function("() => document.querySelectorAll('.chart.drawn').length === 6")
        assert page.locator("h1").inner_text() == d["heading"]
        assert page.locator("html").get_attribute("lang") == messages(locale)["html_lang"]

        charts = page.evaluate(CHARTS)
        assert [(c["kind"], c["currency"]) for c in charts] == [
            ("mrr", "eur"), ("mrr", "usd"), ("flows", "eur"), ("flows", "usd"), ("funnel", "eur"), ("funnel", "usd"),
        ]  # fmt: skip
        for chart in charts:
            assert chart["datasets"] is not None, chart["kind"]  # a Chart instance on the canvas
            assert chart["painted"] > 0.02 * chart["width"] * 100, chart["kind"]  # not blank

        mrr, revenue, collections, aging = (report(page, url, n) for n in ("mrr", "revenue", "collections", "aging"))
        usd_mrr = next(c for c in charts if c["kind"] == "mrr" and c["currency"] == "usd")
        months = [r for r in mrr["months"] if r["currency"] == "usd"]
        by_label = {s["label"]: s["data"] for s in usd_mrr["datasets"]}
        assert len(usd_mrr["labels"]) == len(months) == 12
        for key in ("new", "expansion", "reactivation", "contraction", "churn"):
            assert by_label[d[key]] == [r[key] / 100 for r in months], key
        assert by_label[d["mrr_line"]] == [r["mrr_end"] / 100 for r in months]
        assert min(by_label[d["churn"]]) == -15.0 and max(by_label[d["reactivation"]]) == 12.0
        flows = next(c for c in charts if c["kind"] == "flows" and c["currency"] == "usd")
        usd_revenue = [r for r in revenue["months"] if r["currency"] == "usd"]
        assert {s["label"]: s["data"] for s in flows["datasets"]} == {
            d["invoiced"]: [r["invoiced"] / 100 for r in usd_revenue],
            d["collected"]: [r["collected"] / 100 for r in usd_revenue],
        }
        funnel = next(c for c in charts if c["kind"] == "funnel" and c["currency"] == "usd")
        usd_collections = [r for r in collections["months"] if r["currency"] == "usd"]
        expected = [sum(r[k] for r in usd_collections) for k in ("entered_dunning", "recovered", "written_off")]
        assert funnel["datasets"][0]["data"] == expected == [5, 1, 1]

        # every amount on the page: its minor units are the report's, its text format_money's
        cells = page.locator("#aging tr.aging-total td[data-amount]").evaluate_all(
            "cells => cells.map(c => [c.closest('tr').dataset.currency, c.dataset.key, +c.dataset.amount, c.innerText])"
        )
        totals = {r["currency"]: r for r in aging["totals"]}
        assert len(cells) == 12
        for currency, key, amount, text in cells:
            assert amount == totals[currency][key] and text == format_money(amount, currency, locale)
        rows = page.locator("#top-overdue tr.overdue-customer").evaluate_all(
            "rows => rows.map(r => [r.dataset.customer, +r.querySelector('[data-key=total]').dataset.amount])"
        )
        customers = {r["customer_id"]: r["total"] for r in aging["customers"]}
        assert rows == [[c, customers[c]] for c in ("cus_dora", "cus_ada", "cus_chen", "cus_bob")]
        mrr_now = page.locator("#mrr .currency-block[data-currency=usd] [data-key=mrr_end]")
        assert int(mrr_now.get_attribute("data-amount")) == months[-1]["mrr_end"]
        assert mrr_now.inner_text() == format_money(months[-1]["mrr_end"], "usd", locale)
        assert page.locator("#data-through").get_attribute("data-through") == aging["data_through"]

        shoot(page, "dashboard", f"overview-{locale}-{width}")
        assert errors == []
        page.close()


def test_a_panel_downloads_its_csv_and_the_form_asks_for_other_months(served, browser):  # noqa: F811
    url = dashboard_url(served, "en")
    page, errors = watched(browser, "desktop")
    page.goto(url)
    with page.expect_download() as download:
        page.click("#top-overdue a.csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("currency,customer_id,customer_name,not_due") and len(lines) == 5
    assert download.value.suggested_filename == "aging-customers-2025-12-01-2026-11-23.csv"

    page.fill("#from", "2026-06")
    page.fill("#to", "2026-09")
    page.select_option("#currency", "usd")
    page.click("form.filter button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('.chart.drawn').length === 3")
    assert (
        page.evaluate("() => Chart.getChart(document.querySelector('canvas[data-chart=mrr]')).data.labels.length") == 4
    )
    assert page.locator("#currency").input_value() == "usd"
    shoot(page, "dashboard", "usd-june-to-september-desktop")

    page.fill("#from", "2026-10")
    page.click("form.filter button[type=submit]")
    assert page.locator("p.error").inner_text() == messages("en")["dashboard"]["error_invalid_range"]
    shoot(page, "dashboard", "invalid-range-desktop")
    assert len(errors) == 2 and all("422" in e for e in errors)  # the refused question itself, nothing else


def test_a_tampered_or_expired_link_shows_nothing(served, browser):  # noqa: F811
    url = dashboard_url(served, "zh")
    page, _ = watched(browser, "mobile")
    answer = page.goto(url[:-1] + ("A" if url[-1] != "A" else "B"))
    assert answer.status == 404 and "Ada" not in page.content()
    shoot(page, "dashboard", "not-found-mobile")
    clock = bootstrap.deps().clock
    clock.advance(timedelta(minutes=30))
    try:
        answer = page.goto(url, wait_until="load")
        assert answer.status == 410 and "Ada" not in page.content()
        assert page.locator("h1").inner_text() == messages("zh")["dashboard"]["expired_title"]
        shoot(page, "dashboard", "expired-zh-mobile")
    finally:
        clock.at = NOW
