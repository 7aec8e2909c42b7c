"""Breakdown sets synced from the sandbox through the real SDK into breakdown_facts: every
ad/day/value equals the sandbox truth, the ad set, campaign and account rollups equal the
truth summed, Type 1 (region) off-Meta measures are NULL (never 0), reach is NULL for a window
starting more than 13 months back until a daily pass re-reads it within Meta's allowance of
report jobs, a revision updates and deletes, a connection's chosen sets are the only ones
fetched, METRICX_SYNC_BREAKDOWNS=false fetches none, and an unknown set name is refused by the
API (422) and the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.cli import app as cli_app
from metricx.db import unit_of_work
from metricx.facts.breakdowns import BREAKDOWN_SETS, DEFAULT_SETS
from metricx.integrations.meta.actions import action_measures
from metricx.models import Connection, Fetch, RunStatus
from metricx.runtime import Runtime, build_runtime
from metricx.sync import checkpoints, plan
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import NOW, connect_account
from tests.sync.test_sync_sandbox import request, run, sandbox_now
from tests.sync.truth import as_list

D = Decimal
MEASURES = (
    "spend",
    "impressions",
    "clicks",
    "link_clicks",
    "reach",
    "conversions",
    "leads",
    "purchases",
    "purchase_value",
    "results",
)
STORED = text(
    """
    SELECT e.external_id, f.day, f.key1, f.key2, f.spend, f.impressions, f.clicks,
           f.link_clicks, f.reach, f.conversions, f.leads, f.purchases, f.purchase_value,
           f.results
    FROM breakdown_facts f JOIN entities e ON e.id = f.entity_id
    WHERE e.connection_id = :cid AND f.breakdown = :set
    """
)
ROLLUPS = text(
    """
    SELECT r.level, e.external_id, r.day, r.key1, r.key2, r.spend, r.impressions, r.clicks,
           r.link_clicks, r.conversions, r.leads, r.purchases, r.purchase_value, r.results
    FROM breakdown_rollups r JOIN entities e ON e.id = r.entity_id
    WHERE e.connection_id = :cid AND r.breakdown = :set AND r.span = 1
    """
)
OBJECTIVES = text(
    "SELECT ad.external_id, c.objective FROM entities ad JOIN entities s ON s.id = ad.parent_id"
    " JOIN entities c ON c.id = s.parent_id WHERE ad.connection_id = :cid AND ad.level = 'ad'"
)
SETS_STORED = text(
    "SELECT DISTINCT f.breakdown FROM breakdown_facts f JOIN entities e ON e.id = f.entity_id"
    " WHERE e.connection_id = :cid"
)

Key = tuple[str, str, str, str]


def breakdown_truth(
    box: MetaSandbox, account: str, name: str, since: date, until: date
) -> dict[str, Any]:
    params = {
        "account_id": account,
        "breakdowns": ",".join(BREAKDOWN_SETS[name]),
        "since": since.isoformat(),
        "until": until.isoformat(),
    }
    answer = box.http.get("/_sandbox/truth/breakdowns", params=params)
    answer.raise_for_status()
    return dict(answer.json())


def expected(
    truth: dict[str, Any], objectives: dict[str, str | None], *, reach: bool = True
) -> dict[Key, dict[str, Any]]:
    """The truth's shown cells as breakdown_facts rows (hidden cells have no row)."""
    out: dict[Key, dict[str, Any]] = {}
    for row in truth["rows"]:
        if row["hidden"]:
            continue
        key = (row["ad_id"], row["date"], row["key1"], row["key2"])
        measures: dict[str, Any] = {
            "spend": D(row["spend"]),
            "impressions": row["impressions"],
            "clicks": row["clicks"],
            "link_clicks": row["link_clicks"],
            "reach": row["reach"] if reach else None,
            "results": None if row["results"] is None else D(row["results"]),
        }
        if not reach and row["result_type"] == "reach":
            measures["results"] = None  # a reach result reads the row's reach
        if truth["type1"]:
            measures.update(conversions=None, leads=None, purchases=None, purchase_value=None)
        else:
            m = action_measures(
                as_list(row["actions"]), as_list(row["action_values"]), objectives[row["ad_id"]]
            )
            measures.update(
                conversions=m.conversions,
                leads=m.leads,
                purchases=m.purchases,
                purchase_value=m.purchase_value,
            )
        out[key] = measures
    return out


