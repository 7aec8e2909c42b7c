"""A workspace of ad accounts in four zones, backfilled from the Meta sandbox at a pinned
instant, and the sandbox's ground truth summed the way the query API sums it: by each
account's own local dates, per entity at a level, per currency."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from metricx.auth.service import create_api_key
from metricx.connections.service import add_with_token
from metricx.db import unit_of_work
from metricx.integrations.meta.actions import action_measures
from metricx.models import Connection, Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.generator import Ad
from metricx.sync import runner, service
from metricx.workspaces.service import create_workspace
from tests.factories import make_user
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import sandbox_clients
from tests.sync.truth import as_list

VIEW_ZONE = "America/New_York"
# Sandbox account index per zone (generator.ACCOUNT_PROFILES; index 2, UTC, stays out).
ACCOUNT_INDEX = {"Asia/Kolkata": 3, "Asia/Tokyo": 4, "Europe/Berlin": 1, "America/Los_Angeles": 0}
ZONES = tuple(ACCOUNT_INDEX)
ACTIONS = ("conversions", "leads", "purchases", "purchase_value")
LEVELS = ("ad", "adset", "campaign", "account", "workspace")


def sandbox_config(now: datetime) -> SandboxConfig:
    """Five small accounts (8 ads each: a sales and a leads campaign of 2 ad sets) with six
    weeks of history before ``now``, frozen there."""
    return SandboxConfig(
        seed=1414,
        accounts=5,
        campaigns=2,
        adsets_per_campaign=2,
        ads_per_adset=2,
        days=42,
        tier="standard",
        clock=now,
        frozen_clock=True,
    )


@dataclass(frozen=True)
class Account:
    zone: str
    external_id: str  # act_N
    currency: str
    connection_id: uuid.UUID
    since: date  # the backfilled local days, inclusive
    until: date


@dataclass(frozen=True)
class World:
    """One New York workspace with the four accounts, synced as of ``now``."""

    now: datetime
    workspace_id: uuid.UUID
    key: str
    accounts: dict[str, Account]  # by zone
    entity_ids: dict[str, str]  # sandbox id (act_N, campaign, ad set, ad id) -> metricx uuid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def set_clock(box: MetaSandbox, now: datetime) -> None:
    box.http.post("/_sandbox/clock", json={"now": now.isoformat()}).raise_for_status()


def backfill(runtime: Runtime, box: MetaSandbox, connection_id: uuid.UUID, now: datetime) -> Fetch:
    """The connection's initial backfill, run to its end in this process (waits move the
    sandbox clock; the caller sets it back)."""
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        fetch_id = service.request_sync(
            session, settings=runtime.settings, connection=row, now=now
        ).id
    while (
        runner.run_fetch(runtime, fetch_id, client_factory=sandbox_clients(box), sleep=box.advance)
        == "deferred"
    ):
        pass
    with unit_of_work(runtime.sessions) as session:
        done = session.get(Fetch, fetch_id)
        assert done is not None
        session.expunge(done)
    assert done.status is RunStatus.SUCCEEDED, done.error
    return done


def build_world(runtime: Runtime, box: MetaSandbox, now: datetime) -> World:
    """A workspace in New York with the Kolkata, Tokyo, Berlin and Los Angeles accounts,
    each backfilled (``sync_backfill_days``) from the sandbox pinned at ``now``."""
    set_clock(box, now)
    ids = box.accounts()
    with unit_of_work(runtime.sessions) as session:
        owner = make_user(session)
        ws = create_workspace(session, name="calendar", owner_id=owner.id, timezone=VIEW_ZONE)
        key = create_api_key(session, workspace_id=ws.id).key
        rows = add_with_token(
            session,
            settings=runtime.settings,
            cipher=runtime.cipher,
            workspace_id=ws.id,
            access_token=box.token(),
            accounts=[ids[ACCOUNT_INDEX[z]] for z in ZONES],
            created_by=None,
        )
        session.flush()
        workspace_id = ws.id
        connections = [(r.id, r.external_account_id, r.timezone, r.currency) for r in rows]
    accounts: dict[str, Account] = {}
    for connection_id, external_id, zone, currency in connections:
        fetch = backfill(runtime, box, connection_id, now)
        # No wait moved the clock: every figure was read as of ``now``, as the truth is.
        assert box.http.get("/_sandbox/clock").json()["now"] == now.isoformat()
        assert fetch.window_start is not None and fetch.window_end is not None
        accounts[zone] = Account(
            zone=zone,
            external_id=external_id,
            currency=currency,
            connection_id=connection_id,
            since=fetch.window_start.astimezone(ZoneInfo(zone)).date(),
            until=(fetch.window_end.astimezone(ZoneInfo(zone)) - timedelta(days=1)).date(),
        )
    assert sorted(accounts) == sorted(ZONES)
    with runtime.engine.connect() as db:
        entity_ids = {
            r.external_id: str(r.id)
            for r in db.execute(
                text("SELECT id, external_id FROM entities WHERE workspace_id = :ws"),
                {"ws": workspace_id},
            )
        }
    return World(now, workspace_id, key, accounts, entity_ids)


# --- The truth, summed the query API's way ---

Measures = tuple[Decimal, int, int, Decimal | None, Decimal | None, Decimal | None, Decimal | None]


@dataclass(frozen=True)
class Fact:
    """One ad's figures for one local day of its account, as the sandbox holds them now."""

    ad: Ad
    zone: str
    currency: str
    day: date
    spend: Decimal
    impressions: int
    clicks: int
    actions: tuple[Decimal | None, ...]  # ACTIONS, as Meta's daily row gives them


