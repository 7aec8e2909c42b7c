"""The periodic evaluation of alert conditions: raise while a condition holds (deduplicated
and counted by ``raise_alert``), resolve as soon as it clears.

Conditions evaluated here: stale data (by the one freshness definition, ``metrics.freshness``)
and repeated sync failures (``alert_sync_failures`` finished syncs in a row failed). Alerts
another domain raises are cleared by that domain: its *sweep* (a function taking the session,
the settings and the time, returning the alerts it resolved) runs in the same pass when the
caller passes it in. The list of sweeps is composed outside this package
(``metricx.worker.alerting``), so alerts imports no domain. Flushes, never commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from metricx.alerts import conditions
from metricx.alerts.service import open_alerts, raise_alert, resolve_alert
from metricx.config import Settings
from metricx.metrics.freshness import FreshnessState, connection_freshness
from metricx.models import Alert, Connection, Severity

STALE_ALERT = "stale_data"
SYNC_ALERT = "sync_failures"


class AlertSweep(Protocol):
    """A domain's clearing of the alerts it raised, once their cause is gone."""

    def __call__(self, session: Session, *, settings: Settings, now: datetime) -> list[Alert]: ...


def evaluate(
    session: Session,
    *,
    settings: Settings,
    now: datetime | None = None,
    sweeps: Sequence[AlertSweep] = (),
) -> Counter[str]:
    """One pass over every condition, then each domain's sweep; returns counts of what it
    raised and resolved."""
    now = now or datetime.now(UTC)
    tally: Counter[str] = Counter()
    _stale_data(session, settings, now, tally)
    _sync_failures(session, settings, tally)
    for sweep in sweeps:
        for alert in sweep(session, settings=settings, now=now):
            tally[f"resolved:{alert.kind}"] += 1
    return tally


def _open(session: Session, kind: str) -> list[Alert]:
    return open_alerts(session, kind=kind)


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