def stored(runtime: Runtime, connection: Connection, name: str) -> dict[Key, dict[str, Any]]:
    with runtime.engine.connect() as db:
        rows = db.execute(STORED, {"cid": connection.id, "set": name}).all()
    out = {}
    for r in rows:
        values = dict(zip(MEASURES, r[4:], strict=True))
        for k in ("conversions", "leads", "purchases", "purchase_value", "results"):
            if values[k] is not None:
                values[k] = D(values[k]).normalize()
        values["spend"] = D(values["spend"]).normalize()
        out[(r[0], r[1].isoformat(), r[2], r[3])] = values
    return out


def normalized(rows: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {
        k: {m: (v.normalize() if isinstance(v, D) else v) for m, v in row.items()}
        for k, row in rows.items()
    }


def objectives_of(runtime: Runtime, connection: Connection) -> dict[str, str | None]:
    with runtime.engine.connect() as db:
        return {r[0]: r[1] for r in db.execute(OBJECTIVES, {"cid": connection.id})}


def settings_for(box: MetaSandbox, tmp: Path, database: str, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "sync_retry_base_seconds": 0.01,
        "sync_retry_max_seconds": 0.05,
        "sync_async_min_rows": 2000,
        "sync_backfill_days": 6,
        "sync_chunk_days_daily": 4,  # two daily windows: chunks per set and window
    }
    values.update(extra)
    return box.settings(tmp, database, **values)


def choose(runtime: Runtime, connection: Connection, sets: list[str] | None) -> None:
    from metricx.connections.service import set_breakdown_sets

    with unit_of_work(runtime.sessions) as session:
        set_breakdown_sets(
            session,
            workspace_id=connection.workspace_id,
            connection_id=connection.id,
            sets=sets,
        )


def chunks_of(runtime: Runtime, fetch: Fetch) -> list[checkpoints.ChunkState]:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Fetch, fetch.id)
        assert row is not None
        return checkpoints.sync_of(row).chunks


@pytest.fixture(scope="module")
def synced(
    sync_sandbox: MetaSandbox,
    sync_database: str,
    sync_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Runtime, Connection, Fetch, date, date]:
    """Account 0 backfilled with the default sets."""
    box = sync_sandbox
    settings = settings_for(box, tmp_path_factory.mktemp("bd"), sync_database)
    runtime = build_runtime(settings, engine=sync_engine)
    connection = connect_account(runtime, box, 0)
    done = run(runtime, box, request(runtime, connection, box))
    assert done.status is RunStatus.SUCCEEDED, done.error
    today = local_today(connection, sandbox_now(box))
    return runtime, connection, done, today - timedelta(days=5), today


def test_backfill_with_the_default_sets_equals_the_truth(
    synced: tuple[Runtime, Connection, Fetch, date, date], sync_sandbox: MetaSandbox
) -> None:
    runtime, connection, fetch, since, until = synced
    chunks = chunks_of(runtime, fetch)
    windows = list(plan.split(plan.Window(since, until), 4))
    bd = [c for c in chunks if c.part == "breakdown"]
    assert sorted((c.breakdown, c.since) for c in bd) == sorted(
        (name, w.since) for name in DEFAULT_SETS for w in windows
    )
    assert all(c.status == "done" for c in bd) and sum(c.rows for c in bd) > 0
    objectives = objectives_of(runtime, connection)
    compared = hidden = 0
    for name in DEFAULT_SETS:
        truth = breakdown_truth(sync_sandbox, connection.external_account_id, name, since, until)
        hidden += sum(1 for r in truth["rows"] if r["hidden"])
        want = normalized(expected(truth, objectives))
        got = stored(runtime, connection, name)
        assert got.keys() == want.keys(), name
        for key, row in want.items():
            assert got[key] == row, (name, key)
        compared += len(want)
    assert compared > 1000 and hidden > 0  # some small cells were withheld, as Meta does


