"""The FastAPI application: routers under /api/v1, one error envelope, request ids."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metricx import health, telemetry
from metricx.alerts import endpoints as alert_endpoints
from metricx.auth import endpoints as auth_endpoints
from metricx.auth.cookies import session_cookie_name
from metricx.auth.dependencies import current_principal
from metricx.config import Settings
from metricx.connections import endpoints as connection_endpoints
from metricx.connections import oauth_endpoints
from metricx.conversions import endpoints as conversion_endpoints
from metricx.creatives import endpoints as creative_endpoints
from metricx.db import request_budget
from metricx.errors import (
    DatabaseUnavailable,
    MetricxError,
    document_errors,
    envelope,
    walk_dependants,
)
from metricx.fx import endpoints as fx_endpoints
from metricx.ingest import endpoints as ingest_endpoints
from metricx.kit.inputs import NUL, NUL_REASON, document_nul_free_parameters, nul_in_query
from metricx.kit.priority import ReadsFirst
from metricx.logging import get_logger
from metricx.metrics import cache as answer_cache
from metricx.metrics import endpoints as metrics_endpoints
from metricx.notifications import endpoints as notification_endpoints
from metricx.quality import endpoints as quality_endpoints
from metricx.reports import endpoints as report_endpoints
from metricx.runtime import ACTIVITY, Runtime
from metricx.sync import endpoints as sync_endpoints
from metricx.web import pages_connect
from metricx.web.error_pages import error_page
from metricx.web.routes import is_page_request, mount_web
from metricx.workspaces import endpoints as workspace_endpoints

API_PREFIX = "/api/v1"
log = get_logger("metricx.http")


class RequestIdMiddleware:
    """Gives every request an id (or keeps a sane ``X-Request-ID``), logs it, echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id  # for the 500 answer
        ACTIVITY.touch()  # the server's memory keeper trims only when requests stop
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ACTIVITY.touch()
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class RefuseNulMiddleware:
    """Answers 422 to a request whose path, query string or a header holds a NUL (``%00``):
    PostgreSQL cannot store one, and checked here every query parameter and header of every
    endpoint is covered, including one added later. Body and form fields are checked by their
    type (``metricx.kit.inputs.Text``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _nul_in_request(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        field, location = found
        problem = {
            "field": field,
            "location": location,
            "reason": NUL_REASON,
            "type": "value_error",
        }
        answer = JSONResponse(
            envelope("validation_error", f"invalid request: {field}: {NUL_REASON}", [problem]),
            status_code=422,
        )
        await answer(scope, receive, send)


def _nul_in_request(scope: Scope) -> tuple[str, str] | None:
    """(field, location) of the first NUL in the request's path, query or headers; field is
    named as validation_error_handler names it (``query.kind``, ``header.idempotency-key``)."""
    if NUL in scope["path"]:
        return "path", "path"
    name = nul_in_query(scope.get("query_string", b""))
    if name is not None:
        return f"query.{name}", "query"
    for key, value in scope["headers"]:
        if b"\x00" in value:
            return f"header.{key.decode('latin-1')}", "header"
    return None


class DatabaseBudgetMiddleware:
    """Gives each request its database budget (``metricx.db.RequestBudget``): no statement it
    sends outlives METRICX_REQUEST_TIMEOUT_SECONDS from the request's last piece of body; the
    budget closes when the answer starts."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with request_budget(self.settings) as budget:

            async def receive_extending() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    budget.extend(self.settings.request_timeout_seconds)
                return message

            async def send_closing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    budget.open = False
                await send(message)

            await self.app(scope, receive_extending, send_closing)


