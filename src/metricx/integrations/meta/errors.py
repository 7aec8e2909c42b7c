"""Meta's failures as typed outcomes. Only this package reads a Graph error code; everything
above it sees one of these classes and a plain-words message.

- TokenInvalidError: 190 (any subcode), 102, 104 -> connection needs_reauth, alert, syncs stop.
- PermissionLostError: 10, 200-299, 294, 100/33 -> the same, with the reason.
- ThrottledError: 4, 17, 32, 341, 613, 80000-80014 -> wait `retry_after` (the client waits up
  to a cap, then raises).
- TransientError: 1, 2, 2601, is_transient, HTTP 5xx, timeouts, non-JSON bodies -> retried
  with backoff and jitter.
- BadRequestError: anything else (100 invalid parameter, 3018 ...) -> fails with Meta's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from metricx.logging import redact_text

TOKEN_CODES = frozenset({102, 104, 190})
PERMISSION_CODES = frozenset({10, 294}) | frozenset(range(200, 300))
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80000, 80015))
TRANSIENT_CODES = frozenset({1, 2, 2601})
TOKEN_REASONS = {
    458: "the user removed the app",
    459: "the user's Facebook account is checkpointed",
    460: "the user changed their password or revoked access",
    463: "the token has expired",
    464: "the user's Facebook account is unconfirmed",
    467: "the token is not valid",
    492: "the user lost their role on the page",
}
URL_QUERY = re.compile(r"(https?://[^\s?\"']+|/[\w./-]+)\?[^\s\"']*")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """A message safe to log or store: no token, appsecret_proof, code or URL query string."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return redact_text(URL_QUERY.sub(r"\1?***", text))


class MetaError(Exception):
    """A failed Graph API call; ``message`` is safe to show, log and store."""

    kind = "meta_error"

    def __init__(
        self, message: str, *, code: int | None = None, subcode: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode

    def __str__(self) -> str:
        return self.message


class TokenInvalidError(MetaError):
    """The token expired, was revoked or is not valid: only a re-consent fixes it."""

    kind = "token_invalid"


class PermissionLostError(MetaError):
    """The token no longer grants access to this object or permission."""

    kind = "permission_lost"


class ThrottledError(MetaError):
    """Meta's rate limit was hit; ``retry_after`` seconds is how long Meta says to wait."""

    kind = "throttled"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        code: int | None = None,
        subcode: int | None = None,
    ) -> None:
        super().__init__(message, code=code, subcode=subcode)
        self.retry_after = retry_after


class TransientError(MetaError):
    """A temporary failure (Meta's or the network's); retrying later should work."""

    kind = "transient"


class BadRequestError(MetaError):
    """Meta refused the request as asked; retrying the same request will not help."""

    kind = "bad_request"


def classify(
    *,
    code: int | None,
    subcode: int | None,
    message: str,
    http_status: int | None,
    is_transient: bool,
    retry_after: float,
) -> MetaError:
    """The typed outcome of one Graph error body (``message`` already scrubbed)."""
    label = f"Meta error {code}" + (f"/{subcode}" if subcode else "")
    text = f"{message} ({label})"
    if code in TOKEN_CODES:
        reason = TOKEN_REASONS.get(subcode or 0, "the token is not valid")
        return TokenInvalidError(
            f"Meta no longer accepts this connection's token: {reason}. Reconnect the account. "
            f"({label}: {message})",
            code=code,
            subcode=subcode,
        )
    if code in PERMISSION_CODES or (code == 100 and subcode == 33):
        return PermissionLostError(
            f"Meta denies access: {message} Reconnect with the needed permissions or ask the "
            f"account's admin for access. ({label})",
            code=code,
            subcode=subcode,
        )
    if code in THROTTLE_CODES:
        return ThrottledError(
            f"Meta rate limit reached, retry in {int(retry_after)} s: {text}",
            retry_after=retry_after,
            code=code,
            subcode=subcode,
        )
    if code in TRANSIENT_CODES or is_transient or (http_status or 0) >= 500:
        return TransientError(f"Meta had a temporary problem: {text}", code=code, subcode=subcode)
    return BadRequestError(f"Meta refused the request: {text}", code=code, subcode=subcode)


# ---- what a caller asks of a failure (the codes and subcodes stay in this file) --------------

# The user took the app's access away on purpose: removed the app (458) or changed their
# password / revoked the session (460). A token that merely expired is not revoked.
REVOKED_SUBCODES = frozenset({458, 460})
# A synchronous insights call Meta refuses as too big or too slow: too much data per call
# (100/1487534), a timeout (100/1504018 or 2/1504038). An async report job is the answer.
TOO_MUCH_DATA = frozenset({(100, 1487534), (100, 1504018), (2, 1504038)})


# Meta's answer to a report job asking breakdown reach over 13 months back once the account's
# allowance of such jobs for the day is spent (its page also says such requests just omit it).
REACH_ALLOWANCE_SPENT = "Reach-related metric breakdowns are unavailable"


def is_reach_allowance_spent(err: MetaError) -> bool:
    """Meta refused breakdown reach for old days today: the same request without reach works."""
    return REACH_ALLOWANCE_SPENT.lower() in err.message.lower()


def is_token_invalid(err: MetaError) -> bool:
    """Only a re-consent fixes it: the connection needs reauth."""
    return isinstance(err, TokenInvalidError)


def is_token_revoked(err: MetaError) -> bool:
    """The token is invalid because the user revoked it (not because it expired)."""
    return is_token_invalid(err) and err.subcode in REVOKED_SUBCODES


def is_permission_lost(err: MetaError) -> bool:
    """The token no longer reaches this account or permission."""
    return isinstance(err, PermissionLostError)


def is_connection_lost(err: MetaError) -> bool:
    """The token or its access is gone: syncing this connection stops until reconnected."""
    return is_token_invalid(err) or is_permission_lost(err)


def is_throttled(err: MetaError) -> bool:
    return isinstance(err, ThrottledError)


def is_retryable(err: MetaError) -> bool:
    """Asking again later may work (anything but a request Meta refused as asked)."""
    return not isinstance(err, BadRequestError)


def is_too_much_data(err: MetaError) -> bool:
    """Meta refused a synchronous insights call as too big or too slow."""
    return (err.code, err.subcode) in TOO_MUCH_DATA
