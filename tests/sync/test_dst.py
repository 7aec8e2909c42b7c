"""Daylight-saving days end to end: a real backfill through the SDK against a sandbox whose
clock is pinned next to Los Angeles' spring-forward day (2026-03-08: 02:00 does not exist, the
day has 23 hours) and then next to its fall-back day (2026-11-01: 01:00 happens twice, Meta
merges it into one hourly row), with Kolkata (+05:30, no DST) beside it. The pinned dates
keep these days covered whatever the date the suite runs on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text

from metricx.db import unit_of_work
from metricx.ingest.timing import day_start_utc
from metricx.models import Connection, FailedRecord, Fetch, Import, RunStatus
from metricx.runtime import Runtime, build_runtime
from metricx.sandbox.config import SandboxConfig
from metricx.sync import runner, service
from tests.meta_sandbox import MetaSandbox, sandbox_fixture
from tests.sync.conftest import connect_account, sandbox_clients
from tests.sync.truth import assert_matches_truth

SPRING_FORWARD = date(2026, 3, 8)
FALL_BACK = date(2026, 11, 1)
# Afternoon in Los Angeles two days after each change: the backfill's last day is under way.
MARCH_NOW = datetime(2026, 3, 10, 21, 40, tzinfo=UTC)
NOVEMBER_NOW = datetime(2026, 11, 3, 21, 40, tzinfo=UTC)
LOS_ANGELES, KOLKATA = 0, 3  # sandbox account indexes (generator.ACCOUNT_PROFILES)


@pytest.fixture(scope="module")
def dst_sandbox() -> Iterator[MetaSandbox]:
    """Four small accounts (LA, Berlin, UTC, Kolkata; 12 ads each) whose history starts three
    weeks before 2026-03-10: 8 of LA's ads and 11 of Kolkata's deliver across both windows."""
    yield from sandbox_fixture(
        SandboxConfig(
            seed=4,
            accounts=4,
            campaigns=3,
            adsets_per_campaign=2,
            ads_per_adset=2,
            days=21,
            tier="standard",
            clock=MARCH_NOW,
            frozen_clock=True,
        )
    )


@pytest.fixture
def dst_runtime(dst_sandbox: MetaSandbox, tmp_path: Path, sync_engine: Engine) -> Runtime:
    settings = dst_sandbox.settings(
        tmp_path,
        sync_engine.url.render_as_string(hide_password=False),
        sync_backfill_days=5,
        sync_retry_base_seconds=0.01,
        sync_retry_max_seconds=0.05,
    )
    return build_runtime(settings, engine=sync_engine)


def first_backfill(runtime: Runtime, box: MetaSandbox, connection: Connection) -> Fetch:
    """The connection's initial backfill (sync_backfill_days up to the sandbox's today), run
    to its end in this process; waits move the sandbox clock."""
    now = datetime.fromisoformat(box.http.get("/_sandbox/clock").json()["now"])
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        fetch = service.request_sync(session, settings=runtime.settings, connection=row, now=now)
        fetch_id = fetch.id
    while (
        runner.run_fetch(runtime, fetch_id, client_factory=sandbox_clients(box), sleep=box.advance)
        == "deferred"
    ):
        pass
    with unit_of_work(runtime.sessions) as session:
        done = session.get(Fetch, fetch_id)
        assert done is not None
        session.expunge(done)
        return done


def expected_hour_starts(tz: ZoneInfo, day: date) -> list[datetime]:
    """The UTC starts of the hourly rows Meta returns for a local day: one per real hour from
    local midnight to the next, except the second occurrence of a repeated hour (Meta merges
    it into the first)."""
    start, end = day_start_utc(day, tz), day_start_utc(day + timedelta(days=1), tz)
    hours = [start + timedelta(hours=k) for k in range(int((end - start) / timedelta(hours=1)))]
    return [t for t in hours if not t.astimezone(tz).fold]


STORED_HOURS = text(
    """
    SELECT DISTINCT f.event_at FROM metric_facts f JOIN entities e ON e.id = f.entity_id
    WHERE e.connection_id = :cid AND f.level = 'ad' AND f.granularity = 'hour'
      AND (f.event_at AT TIME ZONE :tz)::date = :day
    ORDER BY 1
    """
)
# Per ad and local day: the daily fact beside the sum of that day's hourly facts.
HOURS_VS_DAY = text(
    """
    WITH hours AS (
      SELECT f.entity_id, (f.event_at AT TIME ZONE :tz)::date AS day, sum(f.spend) AS spend,
             sum(f.impressions) AS impressions, sum(f.clicks) AS clicks
      FROM metric_facts f JOIN entities e ON e.id = f.entity_id
      WHERE e.connection_id = :cid AND f.level = 'ad' AND f.granularity = 'hour'
      GROUP BY 1, 2
    ), days AS (
      SELECT f.entity_id, (f.event_at AT TIME ZONE :tz)::date AS day, f.event_at, f.spend,
             f.impressions, f.clicks
      FROM metric_facts f JOIN entities e ON e.id = f.entity_id
      WHERE e.connection_id = :cid AND f.level = 'ad' AND f.granularity = 'day'
    )
    SELECT d.day, d.event_at, d.spend, d.impressions, d.clicks,
           h.spend AS h_spend, h.impressions AS h_impressions, h.clicks AS h_clicks
    FROM days d FULL JOIN hours h ON h.entity_id = d.entity_id AND h.day = d.day
    """
)


def assert_dst_days_stored_exactly(
    runtime: Runtime,
    box: MetaSandbox,
    connection: Connection,
    since: date,
    until: date,
    hours_per_day: dict[date, int],
) -> None:
    assert assert_matches_truth(runtime, box, connection, since, until) > 0
    tz = ZoneInfo(connection.timezone)
    with runtime.engine.connect() as db:
        for offset in range((until - since).days):  # the last day is still under way
            day = since + timedelta(days=offset)
            stored = list(
                db.execute(
                    STORED_HOURS, {"cid": connection.id, "tz": connection.timezone, "day": day}
                ).scalars()
            )
            expected = expected_hour_starts(tz, day)
            assert len(expected) == hours_per_day.get(day, 24), day
            assert stored == expected, (day, stored[:3], expected[:3])
        compared = 0
        for row in db.execute(HOURS_VS_DAY, {"cid": connection.id, "tz": connection.timezone}):
            assert row.event_at == day_start_utc(row.day, tz), row
            assert (row.spend, row.impressions, row.clicks) == (
                row.h_spend,
                row.h_impressions,
                row.h_clicks,
            ), row
            compared += 1
        assert compared > 0


def assert_nothing_refused(runtime: Runtime, fetch: Fetch) -> None:
    """No hourly row was refused by the ingest (a row for the missing hour would be)."""
    assert fetch.status is RunStatus.SUCCEEDED, fetch.error
    assert all(not c.get("refused") for c in fetch.checkpoint["chunks"])  # type: ignore[index]
    with unit_of_work(runtime.sessions) as session:
        dead = session.scalars(
            select(FailedRecord.id)
            .join(Import, Import.id == FailedRecord.import_id)
            .where(Import.fetch_id == fetch.id)
        ).all()
        assert dead == []


@pytest.mark.parametrize("index", [LOS_ANGELES, KOLKATA], ids=["los_angeles", "kolkata"])
def test_backfill_across_the_spring_forward_day_equals_truth(
    dst_runtime: Runtime, dst_sandbox: MetaSandbox, index: int
) -> None:
    dst_sandbox.http.post("/_sandbox/clock", json={"now": MARCH_NOW.isoformat()})
    connection = connect_account(dst_runtime, dst_sandbox, index)
    fetch = first_backfill(dst_runtime, dst_sandbox, connection)
    assert_nothing_refused(dst_runtime, fetch)
    tz = ZoneInfo(connection.timezone)
    until = MARCH_NOW.astimezone(tz).date()  # Mar 10 in Los Angeles, already Mar 11 in Kolkata
    since = until - timedelta(days=4)
    assert since <= SPRING_FORWARD < until
    assert (fetch.window_start, fetch.window_end) == (
        day_start_utc(since, tz),
        day_start_utc(until + timedelta(days=1), tz),
    )
    short = {SPRING_FORWARD: 23} if index == LOS_ANGELES else {}
    assert_dst_days_stored_exactly(dst_runtime, dst_sandbox, connection, since, until, short)
    if index == LOS_ANGELES:
        # 02:00-02:59 local does not exist that day: neither Meta nor metricx has it.
        rows = dst_sandbox.http.get(
            "/_sandbox/truth",
            params={
                "account_id": connection.external_account_id,
                "level": "account",
                "granularity": "hour",
                "since": SPRING_FORWARD.isoformat(),
                "until": SPRING_FORWARD.isoformat(),
            },
        ).json()["rows"]
        assert sorted(r["hour"] for r in rows) == [h for h in range(24) if h != 2]
        with dst_runtime.engine.connect() as db:
            hours = db.execute(
                text(
                    "SELECT DISTINCT extract(hour FROM f.event_at AT TIME ZONE :tz)::int"
                    " FROM metric_facts f JOIN entities e ON e.id = f.entity_id"
                    " WHERE e.connection_id = :cid AND f.granularity = 'hour'"
                    " AND (f.event_at AT TIME ZONE :tz)::date = :day ORDER BY 1"
                ),
                {"cid": connection.id, "tz": connection.timezone, "day": SPRING_FORWARD},
            ).scalars()
            assert list(hours) == [h for h in range(24) if h != 2]
    else:
        # +05:30: every hour bucket starts at half past in UTC
        with dst_runtime.engine.connect() as db:
            minutes = db.execute(
                text(
                    "SELECT DISTINCT extract(minute FROM f.event_at AT TIME ZONE 'UTC')::int"
                    " FROM metric_facts f JOIN entities e ON e.id = f.entity_id"
                    " WHERE e.connection_id = :cid AND f.level = 'ad'"
                ),
                {"cid": connection.id},
            ).scalars()
            assert list(minutes) == [30]


def test_backfill_across_the_fall_back_day_merges_the_repeated_hour(
    dst_runtime: Runtime, dst_sandbox: MetaSandbox
) -> None:
    dst_sandbox.http.post("/_sandbox/clock", json={"now": NOVEMBER_NOW.isoformat()})
    connection = connect_account(dst_runtime, dst_sandbox, LOS_ANGELES)
    fetch = first_backfill(dst_runtime, dst_sandbox, connection)
    assert_nothing_refused(dst_runtime, fetch)
    since, until = date(2026, 10, 30), date(2026, 11, 3)
    assert (fetch.window_start, fetch.window_end) == (
        day_start_utc(since, ZoneInfo(connection.timezone)),
        day_start_utc(until + timedelta(days=1), ZoneInfo(connection.timezone)),
    )
    # 25 real hours, 24 hourly rows: 01:00 PDT and 01:00 PST are one row, stored at the first
    assert_dst_days_stored_exactly(
        dst_runtime, dst_sandbox, connection, since, until, {FALL_BACK: 24}
    )
    # The merged row holds both real hours (08:00 and 09:00 UTC) and is stored at the first.
    truth = dst_sandbox.http.get(
        "/_sandbox/truth",
        params={
            "account_id": connection.external_account_id,
            "level": "account",
            "granularity": "hour",
            "since": FALL_BACK.isoformat(),
            "until": FALL_BACK.isoformat(),
        },
    ).json()["rows"]
    repeated = {r["utc_start"]: r["impressions"] for r in truth if r["hour"] == 1}
    assert sorted(repeated) == ["2026-11-01T08:00:00+00:00", "2026-11-01T09:00:00+00:00"]
    with dst_runtime.engine.connect() as db:
        stored = {
            at: total
            for at, total in db.execute(
                text(
                    "SELECT f.event_at, sum(f.impressions) FROM metric_facts f"
                    " JOIN entities e ON e.id = f.entity_id WHERE e.connection_id = :cid"
                    " AND f.level = 'ad' AND f.granularity = 'hour'"
                    " AND f.event_at IN ('2026-11-01T08:00Z', '2026-11-01T09:00Z') GROUP BY 1"
                ),
                {"cid": connection.id},
            )
        }
    assert stored == {datetime(2026, 11, 1, 8, tzinfo=UTC): sum(repeated.values())}
