"""The Meta login round trip: a signed, single-use, short-lived state bound to the user and
workspace; the callback's exchanges; the pending account choice. Flushes, never commits.

On any failure before the token is stored nothing is written except the used state."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from metricx.auth.access import user_access
from metricx.auth.schemas import ApiKeyScope
from metricx.config import Settings
from metricx.connections import repository
from metricx.connections.service import connect_accounts
from metricx.connections.tokens import ClientFactory, default_client_factory, store_token
from metricx.errors import InvalidInput, MetricxError, NotFound, UpstreamError
from metricx.integrations.meta.client import AdAccountInfo
from metricx.integrations.meta.errors import MetaError
from metricx.integrations.meta.oauth import MetaOAuth
from metricx.kit.crypto import Cipher, Secret
from metricx.models import Connection, OAuthGrant, OAuthState, Provider

STATE_SALT = "metricx.oauth.meta.state"
GRANT_TTL = timedelta(hours=1)
OAuthFactory = Callable[[Settings], MetaOAuth]


class OAuthFailed(MetricxError):
    """The login round trip could not finish; the message says why in plain words."""

    status_code = 400
    code = "oauth_failed"


class OAuthDenied(OAuthFailed):
    """The person cancelled Meta's dialog (or Meta refused): nothing was connected. Knows the
    workspace, so a browser can be led back to its Connections page to try again."""

    code = "oauth_denied"

    def __init__(self, message: str, *, workspace_id: uuid.UUID) -> None:
        super().__init__(message)
        self.workspace_id = workspace_id


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=STATE_SALT)


CONNECT_REFUSAL = "connecting ad accounts needs the 'admin' permission in this workspace"


def require_admin(session: Session, *, workspace_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Connecting accounts needs the admin permission in the workspace (else 404 / 403)."""
    user_access(
        session,
        user_id=user_id,
        workspace_id=workspace_id,
        need=ApiKeyScope.ADMIN,
        refusal=CONNECT_REFUSAL,
    )


def start_authorization(
    session: Session,
    *,
    settings: Settings,
    secret_key: str,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID,
    reconnect_connection_id: uuid.UUID | None = None,
    oauth_factory: OAuthFactory = MetaOAuth,
) -> str:
    """The Meta dialog URL to send the browser to."""
    require_admin(session, workspace_id=workspace_id, user_id=user_id)
    if reconnect_connection_id is not None and (
        repository.connection(session, workspace_id, reconnect_connection_id) is None
    ):
        raise NotFound("no such connection")
    try:
        oauth = oauth_factory(settings)
    except MetaError as exc:
        raise InvalidInput(exc.message, code="meta_not_configured") from None
    row = OAuthState(
        provider=Provider.META,
        user_id=user_id,
        workspace_id=workspace_id,
        reconnect_connection_id=reconnect_connection_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.oauth_state_ttl_seconds),
    )
    session.add(row)
    session.flush()
    state = _serializer(secret_key).dumps({"s": str(row.id), "u": str(user_id)})
    return oauth.dialog_url(state)


