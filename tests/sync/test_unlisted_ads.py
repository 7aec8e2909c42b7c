"""Ads (and ad sets, campaigns) that deliver before Meta's listing includes them: their
insights name their ad set, campaign and account, so the sync files them there at once and
their spend counts at every level, equal to the truth; the next entity sync that lists them
gives them their name and status and changes no total."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from metricx.db import unit_of_work
from metricx.facts import rollups
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.fetcher import MetaInsightsFetcher
from metricx.integrations.meta.insights_rows import parse_ad_row
from metricx.kit.crypto import Secret
from metricx.metrics.schemas import Bucket, GroupBy, GroupLevel, MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Connection, Entity, Fetch, RunStatus, Workspace
from metricx.runtime import Runtime
from metricx.sandbox.generator import Ad
from metricx.sync.entities import run_entity_sync
from metricx.sync.facts import ad_fact, reach_fact
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account, sandbox_clients
from tests.sync.test_sync_sandbox import request, run, sandbox_now
from tests.sync.truth import assert_matches_truth, truth_rows

LEVELS = ("adset", "campaign", "account", "workspace")


# ---- the fetcher ----------------------------------------------------------------------------


def test_ad_rows_carry_their_ad_set_campaign_and_account() -> None:
    row = {
        "ad_id": "120001",
        "adset_id": "120002",
        "campaign_id": "120003",
        "account_id": "100042",
        "spend": "1.50",
        "impressions": "100",
        "clicks": "3",
        "date_start": "2026-11-20",
    }
    daily = ad_fact(parse_ad_row({**row, "reach": "80"}, hourly=False))
    hourly = ad_fact(
        parse_ad_row(
            {**row, "hourly_stats_aggregated_by_advertiser_time_zone": "13:00:00 - 13:59:59"},
            hourly=True,
        )
    )
    for fact in (daily, hourly):
        assert fact.external_entity_id == "120001"
        assert fact.parents == ("120002", "120003", "act_100042")
    # A row that names no parent leaves the entity where the entity sync puts it.
    orphan = {k: v for k, v in row.items() if k != "adset_id"}
    assert ad_fact(parse_ad_row(orphan, hourly=False)).parents is None


def test_fetched_facts_name_the_parents_meta_holds(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    account = sync_sandbox.state.world.accounts[1]
    client = MetaAdsClient.from_settings(
        sync_runtime.settings, Secret(sync_sandbox.token()), sleep=sync_sandbox.advance
    )
    fetcher = MetaInsightsFetcher(client, account_id=account.id)
    today = sandbox_now(sync_sandbox).astimezone(account.tz).date()
    by_id = sync_sandbox.state.world.by_id
    for gran in ("day", "hour"):
        facts = [ad_fact(r) for r in fetcher.ad_rows(gran, today - timedelta(days=1), today)]
        assert facts
        for fact in facts:
            ad = by_id[str(fact.external_entity_id)]
            assert isinstance(ad, Ad)
            assert fact.parents == (ad.adset.id, ad.campaign.id, account.id)
    reach = [reach_fact(r) for r in fetcher.reach_rows(today - timedelta(days=1), today)]
    assert {f.level for f in reach} == {"account", "campaign", "adset"}
    for fact in reach:
        entity = by_id[str(fact.external_entity_id)]
        want = {
            "account": None,
            "campaign": (account.id,),
            "adset": (getattr(entity, "campaign", entity).id, account.id),
        }[str(fact.level)]
        assert fact.parents == want


# ---- helpers --------------------------------------------------------------------------------


def window(box: MetaSandbox, connection: Connection, days: int = 6) -> tuple[date, date]:
    today = local_today(connection, sandbox_now(box))
    return today - timedelta(days=days), today


def spenders(
    box: MetaSandbox, connection: Connection, level: str, since: date, until: date
) -> dict[str, Decimal]:
    """Spend per entity of ``level`` over the window, as the sandbox's truth has it."""
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for row in truth_rows(box, connection.external_account_id, level, "day", since, until):
        spend[row["entity_id"]] += Decimal(row["spend"])
    return dict(spend)