def truth_facts(box: MetaSandbox, world: World) -> list[Fact]:
    """Every ad-day of the backfilled days of every account, from GET /_sandbox/truth as of
    the world's instant."""
    set_clock(box, world.now)
    sandbox_world = box.state.world
    facts = []
    for account in world.accounts.values():
        body = box.http.get(
            "/_sandbox/truth",
            params={
                "account_id": account.external_id,
                "level": "ad",
                "granularity": "day",
                "since": account.since.isoformat(),
                "until": account.until.isoformat(),
            },
        )
        body.raise_for_status()
        payload = body.json()
        assert payload["as_of"] == world.now.isoformat()
        assert payload["timezone_name"] == account.zone
        for row in payload["rows"]:
            ad = sandbox_world.by_id[row["entity_id"]]
            assert isinstance(ad, Ad)
            m = action_measures(
                as_list(row["actions"]), as_list(row["action_values"]), ad.campaign.objective
            )
            facts.append(
                Fact(
                    ad=ad,
                    zone=account.zone,
                    currency=account.currency,
                    day=date.fromisoformat(row["date"]),
                    spend=Decimal(row["spend"]),
                    impressions=int(row["impressions"]),
                    clicks=int(row["clicks"]),
                    actions=(m.conversions, m.leads, m.purchases, m.purchase_value),
                )
            )
    return facts


def account_reach(box: MetaSandbox, world: World, zone: str, day: date) -> int:
    """The reach Meta reports for the account in ``zone`` on its local ``day``."""
    set_clock(box, world.now)
    body = box.http.get(
        "/_sandbox/truth",
        params={
            "account_id": world.accounts[zone].external_id,
            "level": "account",
            "granularity": "day",
            "since": day.isoformat(),
            "until": day.isoformat(),
        },
    )
    body.raise_for_status()
    [row] = body.json()["rows"]
    return int(row["reach"])


def sandbox_entity(fact: Fact, level: str) -> str | None:
    """The sandbox id of the entity ``fact`` rolls up to at ``level`` (None: the workspace)."""
    ad = fact.ad
    return {
        "ad": ad.id,
        "adset": ad.adset.id,
        "campaign": ad.campaign.id,
        "account": ad.account.id,
        "workspace": None,
    }[level]


