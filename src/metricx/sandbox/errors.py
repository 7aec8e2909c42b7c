"""Graph API errors in Meta's exact JSON shape (META_API.md §7, meta-payloads/error_*.json)."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from metricx.sandbox.hashing import mix

_trace_counter = itertools.count(1)


def fbtrace_id() -> str:
    raw = mix(0xFB, next(_trace_counter)).to_bytes(8, "big") + b"\x00"
    return base64.b64encode(raw).decode()[:11].replace("/", "_").replace("+", "-")


class GraphError(Exception):
    """An error the sandbox answers with `{"error": {...}}` and an HTTP status."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        type_: str = "OAuthException",
        status: int = 400,
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.type = type_
        self.status = status
        self.is_transient = is_transient
        self.user_title = user_title
        self.user_msg = user_msg
        self.headers = headers or {}  # replace the usage headers the response would carry

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.is_transient is not None:
            err["is_transient"] = self.is_transient
        if self.user_title is not None:
            err["error_user_title"] = self.user_title
        if self.user_msg is not None:
            err["error_user_msg"] = self.user_msg
        err["fbtrace_id"] = fbtrace_id()
        return {"error": err}


# ---- builders for the errors the sandbox produces ------------------------------------------


def no_token() -> GraphError:
    return GraphError(104, "An access token is required to request this resource.")


def invalid_token(
    detail: str = "Invalid OAuth access token - Cannot parse access token",
) -> GraphError:
    return GraphError(190, detail, subcode=467, is_transient=False)


def expired_token(expired_at: str, now: str) -> GraphError:
    return GraphError(
        190,
        f"Error validating access token: Session has expired on {expired_at}."
        f" The current time is {now}.",
        subcode=463,
        is_transient=False,
    )


def revoked_token(subcode: int = 460) -> GraphError:
    messages = {
        458: "Error validating access token: The user has not authorized application.",
        460: "Error validating access token: The session has been invalidated because the user"
        " changed their password or Facebook has changed the session for security reasons.",
    }
    return GraphError(
        190,
        messages.get(subcode, "Error validating access token: The session is invalid."),
        subcode=subcode,
        is_transient=False,
    )


def unsupported_get(object_id: str, method: str = "get") -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not"
        " exist, cannot be loaded due to missing permissions, or does not support"
        " this operation. Please read the Graph API documentation at"
        " https://developers.facebook.com/docs/graph-api",
        subcode=33,
        type_="GraphMethodException",
    )


def invalid_param(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, f"(#100) {message}", subcode=subcode, is_transient=False)


def reach_limit() -> GraphError:
    """A report job asking breakdown reach over 13 months back, the day's allowance spent
    ([guess] code 100: Meta documents only the message)."""
    return invalid_param(
        "Reach-related metric breakdowns are unavailable due to rate limit threshold."
    )


def data_per_call_limit() -> GraphError:
    return GraphError(
        100,
        "Please reduce the amount of data you're asking for, then retry your request",
        subcode=1487534,
        is_transient=False,
    )


def unknown_field(field: str, node_type: str) -> GraphError:
    return GraphError(
        100,
        f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})",
        is_transient=False,
    )


def unknown_path(path: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: /{path}")


def permission_missing_200() -> GraphError:
    return GraphError(
        200,
        "(#200) Ad account owner has NOT grant ads_management or ads_read permission",
        status=403,
        is_transient=False,
    )


def permission_denied_10() -> GraphError:
    return GraphError(
        10, "(#10) Application does not have permission for this action", is_transient=False
    )


def deprecated_version(version: str, current: str) -> GraphError:
    return GraphError(
        2635,
        f"(#2635) You are calling a deprecated version of the Ads API."
        f" Please update to the latest version: {current}.",
        is_transient=False,
    )


def user_request_limit() -> GraphError:
    return GraphError(
        17,
        "(#17) User request limit reached",
        subcode=2446079,
        is_transient=True,
        user_title="Ad Account Has Too Many API Calls",
        user_msg="There have been too many calls from this ad-account. Please"
        " wait a bit and try again.",
    )


def custom_rate_limit() -> GraphError:
    return GraphError(
        613,
        "(#613) Calls to this api have exceeded the rate limit.",
        subcode=1487742,
        is_transient=True,
        user_title="Too many calls",
        user_msg="There have been too many calls"
        " from this ad-account. Please wait a bit and try again.",
    )


def buc_limit(code: int) -> GraphError:
    direction = "from" if code == 80000 else "to"
    return GraphError(
        code,
        f"(#{code}) There have been too many calls {direction} this"
        " ad-account. Wait a bit and try again. For more info, please refer to"
        " https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        subcode=2446079,
        is_transient=True,
    )


def unknown_error() -> GraphError:
    return GraphError(1, "An unknown error occurred", is_transient=True)


def service_unavailable() -> GraphError:
    return GraphError(2, "(#2) Service temporarily unavailable", is_transient=True)


def server_error() -> GraphError:
    return GraphError(
        2,
        "An unexpected error has occurred. Please retry your request later.",
        status=500,
        is_transient=True,
    )


def report_not_ready() -> GraphError:
    return GraphError(
        2601,
        "Error accessing adreport job.",
        subcode=1815107,
        is_transient=True,
        user_title="Loading Async Ads Report Failed",
        user_msg="Sorry, the report cannot be loaded successfully. Please check if"
        " your job status is completed instead of failed or running before"
        " fetching the data.",
    )


def start_too_old() -> GraphError:
    return GraphError(
        3018,
        "(#3018) The start date of the time range cannot be beyond 37 months from the current date",
        is_transient=False,
    )
