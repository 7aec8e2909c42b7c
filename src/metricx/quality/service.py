"""Validation: run every check over a connection's recent complete days, keep the findings
(one open row per discrepancy, resolved when a later run no longer finds it) and raise a
``validation_discrepancy`` alert past the configured threshold. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from metricx.alerts.service import raise_alert, resolve_alert
from metricx.config import Settings
from metricx.connections.tokens import ClientFactory, default_client_factory, reveal
from metricx.integrations.meta.errors import MetaError
from metricx.jobs.enqueue import defer_job
from metricx.kit.crypto import Cipher
from metricx.logging import get_logger
from metricx.models import Connection, ConnectionStatus, QualityFinding, Severity, Token
from metricx.quality import anomalies, completeness, hierarchy, reconciliation, repository
from metricx.quality import finding as f
from metricx.quality.finding import ENTITY_MOVED, NEW_ENTITY_WITHOUT_DATA, Finding, Window

log = get_logger("metricx.quality")
ALERT_KIND = "validation_discrepancy"
VALIDATE_TASK = "validate_connection"
LEVEL_CHECK = "level_totals"


@dataclass
class ValidationResult:
    connection_id: uuid.UUID
    window: Window
    checks: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    findings: list[QualityFinding] = field(default_factory=list)
    new: int = 0
    resolved: int = 0
    alerted: bool = False


def validation_window(settings: Settings, connection: Connection, now: datetime) -> Window:
    """The last ``quality_window_days`` complete local days of the account."""
    window = Window(connection, now.date(), now.date(), now)
    until = now.astimezone(window.tz).date() - timedelta(days=1)
    since = until - timedelta(days=max(1, settings.quality_window_days) - 1)
    return Window(connection, since, until, now)


def meta_totals_for(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    connection: Connection,
    client_factory: ClientFactory = default_client_factory,
) -> reconciliation.MetaTotals | None:
    """Meta's level totals for the connection's account; None when it cannot be asked."""
    if connection.status is not ConnectionStatus.ACTIVE or connection.token_id is None:
        return None
    token = session.get(Token, connection.token_id)
    if token is None:
        return None
    client = client_factory(settings, reveal(cipher, token))
    return reconciliation.meta_totals(client, connection.external_account_id)


def _run_checks(
    session: Session,
    settings: Settings,
    window: Window,
    meta: reconciliation.MetaTotals | None,
    result: ValidationResult,
) -> list[Finding]:
    tolerance = settings.quality_sum_tolerance
    rules = anomalies.AnomalyRules(
        baseline_days=settings.quality_anomaly_baseline_days,
        min_baseline_days=settings.quality_anomaly_min_baseline_days,
        z=settings.quality_anomaly_z,
        ratio=settings.quality_anomaly_ratio,
        min_spend=settings.quality_anomaly_min_spend,
        min_impressions=settings.quality_anomaly_min_impressions,
    )
    checks = {
        "hourly_vs_daily": lambda: reconciliation.hourly_vs_daily(
            session, window, tolerance=tolerance
        ),
        "unknown_entity_facts": lambda: hierarchy.unknown_entity_facts(session, window),
        "orphaned_entity": lambda: hierarchy.orphaned_entities(session, window),
        "entity_moved": lambda: hierarchy.moved_entities(session, window),
        "missing_hours": lambda: completeness.missing_hours(session, window),
        "new_entity_without_data": lambda: completeness.new_entities_without_data(
            session, window, grace_hours=settings.quality_new_entity_grace_hours
        ),
        "level_shifts": lambda: anomalies.level_shifts(session, window, rules=rules),
        "impossible_facts": lambda: anomalies.impossible_facts(session, window),
    }
    found: list[Finding] = []
    for name, check in checks.items():
        found += check()
        result.checks.append(name)
    levels = [lv.strip() for lv in settings.quality_meta_levels.split(",") if lv.strip()]
    if meta is None or not levels:
        result.skipped[LEVEL_CHECK] = "no Meta access" if levels else "no levels configured"
        return found
    try:
        found += reconciliation.level_totals(
            session, window, fetch=meta, levels=levels, tolerance=tolerance, skipped=result.skipped
        )
        result.checks.append(LEVEL_CHECK)
    except MetaError as exc:  # Meta unavailable: that check's findings stay as they were
        result.skipped[LEVEL_CHECK] = str(exc)
        log.warning(
            "meta totals unavailable", connection_id=str(window.connection.id), error=str(exc)
        )
    return found


def _kinds_of(checks: list[str]) -> set[str]:
    by_check = {
        "hourly_vs_daily": {f.HOURLY_VS_DAILY},
        "unknown_entity_facts": {f.UNKNOWN_ENTITY_FACTS},
        "orphaned_entity": {f.ORPHANED_ENTITY},
        "entity_moved": {f.ENTITY_MOVED},
        "missing_hours": {f.MISSING_HOURS},
        "new_entity_without_data": {f.NEW_ENTITY_WITHOUT_DATA},
        "level_shifts": {
            f.SPEND_JUMP,
            f.SPEND_COLLAPSE,
            f.IMPRESSIONS_JUMP,
            f.IMPRESSIONS_COLLAPSE,
        },
        "impossible_facts": {f.CLICKS_OVER_IMPRESSIONS, f.SPEND_WITHOUT_IMPRESSIONS},
        LEVEL_CHECK: {f.LEVEL_TOTAL_MISMATCH},
    }
    return set().union(*(by_check[c] for c in checks))


def _store(
    session: Session, window: Window, found: list[Finding], result: ValidationResult
) -> None:
    connection = window.connection
    open_rows = {
        row.dedupe_key: row
        for row in repository.open_findings(session, connection.workspace_id, connection.id)
    }
    seen: set[str] = set()
    for item in found:
        key = item.dedupe_key(connection.id)
        if key in seen:
            continue
        seen.add(key)
        row = open_rows.get(key)
        if row is None:
            row = QualityFinding(
                workspace_id=connection.workspace_id,
                connection_id=connection.id,
                kind=item.kind,
                dedupe_key=key,
                first_seen_at=window.now,
                seen_count=0,
            )
            repository.add(session, row)
            result.new += 1
        row.severity, row.message, row.numbers = item.severity, item.message, item.numbers
        row.entity_id, row.level, row.external_id = item.entity_id, item.level, item.external_id
        row.period_start, row.period_end = item.period_start, item.period_end
        row.last_seen_at = window.now
        row.seen_count += 1
        result.findings.append(row)
    checked = _kinds_of(result.checks)
    for key, row in open_rows.items():
        if key in seen or row.kind not in checked:
            continue
        outside = row.period_start is not None and row.period_start < window.start_utc
        if outside and row.kind not in (ENTITY_MOVED, NEW_ENTITY_WITHOUT_DATA):
            continue  # not re-checked this time: stays open until a run covers it
        row.resolved_at = window.now
        result.resolved += 1
    session.flush()


def _alert(session: Session, settings: Settings, window: Window, result: ValidationResult) -> None:
    connection = window.connection
    counts = repository.open_counts(session, connection.workspace_id, connection.id)
    serious = {k: n for k, n in counts.items() if k[1] is not Severity.INFO}
    total = sum(serious.values())
    threshold = settings.quality_alert_min_findings
    if threshold <= 0 or total < threshold:
        resolve_alert(
            session, workspace_id=connection.workspace_id, kind=ALERT_KIND, key=str(connection.id)
        )
        return
    by_kind = Counter[str]()
    for (kind, _), n in serious.items():
        by_kind[kind] += n
    critical = any(sev is Severity.CRITICAL for _, sev in serious)
    summary = ", ".join(f"{n} {kind}" for kind, n in by_kind.most_common())
    raise_alert(
        session,
        workspace_id=connection.workspace_id,
        connection_id=connection.id,
        kind=ALERT_KIND,
        key=str(connection.id),
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        message=f"{connection.name} ({connection.external_account_id}): {total} open data "
        f"discrepancies ({summary})",
        details={
            "open_findings": total,
            "by_kind": dict(by_kind),
            "threshold": threshold,
            "window": {"since": window.since.isoformat(), "until": window.until.isoformat()},
        },
    )
    result.alerted = True


def validate_connection(
    session: Session,
    *,
    settings: Settings,
    connection: Connection,
    meta: reconciliation.MetaTotals | None = None,
    now: datetime | None = None,
) -> ValidationResult:
    """Run every check over the connection's validation window and store the outcome."""
    window = validation_window(settings, connection, now or datetime.now(UTC))
    result = ValidationResult(connection.id, window)
    found = _run_checks(session, settings, window, meta, result)
    _store(session, window, found, result)
    _alert(session, settings, window, result)
    log.info(
        "connection validated",
        connection_id=str(connection.id),
        since=window.since.isoformat(),
        until=window.until.isoformat(),
        findings=len(result.findings),
        new=result.new,
        resolved=result.resolved,
        skipped=list(result.skipped),
    )
    return result