class IngestLimitMiddleware:
    """At most ``limit`` HTTP ingests at once in this process; the others wait, their bodies
    not yet read. Parsing and preparing records is Python work that holds the interpreter:
    with every ingest client at work, dashboard questions queued behind it for seconds (query
    p95 3.7 s under bench/load.py). Waiting here holds no thread, connection or lock."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._turns: asyncio.Semaphore | None = None  # made on the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith(INGEST_SUFFIX)
        ):
            await self.app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.limit)
        async with self._turns:
            await self.app(scope, receive, send)


class ReadsFirstMiddleware:
    """Counts the questions (GET and HEAD requests) in flight, from arrival to the start of
    their answer, for ``metricx.kit.priority.ReadsFirst``: HTTP ingests step aside for them."""

    def __init__(self, app: ASGIApp, *, gate: ReadsFirst) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        self.gate.begin()
        counted = True

        async def send_ending(message: Message) -> None:
            nonlocal counted
            if counted and message["type"] == "http.response.start":
                counted = False
                self.gate.end()
            await send(message)

        try:
            await self.app(scope, receive, send_ending)
        finally:
            if counted:
                self.gate.end()


INGEST_SUFFIX = "/metrics/ingest"
GZIP_MINIMUM_BYTES = 1024
# zlib's level 9 (Starlette's default) spent 305 ms of CPU on a 1.4 MB answer (a 30-day
# series of 200 ads) for 3% fewer bytes than level 5 (41 ms); under load that CPU was taken
# from the questions themselves.
GZIP_LEVEL = 5


# The pages load their scripts and styles from /static only (no inline script, style or event
# handler; htmx is told not to inject its indicator style nor evaluate code); the favicon is
# a data: image; live updates are an EventSource to this origin.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Answers that are not pages (JSON, CSV, SSE) never load anything.
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
# FastAPI's interactive docs load Swagger UI / ReDoc from a CDN with an inline bootstrap
# script; they show the OpenAPI document only, never user data.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = "max-age=31536000"


def _security_headers(path: str, content_type: str, hsts: bool) -> list[tuple[bytes, bytes]]:
    if path in DOCS_PATHS:
        csp = DOCS_CSP
    elif content_type.startswith("text/html"):
        csp = PAGE_CSP
    else:
        csp = API_CSP
    headers = {
        "content-security-policy": csp,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
    }
    if not path.startswith("/static/"):
        # Pages and API answers carry someone's data (and CSRF tokens): never kept by the
        # browser or a shared cache. Only the static files are cacheable.
        headers["cache-control"] = "no-store"
    if hsts:
        headers["strict-transport-security"] = HSTS
    return [(k.encode(), v.encode()) for k, v in headers.items()]


class SecurityHeadersMiddleware:
    """Security headers on every response: a Content-Security-Policy (pages: own scripts and
    styles only; API: nothing at all), no framing, no MIME sniffing, same-origin referrers,
    ``Cache-Control: no-store`` outside /static, and HSTS when the base URL is https. A header
    the endpoint set itself is kept."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                for name, value in _security_headers(path, kind.decode("latin-1"), self.hsts):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


