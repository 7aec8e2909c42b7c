"""One error hierarchy, one JSON envelope: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


class MetricxError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class InvalidInput(MetricxError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(MetricxError):
    status_code = 401
    code = "unauthorized"


class Forbidden(MetricxError):
    status_code = 403
    code = "forbidden"


class NotFound(MetricxError):
    status_code = 404
    code = "not_found"


class Conflict(MetricxError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(MetricxError):
    status_code = 413
    code = "payload_too_large"


class TooManyRequests(MetricxError):
    status_code = 429
    code = "too_many_requests"


class UpstreamError(MetricxError):
    status_code = 502
    code = "upstream_error"


class ServiceUnavailable(MetricxError):
    status_code = 503
    code = "service_unavailable"


# How long a client is told to wait before retrying when the database is unavailable.
DATABASE_RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The database is unreachable, too slow or out of connections: retry later."""

    code = "database_unavailable"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(
            message,
            details=details,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """What every error response looks like."""

    error: ErrorBody


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_responses(*errors: type[MetricxError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for an endpoint, so the OpenAPI document lists the errors it returns."""
    return {
        e.status_code: {"model": ErrorEnvelope, "description": e.__doc__ or e.code} for e in errors
    }


# The errors every request can meet before its endpoint runs, documented on each operation.
ERROR_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, malformed, unknown or revoked credentials",
    403: "Not allowed: a missing scope, an API key where a signed-in user is needed, or a "
    "missing or wrong CSRF token",
    404: "No such resource (or one of another workspace)",
    409: "Conflicts with the resource's current state",
    413: "The request body breaks a limit",
    415: "Unsupported Content-Type or Content-Encoding",
    422: "Invalid request: the envelope's `details` lists each problem as "
    "`{field, location, reason, type}`",
    429: "Too many requests: retry after `Retry-After` seconds",
    502: "Meta failed or could not be reached",
    503: "The database is unavailable or too slow: retry after `Retry-After` seconds",
}
RETRY_AFTER_STATUSES = frozenset({429, 503})
ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"


def raises(*errors: type[MetricxError]) -> Callable[[F], F]:
    """Marks a request dependency with the errors it can raise, so every operation that uses
    it documents them (``document_errors``)."""

    def mark(func: F) -> F:
        func.__metricx_errors__ = errors  # type: ignore[attr-defined]
        return func

    return mark


def document_errors(document: dict[str, Any], routes: Iterable[Any]) -> None:
    """Makes the OpenAPI document list, on every operation, each error status it can answer,
    with the JSON error envelope: those its endpoint declares (``responses=``), those its
    dependencies declare (``raises``: credentials, CSRF, scopes, the database), 422 for its
    parameters and body, 404 for its path. FastAPI's own 422 schema (``HTTPValidationError``)
    is replaced by the envelope, which is what the API answers."""
    from fastapi.routing import APIRoute, iter_route_contexts

    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(
        ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs")
    )
    schemas["ErrorEnvelope"] = {
        k: v
        for k, v in ErrorEnvelope.model_json_schema(
            ref_template="#/components/schemas/{model}"
        ).items()
        if k != "$defs"
    }
    for route in iter_route_contexts(list(routes)):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        item = document["paths"].get(route.path_format, {})
        statuses: set[int] = set()
        has_params = False
        for dependant in walk_dependants(route.dependant):
            for error in getattr(dependant.call, "__metricx_errors__", ()):
                statuses.add(error.status_code)
            if dependant.path_params:
                statuses.add(404)  # no such resource, or a path no route matches
            has_params = has_params or any(
                (dependant.path_params, dependant.query_params, dependant.header_params,
                 dependant.cookie_params, dependant.body_params)
            )  # fmt: skip
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            if has_params or "requestBody" in operation:
                statuses.add(422)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses | {int(s) for s in responses if s.isdigit()}):
                if status < 400:
                    continue
                _document_error(responses, status)
    referenced = json.dumps(document["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f'/{name}"' not in referenced:
            schemas.pop(name, None)


def walk_dependants(dependant: Any) -> Iterator[Any]:
    """A FastAPI route's dependant and all of its sub-dependencies, depth first."""
    yield dependant
    for sub in dependant.dependencies:
        yield from walk_dependants(sub)


def _document_error(responses: dict[str, Any], status: int) -> None:
    envelope_schema = {"$ref": ENVELOPE_REF}
    answer = responses.setdefault(
        str(status), {"description": ERROR_DESCRIPTIONS.get(status, "Error")}
    )
    media = answer.setdefault("content", {}).setdefault("application/json", {})
    schema = media.get("schema")
    if schema is None or schema.get("$ref", "").endswith("/HTTPValidationError"):
        media["schema"] = envelope_schema
    elif schema != envelope_schema and envelope_schema not in schema.get("anyOf", []):
        # The endpoint's own answer for this status (the ingest's 422), or the envelope.
        media["schema"] = {"anyOf": [schema, envelope_schema]}
    if status in RETRY_AFTER_STATUSES:
        answer.setdefault("headers", {})["Retry-After"] = {
            "description": "Seconds to wait before retrying",
            "required": status == 503,
            "schema": {"type": "integer", "minimum": 0},
        }
