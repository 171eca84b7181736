"""The seller profile over the API, and each invoice's and credit note's PDF: rendered once from its outbox event,
stored write-once, handed out as a short-lived link, showing the document as it was issued."""

from __future__ import annotations

import base64
import json
import subprocess
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from billing.adapters import keys
from billing.services import documents
from functions.api import app
from tests.integration.conftest import DOCUMENTS_BUCKET, FakeLambdaContext, http_event
from tests.integration.test_refunds_disputes_credit import FakeStripe, open_invoice, paid_invoice

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
PROFILE = {
    "legal_name": "Acme Cloud GmbH",
    "address": {
        "line1": "Hauptstr. 1",
        "line2": None,
        "city": "Berlin",
        "state": None,
        "postal_code": "10115",
        "country": "DE",
    },
    "tax_id": "DE123456789",
    "support_email": "billing@acme.example",
    "finance_email": "finance@acme.example",
    "logo": {"content_type": "image/png", "data": base64.b64encode(PNG).decode()},
    "footer": "Registered in Berlin, HRB 12345.",
    "default_locale": "en",
}


def call(method, path, key, body=None, headers=None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers), FakeLambdaContext())
    return answer["statusCode"], answer.get("headers") or {}, json.loads(answer["body"] or "null")


@pytest.fixture
def stripe_fake(deps):
    fake = FakeStripe()
    deps.__dict__["stripe"] = fake
    return fake


def customer(key, locale="en"):
    body = {"email": f"{locale}@example.com", "name": f"Customer {locale}", "locale": locale, "currency": "usd"}
    return call("POST", "/v1/customers", key, body)[2]["id"]


def render(deps, event_type, aggregate_id, tenant_id, **data):
    """The renderer's work for one outbox event, as the document queue hands it over."""
    events = deps.context.repo.events(keys.invoice(tenant_id, aggregate_id))
    event = next(e for e in events if e.type == event_type and all(e.data.get(k) == v for k, v in data.items()))
    return documents.render_for(deps.context, deps.documents, event, "https://billing.example")


