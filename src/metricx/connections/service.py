"""Connections: link ad accounts (OAuth or a pasted token), list, pause, resume, disconnect,
and what happens when Meta stops accepting a token. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.alerts.service import open_alerts, raise_alert, resolve_alert
from metricx.config import Settings
from metricx.connections import repository
from metricx.connections.tokens import (
    ClientFactory,
    default_client_factory,
    inspect,
    store_token,
)
from metricx.errors import Conflict, InvalidInput, NotFound, UpstreamError
from metricx.facts import rollups
from metricx.facts.breakdowns import UnknownBreakdown, check_sets
from metricx.integrations.meta.client import AdAccountInfo, act_id
from metricx.integrations.meta.errors import MetaError
from metricx.kit.crypto import Cipher, Secret
from metricx.models import (
    Alert,
    Connection,
    ConnectionStatus,
    Provider,
    Severity,
    Token,
    TokenStatus,
)

REAUTH_ALERT = "connection_needs_reauth"
EXPIRY_ALERT = "token_expiring"


def list_connections(session: Session, *, workspace_id: uuid.UUID) -> list[Connection]:
    return repository.connections_of(session, workspace_id)


def get_connection(
    session: Session, *, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection:
    row = repository.connection(session, workspace_id, connection_id)
    if row is None:
        raise NotFound("no such connection")
    return row


def connect_accounts(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    token: Token,
    accounts: Sequence[AdAccountInfo],
) -> list[Connection]:
    """One connection per account. An account already connected in this workspace keeps its
    row (id, history, settings) and gets the new token: that is how a reconnect works."""
    out: list[Connection] = []
    rezoned = False
    for account in accounts:
        row = repository.connection_for_account(session, workspace_id, Provider.META, account.id)
        if row is None:
            row = Connection(
                workspace_id=workspace_id,
                provider=Provider.META,
                external_account_id=account.id,
                status=ConnectionStatus.ACTIVE,
            )
            session.add(row)
        elif row.status in (
            ConnectionStatus.NEEDS_REAUTH,
            ConnectionStatus.DISCONNECTED,
            ConnectionStatus.ERROR,
        ):
            row.status = ConnectionStatus.ACTIVE
        row.name = account.name[:300]
        row.currency = account.currency[:3]
        if row.timezone is not None and row.timezone != account.timezone:
            rezoned = True  # its facts' days move: the rollups are summed again below
        row.timezone = account.timezone
        row.account_status = account.account_status
        row.token_id = token.id
        row.last_error = None
        out.append(row)
    session.flush()
    if rezoned:
        rollups.rebuild(session, workspace_id)
    for row in out:
        resolve_alert(session, workspace_id=workspace_id, kind=REAUTH_ALERT, key=str(row.id))
    resolve_alert(session, workspace_id=workspace_id, kind=EXPIRY_ALERT, key=str(token.id))
    return out


def pick_accounts(
    available: Sequence[AdAccountInfo], wanted: Sequence[str] | None
) -> list[AdAccountInfo]:
    """The named accounts (act_N or N), all when none is named; unknown names are an error."""
    if not wanted:
        return list(available)
    by_id = {a.id: a for a in available}
    missing = [w for w in wanted if act_id(w.strip()) not in by_id]
    if missing:
        raise InvalidInput(
            "this token cannot reach ad account(s) "
            + ", ".join(missing)
            + "; it reaches "
            + (", ".join(sorted(by_id)) or "none"),
            code="account_not_reachable",
        )
    return [by_id[act_id(w.strip())] for w in dict.fromkeys(wanted)]


def add_with_token(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    workspace_id: uuid.UUID,
    access_token: str,
    accounts: Sequence[str] | None,
    created_by: uuid.UUID | None,
    client_factory: ClientFactory = default_client_factory,
) -> list[Connection]:
    """The manual path (a system-user token): validate as the OAuth flow does, then connect."""
    secret = Secret(access_token.strip())
    if not secret.reveal():
        raise InvalidInput("the token is empty")
    try:
        health = inspect(settings, secret, client_factory=client_factory)
        if health.status == TokenStatus.INVALID:
            raise InvalidInput(
                f"Meta does not accept this token: {health.problem}", code="token_invalid"
            )
        available = list(client_factory(settings, secret).iter_ad_accounts())
    except MetaError as exc:
        raise UpstreamError(exc.message, code=exc.kind) from None
    chosen = pick_accounts(available, accounts)
    if not chosen:
        raise InvalidInput("this token reaches no ad account", code="no_ad_accounts")
    token = store_token(
        session,
        cipher,
        workspace_id=workspace_id,
        access_token=secret.reveal(),
        details=health.details,
        created_by=created_by,
        token_type="system_user",
    )
    token.status = health.status
    return connect_accounts(session, workspace_id=workspace_id, token=token, accounts=chosen)


def set_paused(
    session: Session, *, workspace_id: uuid.UUID, connection_id: uuid.UUID, paused: bool
) -> Connection:
    row = get_connection(session, workspace_id=workspace_id, connection_id=connection_id)
    if row.status == ConnectionStatus.DISCONNECTED:
        raise Conflict("the connection is disconnected; reconnect it first")
    if paused:
        row.status = ConnectionStatus.PAUSED
        row.sync_enabled = False
    else:
        row.sync_enabled = True
        if row.status == ConnectionStatus.PAUSED:
            row.status = ConnectionStatus.ACTIVE
    session.flush()
    return row


def set_breakdown_sets(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID,
    sets: Sequence[str] | None,
) -> Connection:
    """The breakdown sets the connection's syncs fetch from now on (``None``: the defaults;
    empty: none). An unknown set name is refused, naming it and the known ones."""
    row = get_connection(session, workspace_id=workspace_id, connection_id=connection_id)
    if sets is None:
        row.breakdown_sets = None
    else:
        try:
            row.breakdown_sets = check_sets(s.strip() for s in sets)
        except UnknownBreakdown as exc:
            raise InvalidInput(str(exc), details={"field": "sets"}) from None
    session.flush()
    return row


def disconnect(
    session: Session, *, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection:
    """Stop syncing and drop the token link; entities, facts and fetches stay."""
    row = get_connection(session, workspace_id=workspace_id, connection_id=connection_id)
    row.status = ConnectionStatus.DISCONNECTED
    row.sync_enabled = False
    row.token_id = None
    row.next_sync_at = None
    session.flush()
    resolve_alert(session, workspace_id=workspace_id, kind=REAUTH_ALERT, key=str(row.id))
    return row


def mark_needs_reauth(session: Session, connection: Connection, reason: str) -> None:
    """Meta stopped accepting the token or the permission: syncs stop, a human is told."""
    connection.status = ConnectionStatus.NEEDS_REAUTH
    connection.last_error = reason
    connection.next_sync_at = None
    session.flush()
    raise_alert(
        session,
        workspace_id=connection.workspace_id,
        connection_id=connection.id,
        kind=REAUTH_ALERT,
        key=str(connection.id),
        severity=Severity.CRITICAL,
        message=f"{connection.name} ({connection.external_account_id}) must be reconnected: "
        f"{reason}",
        details={"connection_id": str(connection.id)},
    )


def token_invalid(session: Session, token: Token, reason: str, revoked: bool = False) -> None:
    token.status = TokenStatus.REVOKED if revoked else TokenStatus.INVALID
    token.last_checked_at = datetime.now(UTC)
    for row in repository.connections_using_token(session, token):
        if row.status in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
            mark_needs_reauth(session, row, reason)
        else:
            row.last_error = reason
    session.flush()


def token_expiring(session: Session, token: Token) -> None:
    names = ", ".join(c.name for c in repository.connections_using_token(session, token))
    when = token.expires_at.isoformat() if token.expires_at else "soon"
    raise_alert(
        session,
        workspace_id=token.workspace_id,
        kind=EXPIRY_ALERT,
        key=str(token.id),
        severity=Severity.WARNING,
        message=f"The Meta token of {names or 'a connection'} expires at {when}; reconnect to "
        "renew it (Meta has no refresh tokens).",
        details={"token_id": str(token.id), "expires_at": when},
    )


def clear_settled_alerts(session: Session, *, settings: Settings, now: datetime) -> list[Alert]:
    """This service's token and re-authorization alerts, resolved once their cause is gone (a
    sweep of each alert evaluation): an expiry alert when its token is renewed and valid or
    no longer in use; a re-authorization alert when its connection is active again,
    disconnected or gone. Returns the alerts it resolved."""
    warn = timedelta(days=settings.token_expiry_warning_days)
    resolved: list[Alert] = []
    for alert in open_alerts(session, kind=EXPIRY_ALERT):
        if alert.workspace_id is None:
            continue
        token_id = _uuid(alert.key)
        token = repository.token(session, alert.workspace_id, token_id) if token_id else None
        in_use = token is not None and bool(repository.connections_using_token(session, token))
        renewed = token is not None and (token.expires_at is None or token.expires_at - now >= warn)
        if not in_use or (renewed and token is not None and token.status == TokenStatus.VALID):
            resolved += _resolved(session, alert)
    for alert in open_alerts(session, kind=REAUTH_ALERT):
        if alert.workspace_id is None:
            continue
        connection_id = _uuid(alert.key)
        row = (
            repository.connection(session, alert.workspace_id, connection_id)
            if connection_id
            else None
        )
        if row is None or row.status in (ConnectionStatus.ACTIVE, ConnectionStatus.DISCONNECTED):
            resolved += _resolved(session, alert)
    return resolved


def _resolved(session: Session, alert: Alert) -> list[Alert]:
    assert alert.workspace_id is not None
    done = resolve_alert(session, workspace_id=alert.workspace_id, kind=alert.kind, key=alert.key)
    return [done] if done is not None else []


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def check_tokens(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    client_factory: ClientFactory = default_client_factory,
) -> dict[str, int]:
    """The periodic check of every token in use: expiring soon -> alert; invalid -> its
    connections need reauth (alert). Meta being unreachable postpones a token's check."""
    from metricx.connections.tokens import apply_health, reveal, safe_inspect

    summary = {"valid": 0, "expiring": 0, "invalid": 0, "postponed": 0}
    for token in repository.tokens_in_use(session):
        health = safe_inspect(settings, reveal(cipher, token), client_factory=client_factory)
        if health is None:
            summary["postponed"] += 1
            continue
        apply_health(token, health)
        if health.status == TokenStatus.INVALID:
            token_invalid(session, token, health.problem or "Meta says the token is not valid")
            summary["invalid"] += 1
        elif health.status == TokenStatus.EXPIRING:
            token_expiring(session, token)
            summary["expiring"] += 1
        else:
            summary["valid"] += 1
    session.flush()
    return summary
