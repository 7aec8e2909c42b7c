"""Time on the way in: offsets, account time zones, DST days, half-hour zones, boundaries."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from metricx.facts.tables import MetricFact
from tests.factories import make_keyed_workspace
from tests.ingest.helpers import fact, ingest, ingest_url, make_connection


def local(
    ad: str, day: str, hour: int | None, granularity: str = "hour", **extra: Any
) -> dict[str, Any]:
    return fact(ad, event_at=None, event_date=day, hour=hour, granularity=granularity, **extra)


def stored_utc(db: Session, workspace_id: object) -> list[str]:
    db.expire_all()
    rows = db.scalars(
        select(MetricFact.event_at)
        .where(MetricFact.workspace_id == workspace_id)
        .order_by(MetricFact.event_at)
    )
    return [r.strftime("%Y-%m-%dT%H:%MZ") for r in rows]


def test_spring_forward_in_new_york_skipped_hour_fails(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    body = ingest(client, ws, [local("a", "2025-03-09", h) for h in (1, 2, 3)]).json()
    assert body["inserted"] == 2
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == "hour"
    assert "does not exist" in body["errors"][0]["reason"]
    # 01:00 EST is 06:00 UTC; 03:00 EDT is 07:00 UTC: consecutive hours.
    assert stored_utc(db, ws.workspace.id) == ["2025-03-09T06:00Z", "2025-03-09T07:00Z"]


def test_fall_back_in_new_york_repeated_hour_needs_fold_or_offset(
    client: TestClient, db: Session
) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    body = ingest(
        client,
        ws,
        [
            local("a", "2025-11-02", 1),
            local("a", "2025-11-02", 1, fold=0),
            local("a", "2025-11-02", 1, fold=1),
            local("b", "2025-11-02", 1, utc_offset="-05:00"),
            local("c", "2025-11-02", 1, utc_offset="+01:00"),
        ],
    ).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "hour"), (4, "utc_offset")]
    assert "happens twice" in body["errors"][0]["reason"]
    assert body["inserted"] == 3
    assert stored_utc(db, ws.workspace.id) == [
        "2025-11-02T05:00Z",
        "2025-11-02T06:00Z",
        "2025-11-02T06:00Z",
    ]


def test_new_york_daily_facts_start_at_local_midnight(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    body = ingest(
        client,
        ws,
        [
            local("a", "2025-03-09", None, "day"),
            local("a", "2025-03-10", None, "day"),
            fact("b", event_at="2025-03-09T00:00:00Z", granularity="day"),
        ],
    ).json()
    assert body["inserted"] == 2 and body["errors"][0]["index"] == 2
    assert "midnight" in body["errors"][0]["reason"]
    assert stored_utc(db, ws.workspace.id) == ["2025-03-09T05:00Z", "2025-03-10T04:00Z"]


def test_kolkata_half_hour_zone_on_dst_change_days(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="Asia/Kolkata")
    body = ingest(
        client,
        ws,
        [
            local("a", "2025-03-09", 2),
            local("a", "2025-11-02", 1),
            fact("a", event_at="2025-03-09T02:00:00+05:30"),  # the same fact as the first
            fact("b", event_at="2025-03-09T10:00:00Z"),  # 15:30 in Kolkata: not an hour start
            fact("c", event_at="2025-03-09T10:30:00Z"),
        ],
    ).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(3, "event_at")]
    assert "hour boundary" in body["errors"][0]["reason"]
    assert (body["inserted"], body["duplicates"]) == (3, 1)
    assert stored_utc(db, ws.workspace.id) == [
        "2025-03-08T20:30Z",
        "2025-03-09T10:30Z",
        "2025-11-01T19:30Z",
    ]


def test_connection_time_zone_wins_over_the_workspace(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="Asia/Kolkata")
    conn = make_connection(db, ws.workspace.id, timezone="America/New_York")
    r = client.post(
        ingest_url(ws.workspace.id),
        params={"connection_id": str(conn.id)},
        json={"records": [local("a", "2025-07-01", 0)]},
        headers=ws.headers,
    )
    assert r.json()["inserted"] == 1
    assert stored_utc(db, ws.workspace.id) == ["2025-07-01T04:00Z"]
    # The entity now belongs to that account: later records without connection_id follow it.
    again = ingest(client, ws, [local("a", "2025-07-01", 1)]).json()
    assert again["inserted"] == 1
    assert stored_utc(db, ws.workspace.id)[-1] == "2025-07-01T05:00Z"


def test_offsets_are_converted_to_utc(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    body = ingest(
        client,
        ws,
        [
            fact("a", event_at="2025-06-01T12:00:00-04:00"),
            fact("a", event_at="2025-06-01T16:00:00Z"),
        ],
    ).json()
    assert (body["inserted"], body["duplicates"]) == (1, 1)
    assert stored_utc(db, ws.workspace.id) == ["2025-06-01T16:00Z"]
