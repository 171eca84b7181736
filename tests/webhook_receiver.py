"""A tenant's webhook receiver for the tests: a real HTTP server on 127.0.0.1 that verifies every request with the
``standardwebhooks`` library, and on command answers 200, fails (500), times out (sleeps, then answers 200: the
request reached it, the sender gave up), answers 410 Gone, or recovers. It counts what a receiver would see:
requests, verified ones, and duplicates (a ``webhook-id`` it had already taken)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    signatures: int
    verified: bool
    answered: int
    mode: str
    body: dict[str, Any] | None
    at: float = field(default_factory=time.time)


class Receiver:
    def __init__(self, sleep_seconds: float = 4.0) -> None:
        self.secrets: list[str] = []
        self.mode = "ok"
        # what to do with the 1st, 2nd, … request of each webhook id (then ``mode``): a story that does not depend
        # on when the test changes the mode
        self.script: list[str] = []
        self.sleep_seconds = sleep_seconds
        self.received: list[Received] = []
        self.taken: set[str] = set()  # webhook ids answered 2xx (or taken in before a timeout)
        self.duplicates = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.handle(self, body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verify(self, body: str, headers: dict[str, str]) -> tuple[bool, dict[str, Any] | None]:
        for secret in self.secrets:
            try:
                return True, Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
        return False, None

    def handle(self, request: BaseHTTPRequestHandler, body: str) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified, payload = self.verify(body, headers)
        webhook_id = headers.get("webhook-id", "")
        with self.lock:
            nth = sum(1 for r in self.received if r.webhook_id == webhook_id)
        mode = self.script[nth] if nth < len(self.script) else self.mode
        status = {"ok": 200, "fail": 500, "gone": 410, "timeout": 200}[mode] if verified else 400
        with self.lock:
            if verified and 200 <= status < 300:
                if webhook_id in self.taken:
                    self.duplicates += 1
                self.taken.add(webhook_id)
            self.received.append(
                Received(
                    webhook_id,
                    headers.get("webhook-timestamp", ""),
                    len(headers.get("webhook-signature", "").split()),
                    verified,
                    status,
                    mode,
                    payload,
                )
            )
        if mode == "timeout":
            time.sleep(self.sleep_seconds)
        answer = json.dumps({"received": verified}).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(answer)))
            request.end_headers()
            request.wfile.write(answer)
        except OSError:
            pass  # the sender gave up waiting

    def count(self, mode: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.received if mode is None or r.mode == mode)
