"""Who is calling the sandbox: the access token of a Graph call checked as Meta checks it
(unknown, revoked, expired, a wrong appsecret_proof), shared by the Graph routes and the
OAuth endpoints."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from metricx.sandbox import errors
from metricx.sandbox.errors import GraphError
from metricx.sandbox.state import SandboxState
from metricx.sandbox.tokens import TokenInfo, appsecret_proof, parse_user_token


def _fmt_session_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo("America/Los_Angeles")).strftime(
        "%A, %d-%b-%y %H:%M:%S %Z"
    )


def authenticate(state: SandboxState, params: dict[str, str]) -> TokenInfo:
    token = params.get("access_token", "")
    if not token:
        raise errors.no_token()
    info = parse_user_token(state.config.seed, token)
    if info is None:
        raise errors.invalid_token()
    proof = params.get("appsecret_proof")
    if proof and proof != appsecret_proof(state.config.app_secret, token):
        raise GraphError(
            100, "Invalid appsecret_proof provided in the API argument", is_transient=False
        )
    now = state.clock.now()
    with state.lock:
        subcode = state.revoked.get(info.nonce)
    if subcode is not None:
        raise errors.revoked_token(subcode)
    if state.faults.revoked_by_schedule(info, now):
        raise errors.revoked_token(460)
    if info.expired(now.timestamp()):
        raise errors.expired_token(
            _fmt_session_time(info.expires_at), _fmt_session_time(now.timestamp())
        )
    return info
