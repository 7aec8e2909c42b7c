"""Hourly syncs re-read a short lookback; once a day a sync re-reads the whole daily one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.models import Connection, ConnectionStatus, Fetch, Provider, RunStatus
from metricx.sync import plan
from metricx.sync.service import request_sync
from tests.factories import make_workspace


def test_short_plan_reads_daily_rows_only_as_far_back_as_hours() -> None:
    s = Settings(sync_lookback_days_daily=28, sync_lookback_days_hourly=3)
    today = date(2026, 11, 20)
    full_window, full = plan.incremental_plan(s, today, full=True)
    short_window, short = plan.incremental_plan(s, today, full=False)
    assert full_window.since == today - timedelta(days=28)
    assert short_window.since == today - timedelta(days=3)
    assert {c.part for c in short} == {c.part for c in full}


def test_daily_pass_comes_once_a_day(db: Session) -> None:
    ws = make_workspace(db)
    conn = Connection(
        workspace_id=ws.id,
        provider=Provider.META,
        external_account_id="act_1",
        name="a",
        currency="USD",
        timezone="UTC",
        status=ConnectionStatus.ACTIVE,
    )
    db.add(conn)
    db.flush()
    db.add(
        Fetch(
            workspace_id=ws.id,
            connection_id=conn.id,
            kind="backfill",
            status=RunStatus.SUCCEEDED,
            checkpoint={"chunks": []},
            created_at=datetime.now(UTC) - timedelta(days=2),
        )
    )
    db.flush()
    settings = Settings()
    first = request_sync(db, settings=settings, connection=conn)
    assert first.checkpoint and first.checkpoint["lookback"] == "full"
    first.status = RunStatus.SUCCEEDED
    db.flush()
    second = request_sync(db, settings=settings, connection=conn)
    assert second.checkpoint and second.checkpoint["lookback"] == "short"
    assert second.window_start and first.window_start
    assert second.window_start > first.window_start


def test_the_daily_pass_re_reads_old_breakdown_days_without_reach_newest_first() -> None:
    d = date(2025, 1, 1)
    days = {
        # two runs of consecutive days: 1-40 (two windows of at most 31 days) and 50
        "age": [d + timedelta(days=n) for n in (*range(40), 49)],
        "country": [d + timedelta(days=n) for n in (10, 11, 12)],
    }
    chunks = plan.reach_revisits(days, chunk_days=31, most=10)
    got = [(c.breakdown, c.since, c.until) for c in chunks]
    assert got == [
        ("age", d + timedelta(days=49), d + timedelta(days=49)),
        ("age", d + timedelta(days=31), d + timedelta(days=39)),
        ("age", d, d + timedelta(days=30)),
        ("country", d + timedelta(days=10), d + timedelta(days=12)),
    ]
    assert all(c.part == "breakdown" for c in chunks)
    assert plan.reach_revisits(days, chunk_days=31, most=2) == chunks[:2]
    assert plan.reach_revisits(days, chunk_days=31, most=0) == []
    assert plan.reach_revisits({}, chunk_days=31, most=10) == []
