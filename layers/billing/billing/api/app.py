"""The HTTP API resolver: routes, authentication, problem answers and the OpenAPI document, built once."""

from __future__ import annotations

import base64
import binascii
import json
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
from billing.api import (
    adjustments,
    api_keys,
    collections,
    coupons,
    customers,
    events,
    limits,
    offline_payments,
    reads,
    routes,
    scopes,
    tax,
    webhooks,
)
from billing.api.openapi import complete as complete_openapi
from billing.api.problems import from_domain, problem, problem_answer
from billing.domain.errors import DomainError
from billing.services.tenants import authenticated_key
from billing.web import dashboard, hosted_page, portal

logger = Logger(child=True)
PUBLIC_PATHS = {"/openapi.json"}
PUBLIC_PREFIXES = ("/pay/", "/portal/", "/dashboard/")  # the pages: their token is the credential
FORM_PREFIXES = ("/portal/",)  # pages whose forms post form-encoded bodies (the portal's sign-in)
TITLE, VERSION = "Billing API", "1.0.0"

resolver = APIGatewayHttpResolver(enable_validation=True)


def require_tenant(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The tenant of the request's API key; the key (its id) is who acts. A page's door names its own actor."""
    if app.current_event.path in PUBLIC_PATHS or app.current_event.path.startswith(PUBLIC_PREFIXES):
        with acting(None):
            return next_middleware(app)
    headers = app.current_event.headers or {}
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    ctx = bootstrap.deps().context
    with ctx.repo.store.read_scope():  # what the request reads ahead (billing.api.reads) ends with it
        caller = authenticated_key(ctx, auth, reads.planner(app, ctx, ctx.clock.now()))
        app.append_context(tenant_id=caller.tenant_id)
        logger.append_keys(tenant_id=caller.tenant_id, api_key_id=caller.key_id)
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
resolver.include_router(routes.router)
resolver.include_router(collections.router)
resolver.include_router(customers.router)
resolver.include_router(offline_payments.router)
resolver.include_router(events.router)
resolver.include_router(hosted_page.router)
resolver.include_router(portal.router)
resolver.include_router(dashboard.router)
resolver.include_router(webhooks.router)
resolver.include_router(adjustments.router)
resolver.include_router(coupons.router)
resolver.include_router(tax.router)
resolver.include_router(api_keys.router)


@resolver.get("/openapi.json", include_in_schema=False)
def openapi():  # noqa: ANN201 - raw JSON, outside the schema
    return Response(status_code=200, content_type="application/json", body=openapi_document())


@cache
def openapi_document() -> str:
    # Powertools' OpenAPI models (≈100 ms of pydantic classes) are needed only here, never to answer a request:
    # imported on the first GET /openapi.json (or before a SnapStart snapshot, billing.snapstart), not at INIT.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

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
    would fail on the latter with a 500)."""
    return _body_refusal(event) or resolver.resolve(event, context)


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
