"""The finance dashboard without a browser: an API key asks for a 30-minute link, the link opens the page (and its
reports as JSON and CSV) and nothing else does; what the page shows is what the reports say. The facts are the known
year of tests/fixtures/dashboard_facts.py, read by DirectoryFacts as the API reads the analytics bucket's."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from billing.adapters import keys
from billing.adapters.analytics import DirectoryFacts
from billing.i18n import messages
from billing.services import reports
from billing.web import dashboard as web_dashboard
from functions.api import app
from tests.fixtures.dashboard_facts import write_scenario
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event
from tests.integration.test_docs_examples import blocks

THROUGH = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.fixture
def facts(deps, tenant, tmp_path):
    tenant_id, _ = tenant
    found = DirectoryFacts(write_scenario(tmp_path / "facts", tenant_id), data_through=THROUGH)
    deps.__dict__["facts"] = found
    return found


def call(method, path, key=None, body=None, headers=None, query=None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers, query), FakeLambdaContext())
    return answer["statusCode"], {k.lower(): v for k, v in (answer.get("headers") or {}).items()}, answer["body"]


def open_link(key, **body):
    status, _, answer = call("POST", "/v1/dashboard_sessions", key, body)
    assert status == 201, answer
    session = json.loads(answer)
    return urlsplit(session["url"]).path, session


def amounts(body, selector_attr):
    """{(currency, data-key): minor units} of the amount cells in the rows marked ``selector_attr``."""
    found = {}
    for row in re.findall(rf'<tr class="{selector_attr}"[^>]*data-currency="(\w+)"[^>]*>(.*?)</tr>', body, re.S):
        currency, cells = row
        for key, amount in re.findall(r'data-key="(\w+)" data-amount="(-?\d+)"', cells):
            found[(currency, key)] = int(amount)
    return found


def test_an_api_key_opens_a_link_for_30_minutes_and_the_table_keeps_only_a_digest(deps, tenant, clock, facts):
    tenant_id, key = tenant
    path, session = open_link(key)
    assert session["object"] == "dashboard_session" and session["locale"] == "en"
    assert session["expires_at"] == (clock.now() + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert re.fullmatch(rf"/dashboard/{tenant_id}\.bds_\w+\.[\w-]+", path) and key not in session["url"]
    secret = path.rsplit(".", 1)[1]
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={k: {"S": v} for k, v in keys.page_session("dashboard", tenant_id, session["id"]).items()}
    )["Item"]
    assert item["type"]["S"] == "dashboard_session" and secret not in json.dumps(item)

    status, headers, body = call("GET", path)
    assert status == 200 and "Ada Lovelace Ltd" in body
    csp = headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp and "stripe" not in csp
    assert re.search(r"script-src 'self' 'nonce-[\w-]+';", csp) and "frame-src 'none'" in csp
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"

    clock.advance(timedelta(minutes=29, seconds=59))
    assert call("GET", path)[0] == 200
    clock.advance(timedelta(seconds=1))
    status, _, body = call("GET", path)
    assert status == 410 and messages("en")["dashboard"]["expired_title"] in body and "Ada" not in body
    assert call("GET", path + "/reports/aging.json")[0] == 410


def test_an_idempotent_replay_answers_the_session_without_its_link_and_no_link_is_stored(deps, tenant, facts):
    _, key = tenant
    headers = {"Idempotency-Key": "dash-1"}
    status, _, first = call("POST", "/v1/dashboard_sessions", key, {}, headers)
    status_again, replayed, again = call("POST", "/v1/dashboard_sessions", key, {}, headers)
    first, again = json.loads(first), json.loads(again)
    assert status == status_again == 201 and replayed.get("idempotent-replayed") == "true"
    assert again["id"] == first["id"] and again["url"] is None and first["url"].startswith("http")
    secret = urlsplit(first["url"]).path.rsplit(".", 1)[1]
    assert secret not in json.dumps(boto3.client("dynamodb").scan(TableName=TABLE)["Items"])  # a test may scan


def test_a_body_is_optional_a_locale_is_one_of_three_and_the_key_is_required(deps, tenant, facts):
    _, key = tenant
    status, _, answer = call("POST", "/v1/dashboard_sessions", key)
    assert status == 201 and json.loads(answer)["locale"] == "en"
    assert open_link(key, locale="zh")[1]["locale"] == "zh"
    for body in ({"locale": "de"}, {"locale": "en", "scopes": ["all"]}):
        status, headers, answer = call("POST", "/v1/dashboard_sessions", key, body)
        assert status == 422 and headers["content-type"] == "application/problem+json"
        assert json.loads(answer)["code"] == "invalid_request"
    assert call("POST", "/v1/dashboard_sessions", None, {})[0] == 401


def test_a_forged_tampered_or_foreign_link_is_the_same_404_page(deps, tenant, facts):
    tenant_id, key = tenant
    path, _ = open_link(key)
    ana = {"email": "ana@example.com", "name": "Ana", "locale": "en", "currency": "usd"}
    portal_customer = json.loads(call("POST", "/v1/customers", key, ana)[2])["id"]
    portal = json.loads(call("POST", f"/v1/customers/{portal_customer}/portal_sessions", key, {})[2])["url"]
    forged = [
        path[:-1] + ("A" if path[-1] != "A" else "B"),  # another secret
        path.replace(tenant_id, "ten_00000000000000000000000000"),  # another tenant
        "/dashboard/" + urlsplit(portal).path.removeprefix("/portal/"),  # a portal session is no dashboard session
        "/dashboard/nonsense",
        "/dashboard/" + "a" * 300,
        "/dashboard/x.y.z",
    ]
    for wrong in forged:
        for suffix in ("", "/reports/aging.json", "/reports/aging.csv"):
            status, headers, body = call("GET", wrong + suffix)
            assert status == 404 and headers["content-type"].startswith("text/html"), (wrong, suffix)
            assert "Ada" not in body


def test_the_page_shows_what_the_reports_say(deps, tenant, facts):
    _, key = tenant
    path, _ = open_link(key)
    status, _, body = call("GET", path)
    assert status == 200
    names = ("aging", "mrr", "revenue", "collections")
    api = {name: json.loads(call("GET", f"/v1/reports/{name}", key)[2]) for name in names}
    served = {name: json.loads(call("GET", f"{path}/reports/{name}.json")[2]) for name in api}
    assert served == api  # the dashboard's JSON is the API's answer
    embedded = json.loads(html.unescape(re.search(r'id="dashboard-data"[^>]*>(.*?)</script>', body, re.S)[1]))
    assert embedded["reports"] == api and embedded["lang"] == "en"

    totals = amounts(body, "aging-total")
    for row in api["aging"]["totals"]:
        for k in ("not_due", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total"):
            assert totals[(row["currency"], k)] == row[k]
    assert totals[("usd", "total")] == 28000 and totals[("eur", "days_31_60")] == 9900
    assert "$280.00" in body and "€99.00" in body  # format_money's text beside the minor units

    overdue = re.findall(r'<tr class="overdue-customer" data-customer="(\w+)" data-currency="(\w+)"', body)
    assert overdue == [("cus_dora", "eur"), ("cus_ada", "usd"), ("cus_chen", "usd"), ("cus_bob", "usd")]
    last_usd = [r for r in api["mrr"]["months"] if r["currency"] == "usd"][-1]
    assert f'data-key="mrr_end" data-amount="{last_usd["mrr_end"]}"' in body and last_usd["mrr_end"] == 6700
    assert re.search(r'data-stage="written_off"><td>[^<]+</td><td class="num" data-key="written_off">1</td>', body)
    assert "Balances as of November 23, 2026" in body and "Data through November 23, 2026 06:00 UTC" in body
    assert body.count("<canvas") == 6  # MRR and invoiced/collected per currency, a funnel per currency


def test_each_panel_downloads_its_csv_as_the_api_answers_it(deps, tenant, facts):
    _, key = tenant
    path, _ = open_link(key)
    body = call("GET", path, query={"from": "2026-06", "to": "2026-11", "currency": "usd"})[2]
    links = re.findall(r'<a class="csv" href="([^"]+)"', body)
    assert len(links) == 6
    for link in links:
        link = html.unescape(link)
        parts = urlsplit(link)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["from"] == "2026-06-01" and query["to"] == "2026-11-30" and query["currency"] == "usd"
        status, headers, csv = call("GET", parts.path, query=query)
        assert status == 200 and headers["content-type"] == "text/csv; charset=utf-8", link
        assert headers["content-disposition"].startswith("attachment; filename=")
        name = parts.path.rsplit("/", 1)[1].removesuffix(".csv")
        api = json.loads(call("GET", f"/v1/reports/{name}", key, query=query)[2])
        assert csv == reports.as_csv(api, query["section"])  # what the API's CSV of the same answer holds


def test_a_question_that_makes_no_sense_shows_the_form_again_and_no_page_answers_500(deps, tenant, facts):
    _, key = tenant
    path, _ = open_link(key, locale="ru")
    status, _, body = call("GET", path, query={"from": "2026-13"})
    assert status == 422 and messages("ru")["dashboard"]["error_invalid_date"] in body and "<form" in body
    status, _, body = call("GET", path, query={"from": "2026-10", "to": "2026-01"})
    assert status == 422 and html.escape(messages("ru")["dashboard"]["error_invalid_range"]) in body
    status, headers, answer = call("GET", path + "/reports/mrr.json", query={"from": "2020-01", "to": "2026-01"})
    assert status == 422 and json.loads(answer)["code"] == "range_too_long"
    assert call("GET", path + "/reports/aging.csv", query={"section": "nope"})[0] == 422
    for unknown in ("statement.json", "aging.xml", "aging", ".json"):
        assert call("GET", f"{path}/reports/{unknown}")[0] == 404

    class Broken:
        def open(self, tenant_id):
            raise OSError("the bucket is not there")

    deps.__dict__["facts"] = Broken()
    status, _, body = call("GET", path)
    assert status == 503 and messages("ru")["dashboard"]["unavailable_title"] in body


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_the_page_speaks_the_sessions_language_or_the_one_switched_to(deps, tenant, facts, lang):
    _, key = tenant
    path, _ = open_link(key, locale=lang)
    d = messages(lang)["dashboard"]
    body = call("GET", path)[2]
    assert f'<html lang="{messages(lang)["html_lang"]}">' in body
    assert f"<h1>{d['heading']}</h1>" in body and html.escape(d["top_overdue"]) in body
    other = "ru" if lang != "ru" else "zh"
    assert messages(other)["dashboard"]["heading"] in call("GET", path, query={"lang": other})[2]


def test_the_scripts_are_served_here_for_a_year_and_nothing_else_is(deps, tenant, facts):
    _, key = tenant
    path, _ = open_link(key)
    body = call("GET", path)[2]
    scripts = re.findall(r'<script src="([^"]+)"', body)
    assert [urlsplit(s).path.rsplit("/", 1)[1] for s in scripts] == ["chart.umd.min.js", "dashboard.js"]
    for script in scripts:
        if "chart.umd" in script and not web_dashboard.STATIC_FILES["chart.umd.min.js"].is_file():
            pytest.fail("Chart.js is not installed: run `make install`")
        status, headers, text = call("GET", urlsplit(script).path)
        assert status == 200 and headers["content-type"] == "text/javascript; charset=utf-8"
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "Chart.js v4.6.1" in call("GET", "/dashboard/static/chart.umd.min.js")[2][:200]
    for other in ("chart.js.LICENSE.md", "..%2Fdashboard.py", "dashboard.html"):
        assert call("GET", f"/dashboard/static/{other}")[0] == 404


def test_the_example_of_api_md_is_what_the_api_answers(deps, tenant, facts):
    (block,) = [b for b in blocks("api.md", "sh") if "/v1/dashboard_sessions" in b]
    path = re.search(r'"\$API(/v1/[\w/]+)"', block)[1]
    body = json.loads(re.search(r"-d '([^']*)'", block)[1])
    status, _, answer = call("POST", path, tenant[1], body)
    shown = dict(re.findall(r'"(\w+)": "([^"]*)"', "\n".join(line for line in block.splitlines() if line[:1] == "#")))
    answered = json.loads(answer)
    assert status == 201 and set(shown) == set(answered)
    assert {k: v for k, v in shown.items() if "…" not in v} == {k: answered[k] for k in ("object", "locale")}


@pytest.mark.parametrize(
    "query",
    [
        {"currency": "zzz"},
        {"currency": "<script>"},
        {"currency": "usd" * 50},
        {"from": "2026-02-30"},
        {"from": "x" * 500},
        {"to": "9999-12"},
        {"lang": "<b>", "from": "'\""},
        {"section": "no such section ☃"},
    ],
)
def test_no_question_makes_a_page_or_a_report_file_answer_500(deps, tenant, facts, query):
    _, key = tenant
    path, _ = open_link(key)
    for suffix in ("", "/reports/aging.json", "/reports/mrr.csv"):
        status, headers, body = call("GET", path + suffix, query=query)
        assert status < 500, (suffix, body)
        if headers["content-type"].startswith("text/html"):
            assert "<script>" not in body and "<b>" not in body