def test_rollups_equal_the_truth_summed(
    synced: tuple[Runtime, Connection, Fetch, date, date], sync_sandbox: MetaSandbox
) -> None:
    runtime, connection, _, since, until = synced
    objectives = objectives_of(runtime, connection)
    sums = ("spend", "impressions", "clicks", "link_clicks", "conversions", "leads")
    sums += ("purchases", "purchase_value", "results")
    for name in ("age_gender", "placement"):
        truth = breakdown_truth(sync_sandbox, connection.external_account_id, name, since, until)
        want = expected(truth, objectives)
        parents = {
            r["ad_id"]: {
                "adset": r["adset_id"],
                "campaign": r["campaign_id"],
                "account": connection.external_account_id,
            }
            for r in truth["rows"]
        }
        totals: dict[tuple[str, str, str, str, str], dict[str, D]] = defaultdict(
            lambda: defaultdict(D)
        )
        for (ad, day, k1, k2), row in want.items():
            for level, parent in parents[ad].items():
                slot = totals[(level, parent, day, k1, k2)]
                for m in sums:
                    slot[m] += D(row[m] or 0)
        with runtime.engine.connect() as db:
            rows = db.execute(ROLLUPS, {"cid": connection.id, "set": name}).all()
        got = {
            (r[0], r[1], r[2].isoformat(), r[3], r[4]): dict(zip(sums, map(D, r[5:]), strict=True))
            for r in rows
        }
        assert got.keys() == totals.keys(), name
        for key, row in totals.items():
            assert {m: v.normalize() for m, v in got[key].items()} == {
                m: v.normalize() for m, v in row.items()
            }, (name, key)
        assert {k[0] for k in got} == {"adset", "campaign", "account"}


def test_chosen_sets_only_and_type1_region_has_no_off_meta_measures(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, tmp_path: Path, sync_database: str
) -> None:
    settings = settings_for(sync_sandbox, tmp_path, sync_database)
    runtime = build_runtime(settings, engine=sync_runtime.engine)
    connection = connect_account(runtime, sync_sandbox, 1)
    chosen = ["region", "device_platform", "dma", "platform_device"]
    choose(runtime, connection, chosen)
    done = run(runtime, sync_sandbox, request(runtime, connection, sync_sandbox))
    assert done.status is RunStatus.SUCCEEDED, done.error
    sets = {c.breakdown for c in chunks_of(runtime, done) if c.part == "breakdown"}
    assert sets == set(chosen)
    with runtime.engine.connect() as db:
        assert set(db.execute(SETS_STORED, {"cid": connection.id}).scalars()) == sets
    today = local_today(connection, sandbox_now(sync_sandbox))
    since = today - timedelta(days=5)
    objectives = objectives_of(runtime, connection)
    for type1 in ("region", "dma"):
        region = stored(runtime, connection, type1)
        assert region and all(
            r[m] is None for r in region.values() for m in ("conversions", "leads", "purchases")
        )
        assert all(r["purchase_value"] is None for r in region.values())
        assert any(r["link_clicks"] for r in region.values())  # on-Meta figures are there
    for name in sets:
        truth = breakdown_truth(sync_sandbox, connection.external_account_id, name, since, today)
        assert stored(runtime, connection, name) == normalized(expected(truth, objectives))
    # device_platform (not Type 1) does report purchases where the account has any
    for name in ("device_platform", "platform_device"):
        device = stored(runtime, connection, name)
        assert all(r["purchases"] is not None for r in device.values())


def test_a_revision_updates_and_deletes(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, tmp_path: Path, sync_database: str
) -> None:
    # Noon on the UTC account (index 2), whatever hour the suite runs at: in the small hours the
    # running day holds too little for five more hours to lift any new cell past 200 impressions
    noon = NOW.replace(hour=12)
    sync_sandbox.http.post("/_sandbox/clock", json={"now": noon.isoformat()}).raise_for_status()
    settings = settings_for(sync_sandbox, tmp_path, sync_database, sync_backfill_days=3)
    runtime = build_runtime(settings, engine=sync_runtime.engine)
    connection = connect_account(runtime, sync_sandbox, 2)
    choose(runtime, connection, ["age"])
    first = run(runtime, sync_sandbox, request(runtime, connection, sync_sandbox))
    assert first.status is RunStatus.SUCCEEDED, first.error
    today = local_today(connection, sandbox_now(sync_sandbox))
    since = today - timedelta(days=2)
    before = stored(runtime, connection, "age")
    # Meta revises: late conversions arrive and the running day fills up; more cells hidden
    sync_sandbox.advance(5 * 3600)
    sync_sandbox.faults(breakdown_hidden_below=200)
    again = run(
        runtime, sync_sandbox, request(runtime, connection, sync_sandbox, since=since, until=today)
    )
    assert again.status is RunStatus.SUCCEEDED, again.error
    chunks = [c for c in chunks_of(runtime, again) if c.part == "breakdown"]
    assert sum(c.deleted for c in chunks) > 0 and sum(c.inserted for c in chunks) > 0
    after = stored(runtime, connection, "age")
    assert len(after) < len(before)
    truth = breakdown_truth(sync_sandbox, connection.external_account_id, "age", since, today)
    assert after == normalized(expected(truth, objectives_of(runtime, connection)))