async def metricx_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MetricxError)
    return JSONResponse(
        envelope(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": _field_path(err.get("loc", ())),
            "location": str(err.get("loc", ("body",))[0]),
            "reason": err.get("msg", "invalid"),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['field']}: {p['reason']}" for p in problems[:5])
    if is_page_request(request):
        names = ", ".join(dict.fromkeys(str(p["field"]).split(".")[-1] for p in problems[:5]))
        return error_page(
            request,
            422,
            f"this address or form has a value metricx cannot use ({names}); check it and "
            "try again",
        )
    return JSONResponse(
        envelope("validation_error", f"invalid request: {summary}", problems), status_code=422
    )


# FastAPI's answer to a body it cannot decode (not UTF-8, a broken multipart form): invalid
# input like any other, so the same 422 as a body that is not JSON.
BODY_PARSE_ERROR = "There was an error parsing the body"


PAGE_MESSAGES = {
    404: "there is no page at this address; it may have moved, or the link is mistyped",
    405: "this page cannot be used that way; go back and try again",
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        problem = {"field": "body", "location": "body", "reason": "cannot be decoded (send UTF-8 "
                   "JSON)", "type": "body_decode"}  # fmt: skip
        return JSONResponse(
            envelope("validation_error", f"invalid request: body: {problem['reason']}", [problem]),
            status_code=422,
        )
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    if is_page_request(request) and exc.status_code >= 400:
        message = PAGE_MESSAGES.get(exc.status_code, str(exc.detail))
        return error_page(request, exc.status_code, message, headers=headers)
    return JSONResponse(
        envelope(codes.get(exc.status_code, "http_error"), str(exc.detail)),
        status_code=exc.status_code,
        headers=headers or None,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path answers. The router's own ``Allow`` names only those of
    the first route that matched the path, while GET and POST of one path are two routes."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    sqlalchemy.exc.OperationalError,  # unreachable, connect timeout, statement timeout, ...
    sqlalchemy.exc.InterfaceError,  # the connection was lost
    sqlalchemy.exc.TimeoutError,  # no free connection in the pool within pool_timeout
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def as_database_unavailable(exc: Exception) -> DatabaseUnavailable:
    """The 503 for a database failure. Its message never quotes the error: SQLAlchemy's and
    psycopg's messages carry the statement (and the server's detail may quote values)."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    orig = getattr(exc, "orig", None) or exc
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        message = "all database connections are busy; try again shortly"
    elif isinstance(orig, psycopg.errors.QueryCanceled):
        message = (
            "the database took too long to answer (it may be overloaded, or this request's "
            "query too expensive: narrow it if this persists); try again shortly"
        )
    else:
        message = "the database is unavailable; try again shortly"
    return DatabaseUnavailable(message)


async def database_error_handler(request: Request, exc: Exception) -> Response:
    """503 with Retry-After whenever the database fails a request: the JSON envelope for the
    API, a short page for a browser (rendered without the database)."""
    error = as_database_unavailable(exc)
    orig = getattr(exc, "orig", None) or exc
    log.warning(
        "database unavailable",
        path=request.url.path,
        error=type(orig).__name__,
        sqlstate=getattr(orig, "sqlstate", None),
    )
    if is_page_request(request):
        return error_page(
            request, error.status_code, error.message, look_up_viewer=False, headers=error.headers
        )
    return JSONResponse(
        envelope(error.code, error.message, error.details),
        status_code=error.status_code,
        headers=error.headers,
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    """The 500 answer (a page for a browser, rendered without the database). Starlette answers
    it from its outermost layer, outside every middleware, so the security headers and the
    request id are added here."""
    request_id = getattr(request.state, "request_id", "")
    log.error("unhandled error", exc_info=exc, request_id=request_id)
    hsts = request.app.state.runtime.settings.base_url.lower().startswith("https://")
    page = is_page_request(request)
    kind = "text/html" if page else "application/json"
    headers = {k.decode(): v.decode() for k, v in _security_headers(request.url.path, kind, hsts)}
    if request_id:
        headers["x-request-id"] = request_id
    if page:
        return error_page(
            request,
            500,
            "something went wrong on our side; it has been logged. Try again in a moment"
            + (f" (reference {request_id})" if request_id else ""),
            look_up_viewer=False,
            headers=headers,
        )
    return JSONResponse(
        envelope("internal_error", "something went wrong on our side; it has been logged"),
        status_code=500,
        headers=headers,
    )


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="metricx",
        version="0.1.0",
        description="Ad-performance analytics: Meta Ads structure and hourly/daily performance.",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    app.state.reads_first = ReadsFirst()
    answer_cache.ANSWERS.ttl = runtime.settings.answer_cache_seconds
    app.add_middleware(DatabaseBudgetMiddleware, settings=runtime.settings)
    app.add_middleware(IngestLimitMiddleware, limit=runtime.settings.ingest_concurrency)
    app.add_middleware(RefuseNulMiddleware)
    app.add_middleware(
        SecurityHeadersMiddleware, hsts=runtime.settings.base_url.lower().startswith("https://")
    )
    # Pages, JSON and static files compressed (not the live-update stream: Starlette leaves
    # text/event-stream alone); below 1 KB gzip saves less than it costs.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(ReadsFirstMiddleware, gate=app.state.reads_first)  # gzip counted
    app.add_middleware(RequestIdMiddleware)  # the outermost: it sees every answer
    app.add_exception_handler(MetricxError, metricx_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)

    mount_web(app)  # first: the web app's pages own "/"
    for database_error in DATABASE_ERRORS:  # after mount_web: pages get a page without the db
        app.add_exception_handler(database_error, database_error_handler)
    app.include_router(health.router)
    app.include_router(telemetry.router)
    for router in (
        auth_endpoints.router,
        workspace_endpoints.router,
        ingest_endpoints.router,
        metrics_endpoints.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(connection_endpoints.router, prefix=API_PREFIX)
    app.include_router(oauth_endpoints.router, prefix=API_PREFIX)
    app.include_router(pages_connect.router)
    app.include_router(alert_endpoints.router, prefix=API_PREFIX)
    app.include_router(notification_endpoints.router, prefix=API_PREFIX)
    app.include_router(report_endpoints.router, prefix=API_PREFIX)
    app.include_router(sync_endpoints.router, prefix=API_PREFIX)
    app.include_router(quality_endpoints.router, prefix=API_PREFIX)
    app.include_router(conversion_endpoints.router, prefix=API_PREFIX)
    app.include_router(fx_endpoints.router, prefix=API_PREFIX)
    app.include_router(creative_endpoints.router, prefix=API_PREFIX)
    telemetry.watch_database(runtime)
    _complete_openapi(app, ingest_endpoints.OPENAPI_SCHEMAS, session_cookie_name(runtime.settings))
    return app


def _complete_openapi(app: FastAPI, schemas: dict[str, Any], cookie: str) -> None:
    """The OpenAPI document, completed: the schemas that hand-written request bodies refer to,
    every error status each operation can answer (``metricx.errors.document_errors``), free-text
    parameters' refusal of NUL, and the credentials each operation needs."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(schemas)
            # An API key as a bearer token, or the browser's session cookie (whose
            # state-changing requests also send X-CSRF-Token).
            components["securitySchemes"] = {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key."},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie},
            }
            document_errors(document, app.routes)
            document_nul_free_parameters(document)
            _document_security(document, app.routes)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _document_security(document: dict[str, Any], routes: list[Any]) -> None:
    """Operations that need a principal name both ways of being one."""
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        calls = {d.call for d in walk_dependants(route.dependant)}
        if current_principal not in calls:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is not None:
                operation["security"] = [{"apiKey": []}, {"session": []}]