def truth_spend(
    box: MetaSandbox, connection: Connection, since: date, until: date
) -> dict[str, dict[str, Decimal]]:
    out = {level: spenders(box, connection, level, since, until) for level in LEVELS[:3]}
    out["workspace"] = {"all": sum(out["account"].values(), Decimal(0))}
    return out


def stored_spend(
    runtime: Runtime, connection: Connection, since: date, until: date, *, use_rollups: bool
) -> dict[str, dict[str, Decimal]]:
    """Spend per ad set, campaign, account (by Meta id) and of the workspace, as the query
    layer answers it (from rollups or from facts)."""
    out: dict[str, dict[str, Decimal]] = {}
    with unit_of_work(runtime.sessions) as session:
        workspace = session.get(Workspace, connection.workspace_id)
        assert workspace is not None
        external = dict(
            session.execute(
                select(Entity.id, Entity.external_id).where(
                    Entity.workspace_id == connection.workspace_id
                )
            ).all()
        )
        service = UnifiedMetricService(session, use_rollups=use_rollups, use_cache=False)
        for level in LEVELS:
            answer = service.query(
                workspace,
                MetricQuery(
                    start=since,
                    end=until,
                    granularity=Bucket.DAY,
                    timezone=connection.timezone,
                    level=GroupLevel(level),
                    group_by=GroupBy.NONE if level == "workspace" else GroupBy.ENTITY,
                ),
            )
            assert answer.source["rollups"] is use_rollups
            out[level] = {
                "all" if level == "workspace" else external[uuid.UUID(g.group)]: Decimal(
                    g.spend or 0
                )
                for g in answer.groups
            }
    return out


def assert_totals_equal_truth(
    runtime: Runtime, box: MetaSandbox, connection: Connection, since: date, until: date
) -> dict[str, dict[str, Decimal]]:
    want = truth_spend(box, connection, since, until)
    for use_rollups in (True, False):
        got = stored_spend(runtime, connection, since, until, use_rollups=use_rollups)
        for level in LEVELS:
            assert got[level] == want[level], (level, use_rollups)
    return want


def top_ad(box: MetaSandbox, connection: Connection, since: date, until: date) -> Ad:
    """The ad that spent most in the window among ads whose ad set has other ads."""
    spend = spenders(box, connection, "ad", since, until)
    world = box.state.world
    ads = [a for a in (world.by_id[i] for i in spend) if isinstance(a, Ad) and len(a.adset.ads) > 1]
    return max(ads, key=lambda a: (spend[a.id], a.id))


def entity(runtime: Runtime, connection: Connection, level: str, external_id: str) -> Any:
    with runtime.engine.connect() as db:
        return db.execute(
            text(
                "SELECT e.id, e.name, e.status, e.effective_status, e.removed_at,"
                " p.external_id AS parent, p.level AS parent_level, e.parent_id"
                " FROM entities e LEFT JOIN entities p ON p.id = e.parent_id"
                " WHERE e.workspace_id = :ws AND e.level = :level AND e.external_id = :ext"
            ),
            {"ws": connection.workspace_id, "level": level, "ext": external_id},
        ).one()


def sync(runtime: Runtime, box: MetaSandbox, connection: Connection, **window: Any) -> None:
    fetch = run(runtime, box, request(runtime, connection, box, **window))
    assert fetch.status is RunStatus.SUCCEEDED, fetch.error


def sync_entities(runtime: Runtime, box: MetaSandbox, connection: Connection) -> None:
    with unit_of_work(runtime.sessions) as session:
        fetch = Fetch(
            workspace_id=connection.workspace_id, connection_id=connection.id, kind="entities"
        )
        session.add(fetch)
        session.flush()
        done = run_entity_sync(
            session,
            settings=runtime.settings,
            cipher=runtime.cipher,
            fetch=fetch,
            client_factory=sandbox_clients(box),
        )
        assert done.status is RunStatus.SUCCEEDED, done.error


def hide(box: MetaSandbox, *ids: str) -> None:
    box.faults(unlisted_ids=list(ids))


# ---- the sync -------------------------------------------------------------------------------