def week_of(day: date, week_start: int) -> date:
    """The first day of the week holding ``day``; ``week_start`` is an ISO weekday."""
    return day - timedelta(days=(day.isoweekday() - week_start) % 7)


def bucket_of(granularity: str, week_start: int = 1) -> Callable[[date], date]:
    if granularity == "day":
        return lambda d: d
    if granularity == "week":
        return lambda d: week_of(d, week_start)
    assert granularity == "month"
    return lambda d: d.replace(day=1)


class Sum:
    """Summed measures with the API's rule for the action measures: null only when no fact
    had any action figure, else a missing one counts as zero."""

    def __init__(self) -> None:
        self.spend, self.impressions, self.clicks = Decimal(0), 0, 0
        self.actions = [Decimal(0)] * len(ACTIONS)
        self.reported = False

    def add(self, fact: Fact) -> None:
        self.spend += fact.spend
        self.impressions += fact.impressions
        self.clicks += fact.clicks
        if any(a is not None for a in fact.actions):
            self.reported = True
        self.actions = [s + (a or 0) for s, a in zip(self.actions, fact.actions, strict=True)]

    def measures(self) -> Measures:
        a = self.actions if self.reported else [None] * len(ACTIONS)
        return (self.spend, self.impressions, self.clicks, a[0], a[1], a[2], a[3])


Key = tuple[str | None, str | None, str]  # (bucket date, group, currency)


def expected(
    facts: Iterable[Fact],
    world: World,
    level: str,
    *,
    windows: Callable[[Fact], bool],
    bucket: Callable[[date], date] | None,
) -> dict[Key, Measures]:
    """The truth per (bucket, group, currency): the facts kept by ``windows`` (each judged by
    its own account's date), grouped by the metricx id of their entity at ``level`` and by
    ``bucket`` of their local date (None: one total per group)."""
    sums: dict[Key, Sum] = {}
    for f in facts:
        if not windows(f):
            continue
        entity = sandbox_entity(f, level)
        group = world.entity_ids[entity] if entity is not None else None
        key = (bucket(f.day).isoformat() if bucket else None, group, f.currency)
        sums.setdefault(key, Sum()).add(f)
    return {k: s.measures() for k, s in sums.items()}


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def measures_of(row: dict[str, Any]) -> Measures:
    """A row of the API's answer (series point, group or total) as measures."""
    spend = _dec(row["spend"])
    assert spend is not None, row
    conversions, leads, purchases, value = (_dec(row[m]) for m in ACTIONS)
    return (
        spend,
        int(row["impressions"]),
        int(row["clicks"]),
        conversions,
        leads,
        purchases,
        value,
    )


def answer_series(answer: dict[str, Any]) -> dict[Key, Measures]:
    out: dict[Key, Measures] = {}
    for p in answer["series"]:
        key = (p["bucket"], p["group"], p["currency"])
        assert key not in out, f"two series points for {key}"
        out[key] = measures_of(p)
    return out


def answer_groups(answer: dict[str, Any]) -> dict[Key, Measures]:
    out: dict[Key, Measures] = {}
    for g in answer["groups"]:
        group = None if g["group"] == "all" else g["group"]
        key = (None, group, g["currency"])
        assert key not in out, f"two groups for {key}"
        out[key] = measures_of(g)
    return out


def answer_totals(answer: dict[str, Any]) -> dict[str, Measures]:
    return {t["currency"]: measures_of(t) for t in answer["totals"]}


def diff(got: dict[Any, Any], want: dict[Any, Any], limit: int = 6) -> str:
    """The first differences between two answers, for an assertion's message."""
    lines = []
    for key in sorted(set(got) | set(want), key=repr):
        if got.get(key) != want.get(key):
            lines.append(f"{key}: got {got.get(key)}, truth {want.get(key)}")
            if len(lines) >= limit:
                break
    return "\n".join(lines)
