"""Reach for any range: the sync keeps Meta's deduplicated reach of the standard ranges per
account, campaign and ad set; other ranges are fetched on demand (answered pending until
then). Every figure equals the sandbox's reach for exactly that range, never a sum of days."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from metricx.db import unit_of_work
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.range_reach import fetch_range_reach
from metricx.metrics.calendar import Preset
from metricx.metrics.reach import queueing_lock, standard_ranges
from metricx.metrics.schemas import GroupBy, GroupLevel, MetricQuery, MetricQueryResult
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Connection, RunStatus, Workspace
from metricx.runtime import Runtime
from metricx.sandbox import delivery as dv
from metricx.sync.reach_ranges import ranges_due, run_range_fetch
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account, sandbox_clients
from tests.sync.test_sync_sandbox import request, run
from tests.sync.truth import truth_rows

Span = tuple[date, date]

STORED = text(
    """
    SELECT e.level, e.external_id, r.since, r.until, r.reach, r.impressions
    FROM reach_ranges r JOIN entities e ON e.id = r.entity_id WHERE e.connection_id = :c
    """
)


def range_truth(box: MetaSandbox, account: str, level: str, span: Span) -> dict[str, int]:
    """The sandbox's reach of every entity of ``level`` that delivered in exactly ``span``."""
    params = {"account_id": account, "level": level}
    answer = box.http.get(
        "/_sandbox/truth/reach",
        params={**params, "since": span[0].isoformat(), "until": span[1].isoformat()},
    )
    if answer.status_code == 200:
        return {r["entity_id"]: r["reach"] for r in answer.json()["rows"]}
    # Older sandboxes: the range's impressions from the daily truth, reach by the same rule.
    impressions: dict[str, int] = defaultdict(int)
    for row in truth_rows(box, account, level, "day", *span):
        impressions[row["entity_id"]] += row["impressions"]
    days = (span[1] - span[0]).days + 1
    return {e: dv.reach_for(e, n, days) for e, n in impressions.items() if n > 0}


def stored(runtime: Runtime, connection: Connection) -> dict[tuple[str, Span], dict[str, int]]:
    out: dict[tuple[str, Span], dict[str, int]] = defaultdict(dict)
    with runtime.engine.connect() as db:
        for level, external, since, until, reach, _ in db.execute(STORED, {"c": connection.id}):
            if reach or level != "account":  # the account's 0 only marks "fetched"
                out[(level, (since, until))][external] = reach
    return out


def today_of(connection: Connection) -> date:
    return local_today(connection, datetime.now(UTC))


def backfilled(runtime: Runtime, box: MetaSandbox, index: int) -> Connection:
    runtime.settings.sync_backfill_days = 40
    connection = connect_account(runtime, box, index)
    fetch = run(runtime, box, request(runtime, connection, box))
    assert fetch.status is RunStatus.SUCCEEDED
    return connection


def ask(runtime: Runtime, connection: Connection, query: MetricQuery) -> MetricQueryResult:
    with unit_of_work(runtime.sessions) as session:
        workspace = session.get(Workspace, connection.workspace_id)
        assert workspace is not None
        service = UnifiedMetricService(session, use_cache=False)
        return service.query(workspace, query)


