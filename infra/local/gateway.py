"""The local HTTP front door: API Gateway's routes from the template, plus local-only routes under ``/_local/``.

- ``GET  /_local/clock``: the stack's current time;
- ``POST /_local/clock/advance`` ``{"days": n, "hours": n, "minutes": n, "seconds": n}``: move the clock forward,
  firing the schedules that fall due on the way; answers what fired;
- ``POST /_local/drain``: deliver what is queued now;
- ``GET  /_local/emails``: the emails the local SES has sent.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from infra.local import aws
from infra.local.runtime import LocalRuntime


def _json(status: int, body: Any, content_type: str = "application/json") -> Response:
    return Response(json.dumps(body, default=str, indent=2), status=status, content_type=content_type)


class Gateway:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception as error:  # the local stack reports, never hangs up on a client
            response = _json(500, {"code": "local_runtime_error", "detail": repr(error)}, "application/problem+json")
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_local/"):
            return self.local(request)
        found = self.runtime.match(request.method, request.path)
        if found is None:
            return _json(404, {"message": "Not Found"})
        route, params = found
        event = self.runtime.http_event(
            route,
            params,
            request.method,
            request.path,
            request.query_string.decode(),
            {k: v for k, v in request.headers.items()},
            request.get_data(),
            request.remote_addr or "127.0.0.1",
        )
        answer = self.runtime.invoke(route.function, event)
        if isinstance(answer, str) or "statusCode" not in answer:
            return _json(200, answer)
        body = answer.get("body") or ""
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        response = Response(data, status=answer["statusCode"])
        response.headers.clear()
        for k, v in (answer.get("headers") or {}).items():
            response.headers[k] = v
        for cookie in answer.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        return response

    def local(self, request: Request) -> Response:
        rt = self.runtime
        if request.path == "/_local/clock" and request.method == "GET":
            return _json(200, {"now": rt.now().isoformat()})
        if request.path == "/_local/clock/advance" and request.method == "POST":
            spec = request.get_json(silent=True) or {}
            try:
                by = timedelta(**{k: float(spec[k]) for k in ("days", "hours", "minutes", "seconds") if k in spec})
            except (TypeError, ValueError):
                return _json(400, {"code": "invalid_duration", "detail": "give days/hours/minutes/seconds"})
            if by <= timedelta(0) or by > timedelta(days=800):
                return _json(400, {"code": "invalid_duration", "detail": "advance by more than 0 and at most 800 days"})
            fired = rt.advance(by)
            return _json(200, {"now": rt.now().isoformat(), "fired": fired})
        if request.path == "/_local/drain" and request.method == "POST":
            return _json(200, {"handled": rt.drain()})
        if request.path == "/_local/emails" and request.method == "GET":
            return _json(200, {"emails": aws.sent_emails()})
        return _json(404, {"code": "no_such_local_route"})


def serve(runtime: LocalRuntime, port: int = 0) -> BaseWSGIServer:
    """A threaded HTTP server on 127.0.0.1 (port 0: any free port); call ``serve_forever`` on it."""
    return make_server("127.0.0.1", port, Gateway(runtime), threaded=True)
