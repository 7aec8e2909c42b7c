"""Ads Manager parity against the sandbox, through the real SDK: after a sync, link clicks,
video and results at ad, ad set, campaign and account level equal the sandbox's truth, ad sets
keep their goal, promoted object, attribution setting and result type, and a campaign mixing
goals shows no result."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from metricx.config import Settings
from metricx.db import unit_of_work
from metricx.integrations.meta.actions import normalized_attribution
from metricx.integrations.meta.client import MetaAdsClient
from metricx.kit.crypto import Secret
from metricx.metrics.schemas import GroupBy, GroupLevel, MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Connection, Entity, RunStatus, Workspace
from metricx.runtime import Runtime
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_sync_sandbox import request, run, sandbox_now
from tests.sync.truth import truth_rows

DAYS = 6
COUNTS = (
    "outbound_clicks",
    "landing_page_views",
    "post_engagement",
    "video_plays",
    "thruplays",
    "video_p25",
    "video_p50",
    "video_p75",
    "video_p95",
    "video_p100",
    "video_watch_seconds",
)


def recording_clients(
    box: MetaSandbox, seen: list[str]
) -> Callable[[Settings, Secret], MetaAdsClient]:
    """Real SDK clients whose every HTTP request URL is recorded as it went on the wire."""

    def factory(settings: Settings, token: Secret) -> MetaAdsClient:
        client = MetaAdsClient.from_settings(settings, token, sleep=box.advance)

        def record(response: requests.Response, *_a: Any, **_k: Any) -> None:
            body = response.request.body or ""  # report jobs are POSTed as a form
            body = body.decode() if isinstance(body, bytes) else body
            url = str(response.request.url)
            seen.append(url + ("&" if "?" in url else "?") + body if body else url)

        client.transport.api._session.requests.hooks["response"].append(record)
        return client

    return factory


def settings_truth(box: MetaSandbox, account: str) -> dict[str, Any]:
    response = box.http.get("/_sandbox/truth/settings", params={"account_id": account})
    response.raise_for_status()
    return dict(response.json())


def mixed_account(box: MetaSandbox) -> int:
    """The first sandbox account with a campaign whose ad sets optimize for different results."""
    for index, account in enumerate(box.accounts()):
        kinds: dict[str, set[str]] = {}
        for s in settings_truth(box, account)["adsets"]:
            kinds.setdefault(s["campaign_id"], set()).add(s["result_type"])
        if any(len(k) > 1 for k in kinds.values()):
            return index
    raise AssertionError("the sandbox has no campaign mixing goals")


def query_rows(
    runtime: Runtime, connection: Connection, level: GroupLevel, day: date
) -> dict[str, dict[str, Any]]:
    """The query API's rows of one day at ``level``, by the entity's external id."""
    with unit_of_work(runtime.sessions) as session:
        workspace = session.get(Workspace, connection.workspace_id)
        assert workspace is not None
        names = dict(
            session.execute(
                select(Entity.id, Entity.external_id).where(Entity.workspace_id == workspace.id)
            ).all()
        )
        q = MetricQuery(
            start=day, end=day, level=level, group_by=GroupBy.ENTITY, connection_ids=[connection.id]
        )
        out = UnifiedMetricService(session, use_cache=False).query(workspace, q).model_dump()
    return {names[uuid.UUID(g["group"])].removeprefix("act_"): g for g in out["groups"]}


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def test_new_measures_and_results_equal_truth_at_every_level(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    sync_runtime.settings.sync_backfill_days = DAYS
    index = mixed_account(sync_sandbox)
    connection = connect_account(sync_runtime, sync_sandbox, index)
    seen: list[str] = []
    fetch = run(
        sync_runtime,
        sync_sandbox,
        request(sync_runtime, connection, sync_sandbox),
        client_factory=recording_clients(sync_sandbox, seen),
    )
    assert fetch.status is RunStatus.SUCCEEDED, fetch.error

    # The SDK's requests: daily rows ask links, video and attribution; hourly rows no video;
    # the ad set edge asks the promoted object and attribution spec.
    queries = [parse_qs(urlsplit(u).query) for u in seen]
    insights = [q for q in queries if "fields" in q and "level" in q]
    daily = [q for q in insights if "breakdowns" not in q and "ad_id" in q["fields"][0].split(",")]
    hourly = [q for q in insights if "breakdowns" in q]
    assert daily and hourly
    for q in daily:
        fields = set(q["fields"][0].split(","))
        assert {"inline_link_clicks", "outbound_clicks", "attribution_setting"} <= fields
        assert {
            "video_thruplay_watched_actions",
            "video_p95_watched_actions",
            "video_avg_time_watched_actions",
        } <= fields
    assert not any(f.startswith("video_") for q in hourly for f in q["fields"][0].split(","))
    adset_edges = [
        q for u, q in zip(seen, queries, strict=True) if urlsplit(u).path.endswith("/adsets")
    ]
    assert adset_edges and all(
        {"optimization_goal", "promoted_object", "attribution_spec"}
        <= set(q["fields"][0].split(","))
        for q in adset_edges
    )

    account = sync_sandbox.accounts()[index]
    truth = settings_truth(sync_sandbox, account)
    with unit_of_work(sync_runtime.sessions) as session:
        stored = {
            e.external_id: e
            for e in session.scalars(
                select(Entity).where(Entity.connection_id == connection.id, Entity.level == "adset")
            )
        }
        for s in truth["adsets"]:
            e = stored[s["id"]]
            assert (e.optimization_goal, e.promoted_object, e.result_type or "") == (
                s["optimization_goal"],
                s["promoted_object"] or None,
                s["result_type"],
            ), s["id"]
            assert e.attribution_setting == normalized_attribution(s["attribution_setting"]), s

    until = local_today(connection, sandbox_now(sync_sandbox)) - timedelta(days=1)
    since = until - timedelta(days=DAYS - 2)
    levels = {
        "ad": GroupLevel.AD,
        "adset": GroupLevel.ADSET,
        "campaign": GroupLevel.CAMPAIGN,
        "account": GroupLevel.ACCOUNT,
    }
    compared, mixed, with_results, with_video = 0, 0, 0, 0
    for name, level in levels.items():
        for row in truth_rows(sync_sandbox, account, name, "day", since, until):
            day = date.fromisoformat(row["date"])
            got = query_rows(sync_runtime, connection, level, day)[
                str(row["entity_id"]).removeprefix("act_")
            ]
            where = (name, row["entity_id"], row["date"])
            assert got["link_clicks"] == row["link_clicks"], where
            for m in COUNTS:
                assert dec(got[m]) == dec(row.get(m)), (where, m, got[m], row.get(m))
            if row["result_type"] == "mixed":
                mixed += 1
                assert (got["result_type"], got["results"], got["cost_per_result"]) == (
                    "mixed",
                    None,
                    None,
                ), where
            else:
                assert (got["result_type"] or "") == row["result_type"], where
                assert (got["results"] is None) == (row["results"] is None), (
                    where,
                    got["results"],
                    row["results"],
                )
                if row["results"] is not None:
                    with_results += 1
                    assert dec(got["results"]) == dec(row["results"]), (
                        where,
                        got["results"],
                        row["results"],
                    )
            with_video += row.get("video_plays") is not None
            compared += 1
    assert compared > 50 and mixed > 0 and with_results > 0 and with_video > 0, (
        compared,
        mixed,
        with_results,
        with_video,
    )
