"""Monthly fact partitions: made ahead of time, and never a failed insert without one."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts.partitions import (
    ensure_partitions,
    ensure_partitions_ahead,
    existing_partitions,
)
from metricx.models import Entity, Level, Provider
from tests.factories import make_workspace


def insert_fact(db: Session, entity: Entity, at: datetime) -> None:
    db.execute(
        text(
            "INSERT INTO metric_facts (natural_key, event_at, workspace_id, entity_id, provider, "
            "level, granularity, currency) VALUES (:k, :at, :ws, :e, 'meta', 'ad', 'hour', 'USD')"
        ),
        {"k": uuid.uuid4(), "at": at, "ws": entity.workspace_id, "e": entity.id},
    )


def partition_of(db: Session, at: datetime) -> str:
    return db.execute(
        text("SELECT tableoid::regclass::text FROM metric_facts WHERE event_at = :at"), {"at": at}
    ).scalar_one()


def make_ad(db: Session) -> Entity:
    ws = make_workspace(db)
    ad = Entity(workspace_id=ws.id, provider=Provider.META, level=Level.AD, external_id="1")
    db.add(ad)
    db.flush()
    return ad


def test_maintenance_creates_partitions_ahead_of_time(db: Session) -> None:
    created = ensure_partitions_ahead(db, months_ahead=3, now=datetime(2031, 5, 20, tzinfo=UTC))
    assert created == [
        "metric_facts_p2031_04",
        "metric_facts_p2031_05",
        "metric_facts_p2031_06",
        "metric_facts_p2031_07",
        "metric_facts_p2031_08",
    ]
    assert set(created) <= set(existing_partitions(db))
    # Idempotent: a second run makes nothing.
    assert ensure_partitions_ahead(db, months_ahead=3, now=datetime(2031, 5, 20, tzinfo=UTC)) == []


def test_fact_in_a_month_without_partition_lands_in_default_then_moves(db: Session) -> None:
    ad = make_ad(db)
    at = datetime(2019, 3, 31, 23, tzinfo=UTC)
    insert_fact(db, ad, at)  # no partition for March 2019: not an error
    assert partition_of(db, at) == "metric_facts_default"

    assert ensure_partitions(db, [date(2019, 3, 1)]) == ["metric_facts_p2019_03"]
    assert partition_of(db, at) == "metric_facts_p2019_03"
    count = db.execute(text("SELECT count(*) FROM metric_facts_default")).scalar_one()
    assert count == 0


def test_month_boundaries_are_utc(db: Session) -> None:
    ad = make_ad(db)
    ensure_partitions(db, [date(2032, 1, 1), date(2032, 2, 1)])
    last_jan = datetime(2032, 1, 31, 23, 59, tzinfo=UTC)
    first_feb = datetime(2032, 2, 1, 0, 0, tzinfo=UTC)
    insert_fact(db, ad, last_jan)
    insert_fact(db, ad, first_feb)
    assert partition_of(db, last_jan) == "metric_facts_p2032_01"
    assert partition_of(db, first_feb) == "metric_facts_p2032_02"