def test_reach_past_13_months_is_null_until_a_daily_pass_has_report_jobs_for_it(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, tmp_path: Path, sync_database: str
) -> None:
    settings = settings_for(sync_sandbox, tmp_path, sync_database, sync_chunk_days_daily=31)
    runtime = build_runtime(settings, engine=sync_runtime.engine)
    # 14 months on (a token of that time): the backfill straddles the 13-month cutoff
    later: datetime = NOW + timedelta(days=427)
    sync_sandbox.http.post("/_sandbox/clock", json={"now": later.isoformat()}).raise_for_status()
    connection = connect_account(runtime, sync_sandbox, 3)
    choose(runtime, connection, ["gender"])
    today = local_today(connection, sandbox_now(sync_sandbox))
    cutoff = plan.reach_cutoff(today)
    day = timedelta(days=1)
    since, until = cutoff - 40 * day, cutoff + day
    newer_old, older_old = (cutoff - 9 * day, cutoff - day), (since, cutoff - 10 * day)
    objectives: dict[str, str | None] = {}

    def check(with_reach: list[tuple[date, date]]) -> None:
        """The stored rows of [since, until] equal the truth: with reach from the cutoff on
        and in the old windows ``with_reach``, without it in the other old ones."""
        rows = stored(runtime, connection, "gender")
        rows = {k: r for k, r in rows.items() if k[1] <= until.isoformat()}
        account = connection.external_account_id
        truth = breakdown_truth(sync_sandbox, account, "gender", since, until)
        full, bare = expected(truth, objectives), expected(truth, objectives, reach=False)

        def reached(day: str) -> bool:
            d = date.fromisoformat(day)
            return d >= cutoff or any(a <= d <= b for a, b in with_reach)

        assert rows == normalized({k: full[k] if reached(k[1]) else bare[k] for k in full})

    def old_windows(fetch: Fetch) -> list[tuple[date | None, date | None]]:
        """The fetch's breakdown windows that end before the cutoff."""
        chunks = chunks_of(runtime, fetch)
        return [(c.since, c.until) for c in chunks if c.part == "breakdown" and c.until < cutoff]

    sync_sandbox.faults(reach_jobs_per_day=0)  # the account's allowance is spent today
    done = run(
        runtime, sync_sandbox, request(runtime, connection, sync_sandbox, since=since, until=until)
    )
    assert done.status is RunStatus.SUCCEEDED, done.error
    windows = [(c.since, c.until) for c in chunks_of(runtime, done) if c.part == "breakdown"]
    assert windows == [older_old, newer_old, (cutoff, until)]  # 31 days, then cut at the cutoff
    objectives.update(objectives_of(runtime, connection))
    rows = stored(runtime, connection, "gender")
    assert all(r["reach"] is None for k, r in rows.items() if k[1] < cutoff.isoformat())
    assert all(r["reach"] is not None for k, r in rows.items() if k[1] >= cutoff.isoformat())
    truth = breakdown_truth(sync_sandbox, connection.external_account_id, "gender", since, until)
    assert truth["reach_cutoff"] == cutoff.isoformat()
    check(with_reach=[])

    # The daily pass plans a report job for each old window stored without reach (newest
    # first); Meta's allowance gives reach to one of them today, and refuses the other's (the
    # backfill saw the other documented answer: rows without reach). Refused, the window is
    # read without reach and the sync still succeeds.
    sync_sandbox.faults(reach_jobs_per_day=1, reach_limit_refuses=True)
    first = run(runtime, sync_sandbox, request(runtime, connection, sync_sandbox))
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert checkpoints.sync_of(first).lookback == "full"
    assert old_windows(first) == [newer_old, older_old]
    check(with_reach=[newer_old])

    # The next day's pass re-reads the window still without reach, and only that one.
    sync_sandbox.advance(24 * 3600)
    second = run(runtime, sync_sandbox, request(runtime, connection, sync_sandbox))
    assert second.status is RunStatus.SUCCEEDED, second.error
    assert old_windows(second) == [older_old]
    check(with_reach=[newer_old, older_old])


