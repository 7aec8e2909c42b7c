"""Findings over time: deduplicated, resolved when fixed, an alert past the threshold, and
the API that shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import Client
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from metricx.auth.service import create_api_key
from metricx.config import Settings
from metricx.models import Alert, Connection
from metricx.quality.service import ALERT_KIND, request_validation
from tests.quality.helpers import NOW, TODAY, build_account, fact, hourly, ingest, validate


def _bad_hour(acct, settings: Settings, db: Session, spend: str) -> None:  # type: ignore[no-untyped-def]
    at = datetime.combine(TODAY - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    ingest(db, settings, acct.connection, [fact(acct.ads[0], "hour", at, Decimal(spend), 5000, 1)])


def _alert(db: Session, conn: Connection) -> Alert | None:
    return db.scalars(
        select(Alert).where(
            Alert.kind == ALERT_KIND, Alert.key == str(conn.id), Alert.resolved_at.is_(None)
        )
    ).first()


def test_finding_is_kept_once_alerted_and_resolved_when_fixed(
    db: Session, settings: Settings
) -> None:
    acct = build_account(db, settings)
    _bad_hour(acct, settings, db, "50")
    first = validate(db, settings, acct, meta=False)
    again = validate(db, settings, acct, now=NOW + timedelta(minutes=10), meta=False)
    assert first.new == 1 and again.new == 0 and again.findings[0].id == first.findings[0].id
    assert again.findings[0].seen_count == 2
    alert = _alert(db, acct.connection)
    assert alert is not None and "1 hourly_vs_daily" in alert.message

    settings.quality_alert_min_findings = 2  # past the threshold only
    validate(db, settings, acct, now=NOW + timedelta(minutes=15), meta=False)
    assert _alert(db, acct.connection) is None

    settings.quality_alert_min_findings = 1
    spend, impressions, clicks = hourly(0, TODAY - timedelta(days=2), 0)
    at = datetime.combine(TODAY - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    ingest(
        db, settings, acct.connection, [fact(acct.ads[0], "hour", at, spend, impressions, clicks)]
    )
    fixed = validate(db, settings, acct, now=NOW + timedelta(minutes=20), meta=False)
    assert fixed.findings == [] and fixed.resolved == 1
    assert first.findings[0].resolved_at is not None


def test_findings_api_and_validate_now(db: Session, settings: Settings, client: Client) -> None:
    acct = build_account(db, settings, through_today=True)  # the API validates as of the clock
    _bad_hour(acct, settings, db, "70")
    key = create_api_key(db, workspace_id=acct.connection.workspace_id).key
    headers = {"Authorization": f"Bearer {key}"}
    ws, cid = acct.connection.workspace_id, acct.connection.id
    ran = client.post(f"/api/v1/workspaces/{ws}/connections/{cid}/validate", headers=headers)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["new"] == 1 and "level_totals" in body["skipped"]  # no token: Meta not asked
    [finding] = body["findings"]
    assert (
        finding["kind"] == "hourly_vs_daily" and finding["external_id"] == acct.ads[0].external_id
    )
    assert finding["numbers"]["spend"]["actual"] != finding["numbers"]["spend"]["expected"]
    url = f"/api/v1/workspaces/{ws}/quality/findings"
    listed = client.get(
        url, params={"connection_id": str(cid), "kind": "hourly_vs_daily"}, headers=headers
    )
    assert [f["id"] for f in listed.json()["findings"]] == [finding["id"]]
    assert client.get(url, params={"status": "resolved"}, headers=headers).json()["findings"] == []
    assert client.get(url, params={"kind": "spend_jump"}, headers=headers).json()["findings"] == []
    other = client.post(f"/api/v1/workspaces/{ws}/connections/{ws}/validate", headers=headers)
    assert other.status_code == 404


def test_validation_is_queued_once_per_connection(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings, ads=1)
    request_validation(db, connection=acct.connection)
    request_validation(db, connection=acct.connection)
    jobs = db.execute(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'validate_connection' "
            "AND args->>'connection_id' = :c"
        ),
        {"c": str(acct.connection.id)},
    ).scalar_one()
    assert jobs == 1
