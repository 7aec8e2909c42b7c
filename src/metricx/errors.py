"""One error hierarchy, one JSON envelope: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
