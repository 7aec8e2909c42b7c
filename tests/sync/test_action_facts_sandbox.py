"""Action facts synced from the sandbox through the real SDK: every action type x window
stored equals the truth, custom conversions are stored and named, each attribution choice
at ad, ad set, campaign and account level equals the truth, and a campaign whose ad sets mix
attribution settings is flagged."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text

from metricx.db import unit_of_work
from metricx.integrations.meta.action_rows import normalize_setting
from metricx.integrations.meta.actions import action_measures
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.fetcher import FetchOptions, MetaInsightsFetcher
from metricx.metrics.schemas import GroupBy, GroupLevel, MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Connection, RunStatus, Workspace
from metricx.runtime import Runtime, build_runtime
from tests.integrations.test_meta_token_transport import sent_requests
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_sync_sandbox import history, request, run
from tests.sync.truth import as_list, truth_rows

D = Decimal
STORED = text(
    """
    SELECT e.external_id, a.day, a.action_type, a."window", a.count, a.value,
           a.attribution_setting
    FROM action_facts a JOIN entities e ON e.id = a.entity_id WHERE e.connection_id = :cid
    """
)
TREE = text(
    """
    SELECT ad.external_id, ad.id, s.id, c.id, acct.id, c.goal
    FROM entities ad JOIN entities s ON s.id = ad.parent_id JOIN entities c ON c.id = s.parent_id
    JOIN entities acct ON acct.id = c.parent_id
    WHERE ad.connection_id = :cid AND ad.level = 'ad'
    """
)


@pytest.fixture(scope="module")
def synced(
    sync_sandbox: MetaSandbox,
    sync_database: str,
    sync_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Runtime, MetaSandbox, Connection, date, date]:
    box = sync_sandbox
    settings = box.settings(
        tmp_path_factory.mktemp("actions"),
        sync_database,
        sync_retry_base_seconds=0.01,
        sync_retry_max_seconds=0.05,
        sync_async_min_rows=2000,
        sync_backfill_days=12,
    )
    runtime = build_runtime(settings, engine=sync_engine)
    connection = connect_account(runtime, box, 0)
    done = run(runtime, box, request_sync(runtime, connection, box))
    assert done.status is RunStatus.SUCCEEDED, done.error
    since, until = history(runtime, connection, box)
    return runtime, box, connection, since, until


def request_sync(runtime: Runtime, connection: Connection, box: MetaSandbox) -> Any:
    return request(runtime, connection, box)


def nonzero(d: dict[Any, Decimal]) -> dict[Any, Decimal]:
    return {k: v for k, v in d.items() if v}


def test_every_action_type_and_window_equals_the_truth(synced: Any) -> None:
    runtime, box, connection, since, until = synced
    counts: dict[tuple[str, str, str, str], Decimal] = {}
    values: dict[tuple[str, str, str, str], Decimal] = {}
    settings: dict[tuple[str, str], str | None] = {}
    with runtime.engine.connect() as db:
        for r in db.execute(STORED, {"cid": connection.id}):
            key = (r.external_id, r.day.isoformat(), r.action_type, r.window)
            counts[key] = r.count
            if r.value is not None:
                values[key] = r.value
            settings[(r.external_id, r.day.isoformat())] = r.attribution_setting
    want_counts: dict[tuple[str, str, str, str], Decimal] = {}
    want_values: dict[tuple[str, str, str, str], Decimal] = {}
    want_settings = {}
    truth = truth_rows(box, connection.external_account_id, "ad", "day", since, until)
    for t in truth:
        for out, source in ((want_counts, "action_windows"), (want_values, "action_value_windows")):
            for action_type, windows in t[source].items():
                for k, n in windows.items():
                    window = "default" if k == "value" else k
                    out[(t["entity_id"], t["date"], action_type, window)] = D(str(n))
        if t["action_windows"]:
            want_settings[(t["entity_id"], t["date"])] = normalize_setting(t["attribution_setting"])
    assert len(nonzero(want_counts)) > 500
    assert nonzero(counts) == nonzero(want_counts)
    assert nonzero(values) == nonzero(want_values)
    assert {k: settings.get(k) for k in want_settings} == want_settings
    windows = {k[3] for k in counts}
    assert windows == {"default", "1d_click", "7d_click", "28d_click", "1d_view", "1d_ev"}
    assert any(k[2].startswith("offsite_conversion.custom.") for k in nonzero(counts))


def test_custom_conversions_are_stored_and_named(synced: Any) -> None:
    runtime, box, connection, since, until = synced
    truth = box.http.get(
        "/_sandbox/truth/settings", params={"account_id": connection.external_account_id}
    ).json()["custom_conversions"]
    with runtime.engine.connect() as db:
        stored = db.execute(
            text(
                "SELECT external_id, name, custom_event_type, is_archived, account_external_id"
                " FROM custom_conversions WHERE connection_id = :cid"
            ),
            {"cid": connection.id},
        ).all()
    assert {r[0]: (r[1], r[2], r[3]) for r in stored} == {
        c["id"]: (c["name"], c["custom_event_type"], c["is_archived"]) for c in truth
    }
    assert {r[4] for r in stored} == {connection.external_account_id}
    # ...and the query API shows their actions by name.
    custom = [c["action_type"] for c in truth]
    with unit_of_work(runtime.sessions) as session:
        ws = session.get(Workspace, connection.workspace_id)
        assert ws is not None
        out = UnifiedMetricService(session, use_cache=False).query(
            ws,
            MetricQuery(start=since, end=until, level=GroupLevel.WORKSPACE, actions=custom),
        )
    names = {t: c.name for t, c in (out.totals[0].actions or {}).items()}
    assert names == {c["action_type"]: c["name"] for c in truth}


def _expected(
    truth: list[dict[str, Any]],
    tree: dict[str, tuple[Any, ...]],
    level_index: int,
    windows: tuple[str, ...] | None,
) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for t in truth:
        keys = ("value",) if windows is None else windows
        counts = {a: sum(D(str(w.get(k, 0))) for k in keys) for a, w in t["action_windows"].items()}
        values = {
            a: sum(D(str(w.get(k, 0))) for k in keys) for a, w in t["action_value_windows"].items()
        }
        m = action_measures(as_list(counts), as_list(values), None)
        group = str(tree[t["entity_id"]][level_index])
        out[group]["purchases"] += m.purchases
        out[group]["purchase_value"] += m.purchase_value
        out[group]["leads"] += m.leads
    return out


@pytest.mark.parametrize(
    "windows", [None, ("1d_view", "7d_click"), ("28d_click",), ("1d_click", "1d_ev")]
)
def test_each_attribution_choice_equals_the_truth_at_every_level(
    synced: Any, windows: tuple[str, ...] | None
) -> None:
    runtime, box, connection, since, until = synced
    truth = truth_rows(box, connection.external_account_id, "ad", "day", since, until)
    with runtime.engine.connect() as db:
        tree = {r[0]: tuple(r[1:]) for r in db.execute(TREE, {"cid": connection.id})}
    with unit_of_work(runtime.sessions) as session:
        ws = session.get(Workspace, connection.workspace_id)
        assert ws is not None
        service = UnifiedMetricService(session, use_cache=False)
        for index, level in enumerate(
            (GroupLevel.AD, GroupLevel.ADSET, GroupLevel.CAMPAIGN, GroupLevel.ACCOUNT)
        ):
            out = service.query(
                ws,
                MetricQuery(
                    start=since,
                    end=until,
                    level=level,
                    group_by=GroupBy.ENTITY,
                    attribution=list(windows) if windows else None,
                ),
            )
            want = _expected(truth, tree, index, windows)
            got = {
                g.group: {
                    "purchases": D(g.purchases),
                    "purchase_value": D(g.purchase_value),
                    "leads": D(g.leads),
                }
                for g in out.groups
            }
            assert {k: v for k, v in got.items() if any(v.values())} == {
                k: dict(v) for k, v in want.items() if any(v.values())
            }, (level, windows)


def test_a_campaign_mixing_settings_is_flagged_under_the_default(synced: Any) -> None:
    runtime, box, connection, since, until = synced
    truth = truth_rows(box, connection.external_account_id, "campaign", "day", since, until)
    settings: dict[str, set[str]] = defaultdict(set)
    for t in truth:
        settings[t["entity_id"]].update(t["attribution_settings"])
    mixed_truth = {c for c, s in settings.items() if len(s) > 1}
    assert mixed_truth  # the sandbox's first campaign mixes settings
    with unit_of_work(runtime.sessions) as session:
        ws = session.get(Workspace, connection.workspace_id)
        assert ws is not None
        out = UnifiedMetricService(session, use_cache=False).query(
            ws,
            MetricQuery(start=since, end=until, level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY),
        )
        ids = dict(
            session.execute(
                text("SELECT id::text, external_id FROM entities WHERE connection_id = :c"),
                {"c": connection.id},
            ).all()
        )
    flagged = {ids[g.group] for g in out.groups if g.attribution_mixed}
    assert flagged == mixed_truth
    assert out.attribution_mixed and any("attribution_mixed" in n for n in out.notes)


def test_the_sdk_request_asks_the_windows_and_the_setting(
    sync_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    settings = sync_sandbox.settings(tmp_path, None)
    client = MetaAdsClient.from_settings(settings, sync_sandbox.token())
    seen = sent_requests(client.transport)
    fetcher = MetaInsightsFetcher(
        client,
        account_id=sync_sandbox.accounts()[0],
        options=FetchOptions(attribution_windows=settings.attribution_windows),
    )
    day = date.today() - timedelta(days=2)
    rows = list(fetcher.ad_day_rows(day, day))
    assert rows and any(actions.figures for _, actions in rows)
    insights = [r for r in seen if "/insights" in (r.url or "")]
    assert insights
    query = parse_qs(urlsplit(insights[0].url or "").query)
    assert json.loads(query["action_attribution_windows"][0]) == [
        "1d_click",
        "7d_click",
        "28d_click",
        "1d_view",
        "1d_ev",
    ]
    assert "attribution_setting" in query["fields"][0].split(",")
