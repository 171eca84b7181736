"""The HTTP side of a webhook delivery (billing.adapters.webhook_http) against a real server on 127.0.0.1: no
redirect followed, at most 256 characters of an answer kept, a silent server given up on at the timeout, and the
SSRF policy applied again at send time to what the name resolves to then (DNS rebinding), with no connection made."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from billing.adapters.webhook_http import READ_AT_MOST, WebhookSender


class Server:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"ok")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, data = server.answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.http.server_address[1]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


def test_a_post_carries_the_body_and_headers_and_keeps_a_short_excerpt(server):
    server.answer = (200, {}, b"x" * (READ_AT_MOST * 4))
    sender = WebhookSender(allow_local=True, timeout=2)
    outcome = sender.post(f"http://127.0.0.1:{server.port}/in?k=1", '{"a":1}', {"webhook-id": "evt_1"})
    assert outcome.succeeded and outcome.response_code == 200 and len(outcome.body_excerpt) == 256
    (request,) = server.requests
    assert request["path"] == "/in?k=1" and request["body"] == b'{"a":1}'
    assert request["headers"]["webhook-id"] == "evt_1" and request["headers"]["Content-Type"] == "application/json"


def test_a_redirect_is_not_followed(server):
    server.answer = (302, {"Location": "http://169.254.169.254/latest/meta-data"}, b"")
    outcome = WebhookSender(allow_local=True, timeout=2).post(f"http://127.0.0.1:{server.port}/", "{}", {})
    assert outcome.response_code == 302 and not outcome.succeeded
    assert len(server.requests) == 1


def test_a_name_that_now_resolves_inward_is_refused_without_a_connection(server):
    rebinding = WebhookSender(allow_local=False, timeout=2, resolver=lambda host, port: ["10.0.0.7"])
    outcome = rebinding.post("https://hooks.example.com/", "{}", {})
    assert outcome.response_code is None and outcome.error.startswith("url_not_allowed")
    assert "private" in outcome.error
    # and in the cloud a loopback server is not reached, even by its address
    outcome = WebhookSender(allow_local=False, timeout=2).post(f"https://127.0.0.1:{server.port}/", "{}", {})
    assert outcome.error.startswith("url_not_allowed") and server.requests == []


def test_a_connection_refused_is_an_outcome_not_an_exception():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    outcome = WebhookSender(allow_local=True, timeout=2).post(f"http://127.0.0.1:{port}/", "{}", {})
    assert outcome.response_code is None and outcome.error.startswith("connection_failed")


def test_a_silent_server_is_given_up_on_at_the_timeout():
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        started = time.monotonic()
        outcome = WebhookSender(allow_local=True, timeout=0.5).post(
            f"http://127.0.0.1:{listener.getsockname()[1]}/", "{}", {}
        )
        assert outcome.error.startswith("timeout") and time.monotonic() - started < 2
    finally:
        listener.close()
