"""The HTTP API resolver: routes, authentication, problem answers and the OpenAPI document, built once.

Each concern's router is included on the first request for it (``ROUTERS``, by path key): INIT imports the door
(authentication, problems, the read plans) and this table, and a request imports its concern's routes and services
once per container (docs/benchmarks.md, section 1, says what the first request of a concern pays). The OpenAPI
document, and a SnapStart snapshot before it is taken (billing.snapstart), include every router.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import threading
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from billing import bootstrap
from billing.actor import acting
from billing.api import limits, reads, scopes
from billing.api.openapi import complete as complete_openapi
from billing.api.problems import from_domain, problem, problem_answer
from billing.domain.errors import DomainError, RateLimited
from billing.services.tenants import authenticated_key

logger = Logger(child=True)
PUBLIC_PATHS = {"/openapi.json"}
PUBLIC_PREFIXES = ("/pay/", "/portal/", "/dashboard/")  # the pages: their token is the credential
FORM_PREFIXES = ("/portal/",)  # pages whose forms post form-encoded bodies (the portal's sign-in)
TITLE, VERSION = "Billing API", "1.0.0"

resolver = APIGatewayHttpResolver(enable_validation=True)


def require_tenant(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The tenant of the request's API key; the key (its id) is who acts. A page's door names its own actor. Each
    is within its rate limits (billing.adapters.rate_limiter): the tenant's, or a page's source address's and pay
    link's."""
    deps = bootstrap.deps()
    path = app.current_event.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        if path.startswith(PUBLIC_PREFIXES) and (wait := _page_wait(app, deps)):
            from billing.web.pages import accept_language, message_page

            answer = message_page(429, accept_language(app.current_event.headers or {}), too_many=True)
            answer.headers["Retry-After"] = str(wait)
            return answer
        with acting(None):
            return next_middleware(app)
    headers = app.current_event.headers or {}
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    ctx = deps.context
    with ctx.repo.store.read_scope():  # what the request reads ahead (billing.api.reads) ends with it
        caller = authenticated_key(ctx, auth, reads.planner(app, ctx, ctx.clock.now()))
        app.append_context(tenant_id=caller.tenant_id, scopes=caller.scopes)
        logger.append_keys(tenant_id=caller.tenant_id, api_key_id=caller.key_id)
        decision = deps.rate_limiter.admit("tenant", caller.tenant_id, ctx.clock.now(), caller.rate_limit)
        if not decision.admitted:
            logger.warning("tenant rate limited", extra={"retry_after": decision.retry_after})
            detail = f"this tenant has made too many requests: try again in {decision.retry_after} s"
            return from_domain(RateLimited(detail=detail, retry_after=decision.retry_after))
        route = app.context.get("_route")
        if route is not None and (needed := scopes.required(route.method, route.openapi_path)) not in caller.scopes:
            return problem(
                403,
                "insufficient_scope",
                f"this API key lacks the scope {needed}, which {route.method} {route.openapi_path} needs",
                required_scope=needed,
            )
        with acting("api_key", caller.key_id):
            return next_middleware(app)


def _page_wait(app: APIGatewayHttpResolver, deps: bootstrap.Deps) -> int:
    """Seconds a page request must wait (0: none): its source address's limit, and a pay link's own."""
    now, limiter = deps.context.clock.now(), deps.rate_limiter
    source = app.current_event.request_context.http.source_ip or "unknown"
    checks = [("source", source)]
    if app.current_event.path.startswith("/pay/"):
        checks.append(("link", app.current_event.path.split("/")[2]))  # the token: /pay/<token>[/pdf]
    for kind, name in checks:
        decision = limiter.admit(kind, name, now)
        if not decision.admitted:
            logger.warning("page rate limited", extra={"limit_kind": kind, "retry_after": decision.retry_after})
            return decision.retry_after
    return 0


