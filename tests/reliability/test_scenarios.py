# ruff: noqa: F811  (the sync fixtures are imported: pytest injects them by name)
"""The named scenarios the brief lists, each against the sandbox's truth: a hierarchy change
(an ad set moved to another campaign, that campaign renamed) followed by the next sync, and a
second provider pushed through the ingest API beside a synced Meta account (duplicates in the
batch, a gap left open)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.db import unit_of_work
from metricx.facts import rollups
from metricx.facts.tables import MetricFact
from metricx.models import Entity, Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.sync import runner, scheduler
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.reliability.scenarios import (
    Linked,
    duplicate_facts,
    link_account,
    load_fetch,
    request_backfill,
    sandbox_now,
    settled_window,
)
from tests.sync.conftest import (  # noqa: F401  (fixtures)
    sandbox_clients,
    sync_database,
    sync_engine,
    sync_runtime,
    sync_sandbox,
    sync_settings,
)
from tests.sync.truth import assert_matches_truth


def run_to_end(runtime: Runtime, box: MetaSandbox, fetch_id: Any) -> None:
    factory = sandbox_clients(box)
    for _ in range(50):
        if runner.run_fetch(runtime, fetch_id, client_factory=factory, sleep=box.advance) != (
            "deferred"
        ):
            break
    assert load_fetch(runtime, fetch_id).status is RunStatus.SUCCEEDED


def synced(runtime: Runtime, box: MetaSandbox, linked: Linked, days: int = 3) -> None:
    since, until = settled_window(box, linked.connection, days)
    fetch = request_backfill(runtime, box, linked.connection, since, until)
    run_to_end(runtime, box, fetch.id)
    assert assert_matches_truth(runtime, box, linked.connection, since, until) > 0


@pytest.fixture
def fresh_entities(sync_runtime: Runtime) -> Iterator[Runtime]:
    sync_runtime.settings.sync_entities_max_age_minutes = 0  # every sync re-reads the hierarchy
    yield sync_runtime


def test_ad_set_moved_and_campaign_renamed_are_followed_by_the_next_sync(
    fresh_entities: Runtime, sync_sandbox: MetaSandbox
) -> None:
    runtime, box = fresh_entities, sync_sandbox
    linked = link_account(runtime, box, 1)
    synced(runtime, box, linked)
    account = box.state.world.account(linked.account)
    assert account is not None
    with unit_of_work(runtime.sessions) as session:  # an ad set with spend on record moves
        spent = set(
            session.scalars(
                text(
                    "SELECT e.external_id FROM metric_rollups r JOIN entities e"
                    " ON e.id = r.entity_id WHERE r.level = 'adset' AND r.spend > 0"
                )
            )
        )
    source = next(c for c in account.campaigns if any(s.id in spent for s in c.adsets))
    target = next(c for c in account.campaigns if c is not source)
    moved = next(s for s in source.adsets if s.id in spent)
    old_name = target.name
    try:
        source.adsets.remove(moved)
        target.adsets.append(moved)
        moved.campaign = target
        target.name = old_name + " (renamed)"
        synced(runtime, box, linked)  # campaign sums follow the move, to the cent
        assert rollups_as_rebuilt(runtime, linked.connection.workspace_id)
        with unit_of_work(runtime.sessions) as session:
            rows = {
                e.external_id: e
                for e in session.scalars(
                    select(Entity).where(Entity.connection_id == linked.connection.id)
                )
            }
            assert rows[moved.id].parent_id == rows[target.id].id
            assert rows[target.id].name == old_name + " (renamed)"
    finally:
        target.adsets.remove(moved)
        source.adsets.insert(0, moved)
        moved.campaign = source
        target.name = old_name
    assert duplicate_facts(runtime, [linked.connection.id]) == 0


def rollups_as_rebuilt(runtime: Runtime, workspace_id: Any) -> bool:
    """Whether the incrementally kept rollups equal a recomputation from the facts under the
    current hierarchy (a moved ad set's spend counts for its new campaign only)."""
    sql = text(
        "SELECT level, entity_id, granularity, event_at, currency, fact_level, provider, facts,"
        " conversions_n, spend, impressions, clicks, purchase_value FROM metric_rollups"
        " WHERE workspace_id = :ws AND facts <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7"
    )
    with runtime.sessions() as session:
        kept = session.execute(sql, {"ws": workspace_id}).all()
        rollups.rebuild(session, workspace_id)
        rebuilt = session.execute(sql, {"ws": workspace_id}).all()
        session.rollback()
    assert kept and rebuilt
    return kept == rebuilt


def google_fact(ad: str, hour: int, spend: str) -> dict[str, Any]:
    return {
        "external_entity_id": ad,
        "provider": "google",
        "level": "ad",
        "granularity": "hour",
        "event_at": f"2026-01-05T{hour:02d}:00:00Z",
        "spend": spend,
        "impressions": 100,
        "clicks": 3,
        "currency": "EUR",
    }


def test_a_second_provider_beside_a_synced_account_keeps_both_apart(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    linked = link_account(sync_runtime, sync_sandbox, 2)
    synced(sync_runtime, sync_sandbox, linked, days=2)
    ws_id = linked.connection.workspace_id
    with unit_of_work(sync_runtime.sessions) as session:
        key = create_api_key(session, workspace_id=ws_id).key
        meta_before = session.scalar(
            select(func.count()).select_from(MetricFact).where(MetricFact.workspace_id == ws_id)
        )
    # Hours 0-5 with hour 3 missing (a gap), hour 1 sent twice (the last one wins), and the
    # same external id as a Meta ad would have: the provider keeps them apart.
    batch = [google_fact("g-1", h, "1.00") for h in (0, 1, 2, 4, 5)]
    batch.append(google_fact("g-1", 1, "9.99"))
    with TestClient(create_app(sync_runtime), base_url="https://testserver") as http:
        r = http.post(
            f"/api/v1/workspaces/{ws_id}/metrics/ingest",
            json={"records": batch},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["duplicates"]) == (5, 1)
    with sync_runtime.engine.connect() as db:
        google = db.execute(
            text(
                "SELECT extract(hour FROM f.event_at)::int, f.spend FROM metric_facts f"
                " WHERE f.workspace_id = :ws AND f.provider = 'google' ORDER BY 1"
            ),
            {"ws": ws_id},
        ).all()
        meta_after = db.execute(
            text(
                "SELECT count(*) FROM metric_facts WHERE workspace_id = :ws AND provider = 'meta'"
            ),
            {"ws": ws_id},
        ).scalar_one()
    assert [h for h, _ in google] == [0, 1, 2, 4, 5]  # the gap stays a gap: nothing invented
    assert dict(google)[1] == Decimal("9.99")
    assert meta_after == meta_before
    since, until = settled_window(sync_sandbox, linked.connection, 2)
    assert_matches_truth(sync_runtime, sync_sandbox, linked.connection, since, until)


def test_a_gap_is_filled_once_and_not_beside_a_running_backfill(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    """Days not stored yet because the backfill is still under way are no gap: a gap fill
    beside it would fetch them twice. A real hole is filled once that sync is done."""
    linked = link_account(sync_runtime, sync_sandbox, 0)
    until = local_today(linked.connection, sandbox_now(sync_sandbox))  # up to today: no
    since = until - timedelta(days=4)  # other day is missing than the hole made below
    first = request_backfill(sync_runtime, sync_sandbox, linked.connection, since, until)
    run_to_end(sync_runtime, sync_sandbox, first.id)
    hole = since + timedelta(days=1)
    with sync_runtime.engine.begin() as db:
        db.execute(
            text(
                "DELETE FROM metric_facts f USING entities e WHERE e.id = f.entity_id"
                " AND e.connection_id = :cid AND f.level = 'ad'"
                " AND (f.event_at AT TIME ZONE :tz)::date = :day"
            ),
            {"cid": linked.connection.id, "tz": linked.connection.timezone, "day": hole},
        )
    running = request_backfill(sync_runtime, sync_sandbox, linked.connection, since, until)

    def gap_fills() -> int:
        with unit_of_work(sync_runtime.sessions) as session:
            scheduler.fill_all_gaps(session, settings=sync_runtime.settings, now=datetime.now(UTC))
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Fetch)
                    .where(Fetch.connection_id == linked.connection.id, Fetch.kind == "gap_fill")
                )
                or 0
            )

    assert gap_fills() == 0  # the queued backfill covers the hole
    run_to_end(sync_runtime, sync_sandbox, running.id)
    assert assert_matches_truth(sync_runtime, sync_sandbox, linked.connection, since, until)
    assert gap_fills() == 0  # and it did: nothing is missing any more
