"""The periodic evaluation of alert conditions: raise while a condition holds (deduplicated
and counted by ``raise_alert``), resolve as soon as it clears.

Conditions evaluated here: stale data (by the one definition, ``metrics.freshness``),
repeated sync failures (``alert_sync_failures`` finished syncs in a row failed), and the
clearing of alerts raised elsewhere: repeated ingest failures (raised by the ingest service),
expiring tokens and connections needing re-authorization (raised by the connections service
when it checks tokens). Flushes, never commits.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from metricx.alerts import conditions
from metricx.alerts.service import raise_alert, resolve_alert
from metricx.config import Settings
from metricx.connections.service import EXPIRY_ALERT, REAUTH_ALERT
from metricx.ingest.repository import count_unsuccessful_since
from metricx.ingest.service import ALERT_KIND as INGEST_ALERT
from metricx.metrics.freshness import FreshnessState, connection_freshness
from metricx.models import Alert, Connection, ConnectionStatus, Severity, Token, TokenStatus

STALE_ALERT = "stale_data"
SYNC_ALERT = "sync_failures"


def evaluate(session: Session, *, settings: Settings, now: datetime | None = None) -> Counter[str]:
    """One pass over every condition; returns counts of what it raised and resolved."""
    now = now or datetime.now(UTC)
    tally: Counter[str] = Counter()
    _stale_data(session, settings, now, tally)
    _sync_failures(session, settings, tally)
    _ingest_failures(session, settings, now, tally)
    _cleared_connection_alerts(session, settings, now, tally)
    return tally


def _open(session: Session, kind: str) -> list[Alert]:
    return list(
        session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None)))
    )


def _resolve(session: Session, alert: Alert, tally: Counter[str]) -> None:
    if alert.workspace_id is not None:
        resolve_alert(session, workspace_id=alert.workspace_id, kind=alert.kind, key=alert.key)
        tally[f"resolved:{alert.kind}"] += 1


def _stale_data(session: Session, settings: Settings, now: datetime, tally: Counter[str]) -> None:
    """Connections whose data is stale by the one definition (``metrics.freshness``): behind
    for ``alert_stale_hours``, expected to deliver, and not blocked by a cause that has its
    own alert."""
    limit = timedelta(hours=settings.alert_stale_hours)
    stale: set[str] = set()
    for f in connection_freshness(session):
        if f.state(now, limit) is not FreshnessState.STALE:
            continue
        stale.add(str(f.connection_id))
        newest_end = f.newest_end
        since = f"since {newest_end.isoformat()}" if newest_end else "since it was connected"
        raise_alert(
            session,
            workspace_id=f.workspace_id,
            connection_id=f.connection_id,
            kind=STALE_ALERT,
            key=str(f.connection_id),
            severity=Severity.WARNING,
            message=f"No new hour of data for {f.name} ({f.account}) {since}; check its syncs "
            "and the connection's status.",
            details={
                "connection_id": str(f.connection_id),
                "newest_complete_hour_end": newest_end.isoformat() if newest_end else None,
                "current_through": f.current_through.isoformat() if f.current_through else None,
                "threshold_hours": settings.alert_stale_hours,
            },
        )
        tally[f"raised:{STALE_ALERT}"] += 1
    for alert in _open(session, STALE_ALERT):
        if alert.key not in stale:
            _resolve(session, alert, tally)


def _sync_failures(session: Session, settings: Settings, tally: Counter[str]) -> None:
    n = settings.alert_sync_failures
    failing: set[str] = set()
    for connection_id, outcomes in conditions.recent_sync_outcomes(session, n).items():
        if len(outcomes) < n or any(o != "failed" for o in outcomes):
            continue
        connection = session.get(Connection, connection_id)
        if connection is None:
            continue
        failing.add(str(connection_id))
        error = conditions.last_fetch_error(session, connection_id) or "unknown error"
        raise_alert(
            session,
            workspace_id=connection.workspace_id,
            connection_id=connection_id,
            kind=SYNC_ALERT,
            key=str(connection_id),
            severity=Severity.CRITICAL,
            message=f"The last {n} syncs of {connection.name} ({connection.external_account_id}) "
            f"failed; the newest error: {error}",
            details={"connection_id": str(connection_id), "failures": n, "error": error},
        )
        tally[f"raised:{SYNC_ALERT}"] += 1
    for alert in _open(session, SYNC_ALERT):
        if alert.key not in failing:
            _resolve(session, alert, tally)


def _ingest_failures(
    session: Session, settings: Settings, now: datetime, tally: Counter[str]
) -> None:
    """The ingest service raises on repeated failures; the alert clears once a whole window
    has passed without reaching the threshold again."""
    window = timedelta(minutes=settings.ingest_alert_window_minutes)
    for alert in _open(session, INGEST_ALERT):
        if alert.workspace_id is None or now - alert.last_seen_at < window:
            continue
        failures = count_unsuccessful_since(session, alert.workspace_id, now - window)
        if failures < settings.ingest_alert_failures:
            _resolve(session, alert, tally)


def _cleared_connection_alerts(
    session: Session, settings: Settings, now: datetime, tally: Counter[str]
) -> None:
    """Token and re-authorization alerts are raised by the connections service; they clear
    when the token is renewed, replaced or out of use, or the connection is back or gone."""
    warn = timedelta(days=settings.token_expiry_warning_days)
    for alert in _open(session, EXPIRY_ALERT):
        token = session.get(Token, _uuid(alert.key)) if _uuid(alert.key) else None
        in_use = token is not None and session.scalar(
            select(Connection.id).where(Connection.token_id == token.id).limit(1)
        )
        renewed = token is not None and (token.expires_at is None or token.expires_at - now >= warn)
        if not in_use or (renewed and token is not None and token.status == TokenStatus.VALID):
            _resolve(session, alert, tally)
    for alert in _open(session, REAUTH_ALERT):
        connection = session.get(Connection, _uuid(alert.key)) if _uuid(alert.key) else None
        if connection is None or connection.status in (
            ConnectionStatus.ACTIVE,
            ConnectionStatus.DISCONNECTED,
        ):
            _resolve(session, alert, tally)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