def _claim(
    session: Session, *, secret_key: str, ttl: int, state: str, user_id: uuid.UUID
) -> OAuthState:
    try:
        payload: Any = _serializer(secret_key).loads(state, max_age=ttl)
        state_id = uuid.UUID(payload["s"])
        bound_user = uuid.UUID(payload["u"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise OAuthFailed(
            "this sign-in link is not valid or has expired; start connecting again",
            code="oauth_bad_state",
        ) from None
    if bound_user != user_id:
        raise OAuthFailed(
            "this sign-in was started by another user; start connecting again",
            code="oauth_bad_state",
        )
    row = repository.claim_state(session, state_id, datetime.now(UTC))
    if row is None:
        raise OAuthFailed(
            "this sign-in link was already used or has expired; start connecting again",
            code="oauth_bad_state",
        )
    return row


def handle_callback(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    secret_key: str,
    user_id: uuid.UUID,
    params: dict[str, str],
    oauth_factory: OAuthFactory = MetaOAuth,
    client_factory: ClientFactory = default_client_factory,
) -> OAuthGrant:
    """Validate the state, exchange the code, upgrade to a long-lived token, read its expiry and
    scopes, list its ad accounts, store it encrypted: the pending choice of accounts."""
    state = _claim(
        session,
        secret_key=secret_key,
        ttl=settings.oauth_state_ttl_seconds,
        state=params.get("state", ""),
        user_id=user_id,
    )
    require_admin(session, workspace_id=state.workspace_id, user_id=user_id)
    if params.get("error"):
        reason = params.get("error_reason") or params.get("error")
        raise OAuthDenied(
            "Meta did not grant access"
            + (" (you cancelled the dialog)" if reason == "user_denied" else f" ({reason})")
            + "; nothing was connected",
            workspace_id=state.workspace_id,
        )
    code = params.get("code", "")
    if not code:
        raise OAuthFailed("Meta sent no authorization code; start connecting again")
    try:
        oauth = oauth_factory(settings)
        short = oauth.exchange_code(code)
        long = oauth.exchange_long_lived(short.access_token)
        details = oauth.debug_token(long.access_token)
        if not details.is_valid:
            raise OAuthFailed(f"Meta says the new token is not valid: {details.problem}")
        accounts = list(client_factory(settings, Secret(long.access_token)).iter_ad_accounts())
    except MetaError as exc:
        raise UpstreamError(
            f"connecting to Meta failed: {exc.message}", code="oauth_exchange_failed"
        ) from None
    token = store_token(
        session,
        cipher,
        workspace_id=state.workspace_id,
        access_token=long.access_token,
        details=details,
        created_by=user_id,
    )
    grant = OAuthGrant(
        provider=Provider.META,
        user_id=user_id,
        workspace_id=state.workspace_id,
        token_id=token.id,
        reconnect_connection_id=state.reconnect_connection_id,
        accounts=[a.as_dict() for a in accounts],
        expires_at=datetime.now(UTC) + GRANT_TTL,
    )
    session.add(grant)
    session.flush()
    return grant


@dataclass
class PendingChoice:
    grant: OAuthGrant
    accounts: list[dict[str, Any]]  # each with "connected": bool and "preselected": bool


def pending(session: Session, *, grant_id: uuid.UUID, user_id: uuid.UUID) -> PendingChoice:
    grant = repository.grant(session, grant_id)
    if grant is None or grant.user_id != user_id:
        raise NotFound("no such pending connection")
    if grant.completed_at is not None or grant.expires_at < datetime.now(UTC):
        raise OAuthFailed("this account choice is finished or expired; connect again")
    connected = {
        c.external_account_id
        for c in repository.connections_of(session, grant.workspace_id)
        if c.token_id is not None
    }
    reconnect = (
        repository.connection(session, grant.workspace_id, grant.reconnect_connection_id)
        if grant.reconnect_connection_id
        else None
    )
    accounts = [
        {
            **a,
            "connected": a["id"] in connected,
            "preselected": a["id"] == reconnect.external_account_id
            if reconnect
            else a["id"] not in connected,
        }
        for a in grant.accounts
    ]
    return PendingChoice(grant, accounts)


def choose(
    session: Session, *, grant_id: uuid.UUID, user_id: uuid.UUID, account_ids: Sequence[str]
) -> list[Connection]:
    """The chosen accounts become connections (existing ones keep their row, new token)."""
    choice = pending(session, grant_id=grant_id, user_id=user_id)
    grant = choice.grant
    require_admin(session, workspace_id=grant.workspace_id, user_id=user_id)
    if not account_ids:
        raise InvalidInput("choose at least one ad account")
    available = {a["id"]: a for a in grant.accounts}
    unknown = [a for a in account_ids if a not in available]
    if unknown:
        raise InvalidInput("not an ad account of this Meta sign-in: " + ", ".join(unknown))
    token = repository.token(session, grant.workspace_id, grant.token_id)
    assert token is not None
    infos = [
        AdAccountInfo(
            id=a["id"],
            account_id=a["account_id"],
            name=a["name"],
            currency=a["currency"],
            timezone=a["timezone"],
            account_status=a.get("account_status"),
        )
        for a in (available[i] for i in dict.fromkeys(account_ids))
    ]
    rows = connect_accounts(session, workspace_id=grant.workspace_id, token=token, accounts=infos)
    grant.completed_at = datetime.now(UTC)
    session.flush()
    return rows