def pdf_text(body: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(body)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def stored(key: str) -> list[dict]:
    return boto3.client("s3").list_object_versions(Bucket=DOCUMENTS_BUCKET, Prefix=key).get("Versions", [])


# --- the seller profile ----------------------------------------------------------------------------------------
def test_a_tenant_is_its_name_until_it_sets_a_profile(tenant):
    status, _, profile = call("GET", "/v1/settings/profile", tenant[1])
    assert status == 200 and profile["legal_name"] == "Acme Cloud" and profile["logo"] is None
    status, _, saved = call("PUT", "/v1/settings/profile", tenant[1], PROFILE)
    assert status == 200 and saved == PROFILE
    assert call("GET", "/v1/settings/profile", tenant[1])[2] == PROFILE


@pytest.mark.parametrize(
    ("logo", "why"),
    [
        ({"content_type": "image/png", "data": base64.b64encode(SVG).decode()}, "not a PNG"),
        ({"content_type": "image/svg+xml", "data": base64.b64encode(b"<svg><script/></svg>").decode()}, "SVG"),
        (
            {
                "content_type": "image/svg+xml",
                "data": base64.b64encode(
                    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
                ).decode(),
            },
            "SVG",
        ),
        (
            {
                "content_type": "image/svg+xml",
                "data": base64.b64encode(
                    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'
                ).decode(),
            },
            "SVG",
        ),
        (
            {
                "content_type": "image/svg+xml",
                "data": base64.b64encode(
                    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
                    b'<image x:href="https://tracker.example/p.png"/></svg>'
                ).decode(),
            },
            "SVG",
        ),
        ({"content_type": "image/gif", "data": base64.b64encode(PNG).decode()}, "image/png"),
        ({"content_type": "image/png", "data": base64.b64encode(PNG + b"\0" * 100_001).decode()}, "at most"),
        ({"content_type": "image/png", "data": "not base64!"}, "base64"),
    ],
)
def test_a_logo_that_is_not_a_small_harmless_image_is_refused_and_changes_nothing(tenant, logo, why):
    call("PUT", "/v1/settings/profile", tenant[1], PROFILE)
    status, _, problem = call("PUT", "/v1/settings/profile", tenant[1], {**PROFILE, "logo": logo})
    assert status == 422 and problem["code"] == "invalid_request" and why in json.dumps(problem)
    assert call("GET", "/v1/settings/profile", tenant[1])[2] == PROFILE


def test_a_profile_with_unknown_fields_or_a_bad_address_is_refused(tenant):
    for bad in (
        {**PROFILE, "vat": "x"},
        {**PROFILE, "legal_name": ""},
        {**PROFILE, "support_email": "nobody"},
        {**PROFILE, "address": {"country": "Germany"}},
        {**PROFILE, "default_locale": "de"},
    ):
        status, _, problem = call("PUT", "/v1/settings/profile", tenant[1], bad)
        assert status == 422 and problem["code"] == "invalid_request"
    assert call("GET", "/v1/settings/profile", tenant[1])[2]["legal_name"] == "Acme Cloud"


# --- PDFs ------------------------------------------------------------------------------------------------------
def test_an_invoice_pdf_is_rendered_once_from_its_event_and_linked_for_a_few_minutes(deps, tenant, tmp_path):
    tenant_id, key = tenant
    call("PUT", "/v1/settings/profile", key, PROFILE)
    invoice = open_invoice(key, customer(key), amount=12345)
    assert invoice["pdf_url"] is None
    status, headers, problem = call("GET", f"/v1/invoices/{invoice['id']}/pdf", key)
    assert status == 409 and problem["code"] == "pdf_not_ready" and headers["Retry-After"] == "5"

    stored_at = render(deps, "invoice.finalized", invoice["id"], tenant_id)
    assert stored_at == f"{tenant_id}/invoices/{invoice['id']}.pdf"
    again = call("GET", f"/v1/invoices/{invoice['id']}", key)[2]
    assert again["pdf_url"].endswith(f"/v1/invoices/{invoice['id']}/pdf")
    status, headers, _ = call("GET", f"/v1/invoices/{invoice['id']}/pdf", key)
    assert status == 302 and headers["Cache-Control"] == "no-store"
    link = urlsplit(headers["Location"])
    query = parse_qs(link.query)
    assert link.path.endswith(stored_at) and query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == [f'attachment; filename="{invoice["number"]}.pdf"']

    body = boto3.client("s3").get_object(Bucket=DOCUMENTS_BUCKET, Key=stored_at)["Body"].read()
    text = pdf_text(body, tmp_path)
    for shown in (invoice["number"], "Acme Cloud GmbH", "DE123456789", "Customer en", "$123.45"):
        assert shown in text

    # a redelivered event renders nothing and writes nothing
    assert render(deps, "invoice.finalized", invoice["id"], tenant_id) == stored_at
    assert len(stored(stored_at)) == 1
    ready = [
        e for e in deps.context.repo.events(keys.invoice(tenant_id, invoice["id"])) if e.type == "invoice.pdf_ready"
    ]
    assert len(ready) == 1


def test_a_renderer_that_died_after_storing_keeps_the_first_pdf_and_attaches_it(deps, tenant):
    tenant_id, key = tenant
    invoice = open_invoice(key, customer(key))
    stored_at = f"{tenant_id}/invoices/{invoice['id']}.pdf"
    assert deps.documents.put_once(stored_at, b"%PDF-1.7 the first rendering")
    assert render(deps, "invoice.finalized", invoice["id"], tenant_id) == stored_at
    versions = stored(stored_at)
    assert len(versions) == 1
    body = boto3.client("s3").get_object(Bucket=DOCUMENTS_BUCKET, Key=stored_at)["Body"].read()
    assert body == b"%PDF-1.7 the first rendering"
    assert call("GET", f"/v1/invoices/{invoice['id']}", key)[2]["pdf_url"]


def test_the_pdf_shows_the_invoice_as_issued_not_as_paid_later(deps, tenant, stripe_fake, tmp_path):
    tenant_id, key = tenant
    invoice, *_ = paid_invoice(deps, key, stripe_fake, amount=5000)
    assert invoice["status"] == "paid"
    stored_at = render(deps, "invoice.finalized", invoice["id"], tenant_id)
    body = boto3.client("s3").get_object(Bucket=DOCUMENTS_BUCKET, Key=stored_at)["Body"].read()
    text = pdf_text(body, tmp_path)
    assert "$50.00" in text and "https://billing.example/pay/" in text


def test_a_credit_note_pdf_is_rendered_and_linked_by_the_credit_note_id(deps, tenant, stripe_fake, tmp_path):
    tenant_id, key = tenant
    invoice, *_ = paid_invoice(deps, key, stripe_fake, amount=5000)
    status, _, note = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1500, "reason": "other"})
    assert status == 201
    status, headers, problem = call("GET", f"/v1/credit_notes/{note['id']}/pdf", key)
    assert status == 409 and problem["code"] == "pdf_not_ready" and headers["Retry-After"]

    stored_at = render(deps, "credit_note.issued", invoice["id"], tenant_id, credit_note_id=note["id"])
    assert stored_at == f"{tenant_id}/credit_notes/{note['id']}.pdf"
    status, headers, _ = call("GET", f"/v1/credit_notes/{note['id']}/pdf", key)
    assert status == 302 and urlsplit(headers["Location"]).path.endswith(stored_at)
    text = pdf_text(boto3.client("s3").get_object(Bucket=DOCUMENTS_BUCKET, Key=stored_at)["Body"].read(), tmp_path)
    assert note["number"] in text and invoice["number"] in text and "$15.00" in text


