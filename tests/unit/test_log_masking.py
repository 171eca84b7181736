"""Issue 11, item 17: personal data and secrets never reach the logs as they are."""

from __future__ import annotations

import io
import json
import logging

from aws_lambda_powertools import Logger

from billing.observability import MaskingFormatter, masked


def test_personal_fields_are_erased_at_any_depth_and_the_rest_kept():
    record = {
        "message": "notified",
        "invoice_id": "in_1",
        "to": "ana@example.com",
        "customer": {"email": "ana@example.com", "address": {"line1": "Rua 1"}, "id": "cus_1"},
        "intents": [{"id": "pi_1", "client_secret": "pi_1_secret_x"}],
    }
    assert masked(record) == {
        "message": "notified",
        "invoice_id": "in_1",
        "to": "*****",
        "customer": {"email": "*****", "address": "*****", "id": "cus_1"},
        "intents": [{"id": "pi_1", "client_secret": "*****"}],
    }
    assert record["to"] == "ana@example.com"  # the caller's data is not changed


def test_a_record_without_personal_fields_is_left_as_it_is():
    record = {"message": "relayed", "event_id": "evt_1", "queues": 2}
    assert masked(record) is record


def test_the_logger_writes_masked_lines():
    stream = io.StringIO()
    log = Logger(service="masking-test", level="INFO", logger_formatter=MaskingFormatter(), stream=stream)
    log.info("sent", extra={"to": "ana@example.com", "pay_token": "tok_secret", "invoice_id": "in_1"})
    line = json.loads(stream.getvalue())
    assert (line["to"], line["pay_token"], line["invoice_id"]) == ("*****", "*****", "in_1")
    assert "ana@example.com" not in stream.getvalue() and "tok_secret" not in stream.getvalue()
    logging.getLogger("masking-test").handlers.clear()