def test_an_ad_listed_only_by_insights_counts_at_every_level_then_gets_its_name(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 1)
    since, until = window(sync_sandbox, connection)
    ad = top_ad(sync_sandbox, connection, since, until)
    hide(sync_sandbox, ad.id)

    sync(sync_runtime, sync_sandbox, connection, since=since)

    stored = entity(sync_runtime, connection, "ad", ad.id)
    assert stored.name is None and stored.status is None and stored.removed_at is None
    assert (stored.parent_level, stored.parent) == ("adset", ad.adset.id)
    want = assert_totals_equal_truth(sync_runtime, sync_sandbox, connection, since, until)
    assert (
        want["adset"][ad.adset.id] > spenders(sync_sandbox, connection, "ad", since, until)[ad.id]
    )
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, until)

    sync_entities(sync_runtime, sync_sandbox, connection)  # still unlisted: not "removed"
    assert entity(sync_runtime, connection, "ad", ad.id).removed_at is None

    sync_sandbox.http.delete("/_sandbox/faults")
    sync_entities(sync_runtime, sync_sandbox, connection)

    named = entity(sync_runtime, connection, "ad", ad.id)
    assert named.id == stored.id and named.parent_id == stored.parent_id
    assert (named.name, named.status, named.effective_status) == (
        ad.name,
        ad.status,
        ad.effective_status,
    )
    assert assert_totals_equal_truth(sync_runtime, sync_sandbox, connection, since, until) == want


def test_a_campaign_not_listed_yet_is_filed_under_the_account_with_its_ad_sets(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 3)
    since, until = window(sync_sandbox, connection)
    ad = top_ad(sync_sandbox, connection, since, until)
    campaign = ad.campaign
    hide(
        sync_sandbox,
        campaign.id,
        *(s.id for s in campaign.adsets),
        *(a.id for a in campaign.ads),
    )

    sync(sync_runtime, sync_sandbox, connection, since=since)

    placeholder = entity(sync_runtime, connection, "campaign", campaign.id)
    assert placeholder.name is None
    assert (placeholder.parent_level, placeholder.parent) == (
        "account",
        connection.external_account_id,
    )
    assert entity(sync_runtime, connection, "adset", ad.adset.id).parent == campaign.id
    assert entity(sync_runtime, connection, "ad", ad.id).parent == ad.adset.id
    want = assert_totals_equal_truth(sync_runtime, sync_sandbox, connection, since, until)
    assert want["campaign"][campaign.id] > 0

    sync_sandbox.http.delete("/_sandbox/faults")
    sync_entities(sync_runtime, sync_sandbox, connection)

    listed = entity(sync_runtime, connection, "campaign", campaign.id)
    assert listed.id == placeholder.id and listed.name == campaign.name
    assert entity(sync_runtime, connection, "ad", ad.id).name == ad.name
    assert assert_totals_equal_truth(sync_runtime, sync_sandbox, connection, since, until) == want


def test_an_ad_stored_without_a_parent_is_attached_when_its_insights_name_one(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    since, until = window(sync_sandbox, connection)
    ad = top_ad(sync_sandbox, connection, since, until)
    hide(sync_sandbox, ad.id)
    sync(sync_runtime, sync_sandbox, connection, since=since)
    # What a sync before ad sets were asked for left behind: the ad alone, its facts counted
    # in the workspace's total only.
    stored = entity(sync_runtime, connection, "ad", ad.id)
    with unit_of_work(sync_runtime.sessions) as session:
        session.execute(
            text("UPDATE entities SET parent_id = NULL WHERE id = :id"), {"id": stored.id}
        )
        rollups.rebuild(session, connection.workspace_id)
    before = stored_spend(sync_runtime, connection, since, until, use_rollups=True)
    want = truth_spend(sync_sandbox, connection, since, until)
    assert before["adset"][ad.adset.id] < want["adset"][ad.adset.id]

    sync(sync_runtime, sync_sandbox, connection)  # incremental: re-reads the last days only

    assert entity(sync_runtime, connection, "ad", ad.id).parent == ad.adset.id
    # Every fact of the ad moved in, the days the incremental sync did not read included.
    assert assert_totals_equal_truth(sync_runtime, sync_sandbox, connection, since, until) == want