def request_validation(session: Session, *, connection: Connection) -> None:
    """Queue a validation of the connection in the caller's transaction; one waiting job per
    connection is enough (the queueing lock), so a second request is a no-op."""
    try:
        with session.begin_nested():
            defer_job(
                session,
                VALIDATE_TASK,
                {"connection_id": str(connection.id)},
                queue="maintenance",
                queueing_lock=f"validate:{connection.id}",
            )
    except IntegrityError:
        log.debug("validation already queued", connection_id=str(connection.id))


UNLISTED_ADS_NOTE = (
    "Meta reported delivery for these ads before its list of ads included them (an ad created "
    "since the last entity sync, or one Meta's listing leaves out). Their spend is counted in "
    "their ad set, campaign and account totals; their names and statuses arrive with the next "
    "entity sync."
)


@dataclass(frozen=True)
class UnlistedAd:
    """An ad known only from insights: stored, and counted under the ad set, campaign and
    account its insights named, but not listed by an entity sync yet (no name, no status)."""

    connection_id: uuid.UUID
    connection_name: str
    entity_id: uuid.UUID
    external_id: str
    adset_external_id: str | None
    campaign_external_id: str | None
    first_seen_at: datetime
    facts: int
    first_day: date | None
    last_day: date | None
    spend: Decimal
    currency: str


def unlisted_ads(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID | None = None,
    limit: int = 500,
) -> list[UnlistedAd]:
    """Ads known only from insights, per connection (the biggest spenders first)."""
    rows = repository.unlisted_ads(session, workspace_id, connection_id=connection_id, limit=limit)
    return [UnlistedAd(**row) for row in rows]


def list_findings(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    status: str = "open",
    limit: int = 200,
) -> list[QualityFinding]:
    return repository.list_findings(
        session,
        workspace_id,
        connection_id=connection_id,
        kind=kind,
        since=since,
        status=status,
        limit=limit,
    )