def test_breakdowns_turned_off_plan_no_breakdown_chunks(
    sync_sandbox: MetaSandbox, tmp_path: Path, sync_database: str, sync_runtime: Runtime
) -> None:
    settings = settings_for(sync_sandbox, tmp_path, sync_database, sync_breakdowns=False)
    runtime = build_runtime(settings, engine=sync_runtime.engine)
    connection = connect_account(runtime, sync_sandbox, 0)
    fetch = request(runtime, connection, sync_sandbox)
    assert not [c for c in chunks_of(runtime, fetch) if c.part == "breakdown"]
    on = settings_for(sync_sandbox, tmp_path, sync_database)
    today = date(2026, 3, 1)
    _, full = plan.incremental_plan(on, today, full=True, breakdowns=DEFAULT_SETS)
    _, short = plan.incremental_plan(on, today, full=False, breakdowns=DEFAULT_SETS)
    assert [c.breakdown for c in full if c.part == "breakdown"] == list(DEFAULT_SETS)
    assert [c for c in short if c.part == "breakdown"] == []  # the daily pass only


def test_sets_chosen_through_the_api_and_the_cli(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 1)
    with unit_of_work(sync_runtime.sessions) as session:
        key = create_api_key(session, workspace_id=connection.workspace_id).key
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/api/v1/workspaces/{connection.workspace_id}/connections/{connection.id}"
    with TestClient(create_app(sync_runtime), base_url="https://testserver") as http:
        assert http.get(base, headers=headers).json()["breakdown_sets"] == list(DEFAULT_SETS)
        bad = http.put(base + "/breakdowns", headers=headers, json={"sets": ["age", "zodiac"]})
        assert bad.status_code == 422, bad.text
        error = bad.json()["error"]
        assert "zodiac" in error["message"] and "age_gender" in error["message"]
        ok = http.put(base + "/breakdowns", headers=headers, json={"sets": ["country", "age"]})
        assert ok.status_code == 200 and ok.json()["breakdown_sets"] == ["country", "age"]
        none = http.put(base + "/breakdowns", headers=headers, json={"sets": []})
        assert none.json()["breakdown_sets"] == []
        again = http.put(base + "/breakdowns", headers=headers, json={"sets": None})
        assert again.json()["breakdown_sets"] == list(DEFAULT_SETS)

    settings = sync_runtime.settings
    keys = settings.encryption_keys
    env = {
        "METRICX_DATABASE_URL": str(settings.database_url),
        "METRICX_DATA_DIR": str(settings.data_dir),
        "METRICX_ENCRYPTION_KEYS": keys.get_secret_value() if keys else "",
    }
    runner = CliRunner()
    cid = str(connection.id)
    wrong = runner.invoke(cli_app, ["connections", "breakdowns", cid, "--sets", "age,foo"], env=env)
    assert wrong.exit_code == 1 and "foo" in wrong.output
    chosen = runner.invoke(
        cli_app,
        ["connections", "breakdowns", cid, "--sets", "age_gender,region", "--json"],
        env=env,
    )
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(chosen.stdout)["breakdown_sets"] == ["age_gender", "region"]
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None and row.breakdown_sets == ["age_gender", "region"]


