"""Provider tokens at rest: encrypted with the runtime's MultiFernet, decrypted only at the point
of use, re-encrypted under the newest key by ``rotate_all``; and their health checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.connections import repository
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.errors import MetaError, PermissionLostError, TokenInvalidError
from metricx.integrations.meta.oauth import MetaOAuth, TokenDetails
from metricx.kit.crypto import Cipher, Secret
from metricx.logging import get_logger
from metricx.models import Provider, Token, TokenStatus

log = get_logger("metricx.connections")
ClientFactory = Callable[[Settings, Secret], MetaAdsClient]


def default_client_factory(settings: Settings, token: Secret) -> MetaAdsClient:
    return MetaAdsClient.from_settings(settings, token)


def store_token(
    session: Session,
    cipher: Cipher,
    *,
    workspace_id: uuid.UUID,
    access_token: str,
    details: TokenDetails | None,
    created_by: uuid.UUID | None,
    token_type: str = "user",
) -> Token:
    row = Token(
        workspace_id=workspace_id,
        provider=Provider.META,
        access_token_enc=cipher.encrypt(access_token),
        token_type=(details.token_type or token_type).lower() if details else token_type,
        external_user_id=details.user_id if details else None,
        expires_at=details.expires_at if details else None,
        data_access_expires_at=details.data_access_expires_at if details else None,
        scopes=details.scopes if details else [],
        status=TokenStatus.VALID,
        created_by_id=created_by,
        last_checked_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row


def reveal(cipher: Cipher, token: Token) -> Secret:
    return cipher.decrypt(token.access_token_enc)


def rotate_all(session: Session, cipher: Cipher, batch: int = 500) -> int:
    """Re-encrypt every token under the newest key (any configured key may open it)."""
    done = 0
    after: uuid.UUID | None = None
    while True:
        rows = repository.all_tokens_for_update(session, after, batch)
        if not rows:
            break
        for row in rows:
            row.access_token_enc = cipher.rotate(row.access_token_enc)
            if row.refresh_token_enc is not None:
                row.refresh_token_enc = cipher.rotate(row.refresh_token_enc)
        session.flush()
        done += len(rows)
        after = rows[-1].id
    return done


@dataclass
class TokenHealth:
    status: TokenStatus
    problem: str | None
    details: TokenDetails | None


def inspect(
    settings: Settings,
    token: Secret,
    *,
    client_factory: ClientFactory = default_client_factory,
    oauth_factory: Callable[[Settings], MetaOAuth] = MetaOAuth,
) -> TokenHealth:
    """Is the token valid, which scopes, until when. debug_token when the app is configured;
    otherwise (a system-user token without app credentials) /me and /me/permissions."""
    warn = timedelta(days=settings.token_expiry_warning_days)
    details: TokenDetails | None = None
    if settings.meta_app_id and settings.meta_app_secret:
        details = oauth_factory(settings).debug_token(token.reveal())
        if not details.is_valid:
            return TokenHealth(
                TokenStatus.INVALID, details.problem or "Meta says the token is not valid", details
            )
    else:
        client = client_factory(settings, token)
        try:
            me = client.get_me()
            scopes = client.granted_permissions()
        except (TokenInvalidError, PermissionLostError) as exc:
            return TokenHealth(TokenStatus.INVALID, exc.message, None)
        details = TokenDetails(True, str(me.get("id")), None, None, scopes, None, None)
    if details.expires_at is not None and details.expires_at - datetime.now(UTC) < warn:
        return TokenHealth(TokenStatus.EXPIRING, None, details)
    return TokenHealth(TokenStatus.VALID, None, details)


def apply_health(token: Token, health: TokenHealth) -> None:
    token.status = health.status
    token.last_checked_at = datetime.now(UTC)
    if health.details is not None:
        token.scopes = health.details.scopes or token.scopes
        token.expires_at = health.details.expires_at
        token.data_access_expires_at = health.details.data_access_expires_at


def safe_inspect(
    settings: Settings, token: Secret, *, client_factory: ClientFactory = default_client_factory
) -> TokenHealth | None:
    """inspect(), or None when Meta could not be asked (transient, throttled: try later)."""
    try:
        return inspect(settings, token, client_factory=client_factory)
    except (TokenInvalidError, PermissionLostError) as exc:
        return TokenHealth(TokenStatus.INVALID, exc.message, None)
    except MetaError as exc:
        log.warning("token check postponed", error=exc.message)
        return None