def test_a_missing_or_foreign_document_is_not_found(deps, tenant):
    tenant_id, key = tenant
    assert call("GET", "/v1/credit_notes/cn_nothing/pdf", key)[2]["code"] == "credit_note_not_found"
    assert call("GET", "/v1/invoices/in_nothing/pdf", key)[2]["code"] == "invoice_not_found"
    from billing.services import tenants

    other_key = tenants.create_tenant(deps.context, "Other")[1]
    invoice = open_invoice(key, customer(key))
    render(deps, "invoice.finalized", invoice["id"], tenant_id)
    status, _, problem = call("GET", f"/v1/invoices/{invoice['id']}/pdf", other_key)
    assert status == 404 and problem["code"] == "invoice_not_found"


def test_the_hosted_page_links_the_pdf_for_whoever_holds_its_link(deps, tenant):
    tenant_id, key = tenant
    invoice = open_invoice(key, customer(key))
    token_path = urlsplit(invoice["hosted_invoice_url"]).path
    status, headers, _ = page(f"{token_path}/pdf")
    assert status == 503 and headers["Retry-After"] == "5"  # being rendered
    assert f'href="{token_path}/pdf"' not in page(token_path)[2]
    stored_at = render(deps, "invoice.finalized", invoice["id"], tenant_id)
    assert f'href="{token_path}/pdf"' in page(token_path)[2]
    status, headers, _ = page(f"{token_path}/pdf")
    assert status == 302 and urlsplit(headers["Location"]).path.endswith(stored_at)
    tampered = token_path[:-1] + ("y" if token_path.endswith("x") else "x")  # its last character, changed
    status, _, body = page(f"{tampered}/pdf")
    assert status == 404 and invoice["number"] not in body


def page(path):
    answer = app.lambda_handler(http_event("GET", path), FakeLambdaContext())
    return answer["statusCode"], answer.get("headers") or {}, answer["body"]


class CapturingMailer:
    def __init__(self):
        self.sent = []

    def send(self, to, subject, text, html, from_name, reply_to, tags=None):
        self.sent.append({"to": to, "text": text, "from_name": from_name, "reply_to": reply_to})
        return f"msg-{len(self.sent)}"


def test_emails_come_from_the_seller_the_profile_names(deps, tenant):
    from billing.services import notifications

    tenant_id, key = tenant
    invoice = open_invoice(key, customer(key))
    finalized = next(
        e for e in deps.context.repo.events(keys.invoice(tenant_id, invoice["id"])) if e.type == "invoice.finalized"
    )
    before = CapturingMailer()
    notifications.notify(deps.context, before, finalized)
    assert (before.sent[0]["from_name"], before.sent[0]["reply_to"]) == ("Acme Cloud", None)
    call("PUT", "/v1/settings/profile", key, PROFILE)
    after = CapturingMailer()
    deps.context.repo.store.client.delete_item(  # forget that it was sent, to send it again
        TableName=deps.context.repo.store.table,
        Key={
            "pk": {"S": keys.invoice(tenant_id, invoice["id"])["pk"]},
            "sk": {"S": f"MAIL#{finalized.id}#invoice_issued"},
        },
    )
    notifications.notify(deps.context, after, finalized)
    assert (after.sent[0]["from_name"], after.sent[0]["reply_to"]) == ("Acme Cloud GmbH", "billing@acme.example")
    assert "Acme Cloud GmbH" in after.sent[0]["text"]