def test_a_failed_breakdown_job_is_split_by_window_then_campaigns(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, tmp_path: Path, sync_database: str
) -> None:
    settings = settings_for(sync_sandbox, tmp_path, sync_database, sync_backfill_days=2)
    runtime = build_runtime(settings, engine=sync_runtime.engine)
    connection = connect_account(runtime, sync_sandbox, 0)
    choose(runtime, connection, ["country"])
    # Meta fails a report job over more than 5 ad-days: one day of the whole account fails too
    sync_sandbox.faults(report_max_rows=5)
    done = run(runtime, sync_sandbox, request(runtime, connection, sync_sandbox))
    assert done.status is RunStatus.SUCCEEDED, done.error
    pieces = [c for c in chunks_of(runtime, done) if c.part == "breakdown"]
    assert all(c.status == "done" and c.breakdown == "country" for c in pieces)
    assert all(c.since == c.until and c.campaigns for c in pieces) and len(pieces) > 2
    today = local_today(connection, sandbox_now(sync_sandbox))
    since = today - timedelta(days=1)
    truth = breakdown_truth(sync_sandbox, connection.external_account_id, "country", since, today)
    want = normalized(expected(truth, objectives_of(runtime, connection)))
    assert stored(runtime, connection, "country") == want and want


def test_the_query_api_answers_the_truth_at_every_level(
    synced: tuple[Runtime, Connection, Fetch, date, date], sync_sandbox: MetaSandbox
) -> None:
    """breakdown= through the HTTP API, grouped by account, campaign, ad set and ad over the
    synced days: every row equals the sandbox truth's shown cells summed at that level, and
    the ungrouped answer's reconciliation compares the values' sum with the unbroken total."""
    runtime, connection, _, since, until = synced
    objectives = objectives_of(runtime, connection)
    ws = connection.workspace_id
    with unit_of_work(runtime.sessions) as session:
        key = create_api_key(session, workspace_id=ws).key
        external = {
            str(r[0]): r[1]
            for r in session.execute(
                text("SELECT id, external_id FROM entities WHERE workspace_id = :ws"), {"ws": ws}
            )
        }
    headers = {"Authorization": f"Bearer {key}"}
    days = {"start": since.isoformat(), "end": until.isoformat()}
    checked = 0
    with TestClient(create_app(runtime), base_url="https://testserver") as http:
        for name in ("age_gender", "country"):
            truth = breakdown_truth(
                sync_sandbox, connection.external_account_id, name, since, until
            )
            want_cells = expected(truth, objectives)
            parents = {
                r["ad_id"]: {
                    "ad": r["ad_id"],
                    "adset": r["adset_id"],
                    "campaign": r["campaign_id"],
                    "account": connection.external_account_id,
                }
                for r in truth["rows"]
            }
            fields = BREAKDOWN_SETS[name]
            for level in ("account", "campaign", "adset", "ad"):
                want: dict[tuple[str, ...], list[D]] = defaultdict(lambda: [D(0)] * 4)
                for (ad, _day, k1, k2), row in want_cells.items():
                    slot = want[(parents[ad][level], k1, k2)]
                    for i, m in enumerate(("spend", "impressions", "clicks", "purchases")):
                        slot[i] += D(row[m] or 0)
                answer = http.get(
                    f"/api/v1/workspaces/{ws}/metrics/query",
                    headers=headers,
                    params={**days, "breakdown": name, "level": level, "group_by": "entity"},
                )
                assert answer.status_code == 200, answer.text
                got = {}
                for g in answer.json()["groups"]:
                    values = g["breakdown"]
                    k = (
                        external[g["group"]],
                        values[fields[0]],
                        values[fields[1]] if len(fields) > 1 else "",
                    )
                    got[k] = [
                        D(g["spend"]),
                        D(g["impressions"]),
                        D(g["clicks"]),
                        D(g["purchases"] or 0),
                    ]
                assert got.keys() == want.keys(), (name, level)
                for k, sums in want.items():
                    assert [v.normalize() for v in got[k]] == [v.normalize() for v in sums], (
                        name,
                        level,
                        k,
                    )
                checked += len(got)
            whole = http.get(
                f"/api/v1/workspaces/{ws}/metrics/query",
                headers=headers,
                params={**days, "breakdown": name},
            ).json()
            spend = next(r for r in whole["reconciliation"] if r["measure"] == "spend")
            shown = sum((D(r["spend"]) for r in want_cells.values()), D(0))
            assert D(spend["breakdown_total"]) == shown.quantize(D("0.01"))
            # Hidden cells: the values add up to less than the unbroken total.
            assert D(spend["total"]) >= D(spend["breakdown_total"])
    assert checked > 100