def refuse_unknown_query(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """A query parameter the route does not take is refused, as an unknown body field is: a filter that is silently
    ignored (``?customer_id=`` on a route without it) answers more than was asked for."""
    route = app.context.get("_route")
    given = set(app.current_event.query_string_parameters or {})
    if route is not None and given and app.current_event.path.startswith("/v1/"):
        unknown = sorted(given - {param.alias for param in route.dependant.query_params})
        if unknown:
            known = sorted(param.alias for param in route.dependant.query_params)
            return problem(
                400,
                "unknown_query_parameter",
                f"this route takes no query parameter {', '.join(unknown)}"
                + (f" (it takes: {', '.join(known)})" if known else ""),
            )
    return next_middleware(app)


resolver.use(middlewares=[require_tenant, refuse_unknown_query])

# Every router, in the order the resolver takes them (one concern's routes among themselves keep theirs; no two
# routers' routes match the same request: tests/unit/test_lazy_routers.py), and the routers each path key needs. The
# key is a path's first segment, and its second under /v1/ (``path_key``); a test holds the table to the routes.
ROUTERS = (
    "billing.api.routes",
    "billing.api.collections",
    "billing.api.customers",
    "billing.api.privacy",
    "billing.api.offline_payments",
    "billing.api.events",
    "billing.web.hosted_page",
    "billing.web.portal",
    "billing.web.dashboard",
    "billing.api.webhooks",
    "billing.api.adjustments",
    "billing.api.coupons",
    "billing.api.tax",
    "billing.api.api_keys",
)
BY_PATH_KEY: dict[str, tuple[str, ...]] = {
    "/v1/api_keys": ("billing.api.api_keys",),
    "/dashboard": ("billing.web.dashboard",),
    "/pay": ("billing.web.hosted_page",),
    "/portal": ("billing.web.portal",),
    "/v1/collection_cases": ("billing.api.collections",),
    "/v1/coupons": ("billing.api.coupons",),
    "/v1/credit_notes": ("billing.api.routes",),
    "/v1/customers": (
        "billing.api.routes",
        "billing.api.customers",
        "billing.api.privacy",
        "billing.api.adjustments",
        "billing.api.coupons",
    ),
    "/v1/dashboard_sessions": ("billing.api.routes",),
    "/v1/events": ("billing.api.events",),
    "/v1/invoice_items": ("billing.api.adjustments",),
    "/v1/invoices": ("billing.api.routes", "billing.api.offline_payments", "billing.api.adjustments"),
    "/v1/orders": ("billing.api.routes",),
    "/v1/plans": ("billing.api.routes",),
    "/v1/promotion_codes": ("billing.api.coupons",),
    "/v1/reports": ("billing.api.routes",),
    "/v1/settings": ("billing.api.routes", "billing.api.tax"),
    "/v1/subscriptions": ("billing.api.routes", "billing.api.adjustments", "billing.api.coupons"),
    "/v1/tax_rates": ("billing.api.tax",),
    "/v1/usage": ("billing.api.routes",),
    "/v1/webhook_endpoints": ("billing.api.webhooks",),
}
included: set[str] = set()  # the routers the resolver has (per container)
_including = threading.Lock()  # the local stack serves requests from threads


def path_key(path: str) -> str:
    """The key of ``BY_PATH_KEY`` a request path falls under: ``/v1/orders/ord_1/approve`` -> ``/v1/orders``."""
    segments = path.strip("/").split("/")
    return "/" + "/".join(segments[:2] if segments[0] == "v1" else segments[:1])


def include(names: tuple[str, ...]) -> None:
    """Import and include the routers ``names`` not yet included (once each, in ``ROUTERS``' order)."""
    if included.issuperset(names):
        return
    with _including:
        for name in sorted(set(names) - included, key=ROUTERS.index):
            resolver.include_router(importlib.import_module(name).router)
            included.add(name)


def include_all() -> None:
    """Every router (the OpenAPI document, a SnapStart snapshot, a test that looks at every route)."""
    include(ROUTERS)


@resolver.get("/openapi.json", include_in_schema=False)
def openapi():  # noqa: ANN201 - raw JSON, outside the schema
    return Response(status_code=200, content_type="application/json", body=openapi_document())


@cache
def openapi_document() -> str:
    # Powertools' OpenAPI models (≈100 ms of pydantic classes) are needed only here, never to answer a request:
    # imported on the first GET /openapi.json (or before a SnapStart snapshot, billing.snapstart), not at INIT.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    include_all()
    generated = resolver.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="Storefront and finance API. Amounts are integers in the currency's minor unit.",
        security_schemes={"bearer": HTTPBearer(description="Tenant API key: Authorization: Bearer bk_…")},
        security=[{"bearer": []}],
    )
    return json.dumps(complete_openapi(json.loads(generated)), indent=2)


@resolver.exception_handler(DomainError)
def domain_error(error: DomainError) -> Response:
    return from_domain(error)


@resolver.exception_handler(RequestUnsupportedContentType)
def unsupported_media_type(_: RequestUnsupportedContentType) -> Response:
    return problem(415, "unsupported_media_type", "send the body as application/json")


@resolver.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    errors = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in error.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "the request body is not valid JSON")
    return problem(422, "invalid_request", "the request does not match the API's schema", errors=errors)


@resolver.not_found
def no_route(_: NotFoundError) -> Response:
    return problem(404, "no_such_route", f"no route {resolver.current_event.http_method} {resolver.current_event.path}")


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The API's front door: a body too large for its route (billing.api.limits) or not UTF-8 JSON is answered
    here, as a problem, before any parser (the resolver's request validation runs ahead of its middlewares and
    would fail on the latter with a 500); then the routers the path needs are included (once per container)."""
    refused = _body_refusal(event)
    if refused:
        return refused
    include(BY_PATH_KEY.get(path_key(event.get("rawPath") or "/"), ()))
    return resolver.resolve(event, context)


def _body_refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    body = event.get("body")
    if not body:
        return None
    path = event.get("rawPath", "")
    sent = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if sent > (limit := limits.max_body_bytes(path)):
        return problem_answer(413, "body_too_large", f"the body is {sent:,} bytes; {path} takes at most {limit:,}")
    if path.startswith(FORM_PREFIXES):
        return None
    headers = event.get("headers") or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        return problem_answer(415, "unsupported_media_type", "send the body as application/json")
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
        raw.decode()
    except (binascii.Error, UnicodeError):
        return problem_answer(400, "malformed_json", "the request body is not UTF-8 JSON")
    return None
