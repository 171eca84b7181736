"""The local HTTP front door: API Gateway's routes from the template, plus local-only routes under ``/_local/``.

- ``GET  /_local/clock``: the stack's current time, and each schedule with its next fire time;
- ``POST /_local/clock/advance``: move the clock forward by a duration (``{"days": 30}``, ``{"hours": 6}``), to an
  instant (``{"to": "2027-01-01T00:00:00Z"}``) or to a schedule's next fire (``{"to_next": "dunning-sweep",
  "after": "…"}``), firing the schedules that fall due on the way; answers a summary per schedule, and every fire
  with ``?detail=true`` (infra/local/clock_moves.py);
- ``POST /_local/drain``: deliver what is queued now;
- ``GET  /_local/emails``: the emails the local SES has sent, each with its kind, invoice and time of sending.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from infra.local import aws
from infra.local.clock_moves import BadMove, summary, target_of
from infra.local.runtime import MAX_ADVANCE_DAYS, LocalRuntime


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
            response = _problem(500, "local_runtime_error", repr(error))
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
            now = rt.now()
            schedules = [
                {"name": s.name, "expression": s.schedule.expression, "next_fire": rt.next_fire(s.name, now)}
                for s in rt.scheduled
            ]
            held = len(rt.delayed.held) if getattr(rt, "delayed", None) else 0
            return _json(200, {"now": now.isoformat(), "schedules": schedules, "delayed_messages": held})
        if request.path == "/_local/clock/advance" and request.method == "POST":
            return self.advance(request)
        if request.path == "/_local/drain" and request.method == "POST":
            return _json(200, {"handled": rt.drain()})
        if request.path == "/_local/emails" and request.method == "GET":
            assert rt.moto is not None
            with rt.moto.app.lock:  # moto's backends are read between requests, not during one
                emails = aws.sent_emails()
            return _json(200, {"emails": emails})
        return _json(404, {"code": "no_such_local_route"})

    def advance(self, request: Request) -> Response:
        rt = self.runtime
        try:  # whatever the Content-Type: `curl -d` sends JSON as a form
            spec = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _problem(400, "invalid_json", "the body is not JSON")
        try:
            target = target_of(spec, rt.now(), rt.next_fire, MAX_ADVANCE_DAYS)
            fired = rt.advance_to(target) if target else []
        except BadMove as bad:
            return _problem(400, bad.code, bad.detail)
        answer = {"now": rt.now().isoformat(), **summary(fired)}
        if request.args.get("detail") in ("1", "true"):
            answer["fired"] = fired
        return _json(200, answer)


def _problem(status: int, code: str, detail: str) -> Response:
    return _json(status, {"code": code, "detail": detail}, "application/problem+json")


def serve(runtime: LocalRuntime, port: int = 0) -> BaseWSGIServer:
    """A threaded HTTP server on 127.0.0.1 (port 0: any free port); call ``serve_forever`` on it."""
    return make_server("127.0.0.1", port, Gateway(runtime), threaded=True)