def test_the_sync_stores_each_standard_range_reach_as_the_sandbox_has_it(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = backfilled(sync_runtime, sync_sandbox, 1)
    account = connection.external_account_id
    found = stored(sync_runtime, connection)
    ranges = standard_ranges(today_of(connection))
    assert {span for _, span in found} <= set(ranges)
    compared = 0
    for span in ranges:
        for level in ("account", "campaign", "adset"):
            truth = range_truth(sync_sandbox, account, level, span)
            assert found.get((level, span), {}) == truth, (level, span)
            compared += len(truth)
    assert compared > 50
    # Reach is not additive: a week's reach is not the sum of its days'.
    week = (ranges[0][0], ranges[0][1])
    daily = sum(
        range_truth(sync_sandbox, account, "account", (d, d)).get(account, 0)
        for d in (week[0] + timedelta(days=i) for i in range(7))
    )
    assert found[("account", week)][account] < daily


def test_all_standard_ranges_cost_a_few_batch_requests(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    client = MetaAdsClient.from_settings(
        sync_runtime.settings, sync_sandbox.token(), sleep=sync_sandbox.advance
    )
    ranges = standard_ranges(today_of(connection))
    rows = list(fetch_range_reach(client, connection.external_account_id, ranges))
    # 21 calls (7 ranges x 3 levels) in at most 5 batch requests (a retry after a timeout on
    # a loaded machine aside).
    assert client.stats.calls - client.stats.retries <= 5
    assert {(r.since, r.until) for r in rows} == set(ranges)
    assert {r.level for r in rows} == {"account", "campaign", "adset"}


def test_syncs_between_daily_passes_ask_only_for_new_ranges(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = backfilled(sync_runtime, sync_sandbox, 2)
    today = today_of(connection)
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        settings = sync_runtime.settings
        assert (
            ranges_due(session, settings=settings, connection=row, today=today, refresh=False) == []
        )
        refresh = ranges_due(session, settings=settings, connection=row, today=today, refresh=True)
        settled = today - timedelta(days=settings.sync_lookback_days_daily)
        assert refresh == [r for r in standard_ranges(today) if r[1] >= settled]
        tomorrow = ranges_due(
            session,
            settings=settings,
            connection=row,
            today=today + timedelta(days=1),
            refresh=False,
        )
        assert tomorrow and all(r[1] >= today for r in tomorrow)  # a new day: new ranges only


def test_a_preset_range_answers_metas_reach_and_frequency_at_each_level(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = backfilled(sync_runtime, sync_sandbox, 0)
    span = standard_ranges(today_of(connection))[0]  # last 7 days
    for level in (GroupLevel.ACCOUNT, GroupLevel.CAMPAIGN, GroupLevel.ADSET):
        result = ask(
            sync_runtime,
            connection,
            MetricQuery(preset=Preset.LAST_7D, level=level, group_by=GroupBy.ENTITY),
        )
        assert result.reach_status == "fresh"
        assert (result.start, result.end) == span
        truth = range_truth(sync_sandbox, connection.external_account_id, level.value, span)
        names = entity_names(sync_runtime, connection)
        got = {names[g.group]: g.reach for g in result.groups}
        assert got == truth and got
        for g in result.groups:
            assert g.frequency is not None and g.reach
            assert abs(g.frequency - g.impressions / g.reach) < 1e-9
    totals = ask(sync_runtime, connection, MetricQuery(preset=Preset.LAST_7D))
    account_truth = range_truth(sync_sandbox, connection.external_account_id, "account", span)
    assert totals.reach_status == "fresh"
    assert totals.totals[0].reach == account_truth[connection.external_account_id]
    ads = ask(
        sync_runtime,
        connection,
        MetricQuery(preset=Preset.LAST_7D, level=GroupLevel.AD, group_by=GroupBy.ENTITY),
    )
    assert ads.reach_status == "unavailable" and all(g.reach is None for g in ads.groups)


def entity_names(runtime: Runtime, connection: Connection) -> dict[str, str]:
    with runtime.engine.connect() as db:
        rows = db.execute(
            text("SELECT id::text, external_id FROM entities WHERE connection_id = :c"),
            {"c": connection.id},
        )
        return {r[0]: r[1] for r in rows}


def range_jobs(runtime: Runtime, connection_id: uuid.UUID, span: Span) -> list[dict[str, Any]]:
    with runtime.engine.connect() as db:
        rows = db.execute(
            text("SELECT status, args FROM procrastinate_jobs WHERE queueing_lock = :lock"),
            {"lock": queueing_lock(connection_id, span)},
        )
        return [{"status": r[0], "args": r[1]} for r in rows]


def test_any_other_range_is_pending_until_its_job_fetched_it(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = backfilled(sync_runtime, sync_sandbox, 3)
    today = today_of(connection)
    span = (today - timedelta(days=19), today - timedelta(days=3))  # no standard range
    query = MetricQuery(
        start=span[0], end=span[1], level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY
    )
    first = ask(sync_runtime, connection, query)
    assert first.reach_status == "pending" and first.groups
    assert all(g.reach is None and g.frequency is None for g in first.groups)
    assert any("being fetched" in n for n in first.notes)
    again = ask(sync_runtime, connection, query)
    assert again.reach_status == "pending"
    jobs = range_jobs(sync_runtime, connection.id, span)
    assert len(jobs) == 1 and jobs[0]["status"] == "todo"  # asked twice, queued once
    assert jobs[0]["args"] == {
        "connection_id": str(connection.id),
        "since": span[0].isoformat(),
        "until": span[1].isoformat(),
    }

    written = run_range_fetch(
        sync_runtime, connection.id, span, client_factory=sandbox_clients(sync_sandbox)
    )
    assert written
    done = ask(sync_runtime, connection, query)
    assert done.reach_status == "fresh"
    names = entity_names(sync_runtime, connection)
    truth = range_truth(sync_sandbox, connection.external_account_id, "campaign", span)
    assert {names[g.group]: g.reach for g in done.groups} == truth
