"""Days are the ad account's days, end to end: a New York workspace with ad accounts in
Kolkata (+05:30), Tokyo (+09:00), Berlin and Los Angeles, each backfilled for 35 days through
the facebook-business SDK from the Meta sandbox pinned on 2026-11-19, so the backfill crosses
Berlin's (10-25) and Los Angeles' and New York's (11-01) DST changes.

For every account-local day, week and month, the query API's figures per ad, ad set,
campaign, account and workspace (per currency) equal GET /_sandbox/truth summed by each
account's own dates, whatever zone the view uses. Presets resolve in each account's zone,
checked just after midnight in Kolkata (ahead of New York) and just before midnight in Los
Angeles (behind it): Yesterday is each account's own yesterday and never holds its today."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from metricx.app import create_app
from metricx.db import make_engine
from metricx.metrics.schemas import MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.migrate import upgrade
from metricx.models import Workspace
from metricx.runtime import Runtime, build_runtime
from tests.e2e.calendar_world import (
    LEVELS,
    VIEW_ZONE,
    ZONES,
    Fact,
    World,
    account_reach,
    answer_groups,
    answer_series,
    answer_totals,
    bucket_of,
    build_world,
    diff,
    expected,
    sandbox_config,
    truth_facts,
)
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e

BACKFILL_DAYS = 35
# 00:50 on 11-20 in Kolkata and 04:20 in Tokyo, while it is 14:20 on 11-19 in New York, 20:20
# in Berlin and 11:20 in Los Angeles: Kolkata's and Tokyo's today has begun, ahead of the view.
JUST_AFTER_KOLKATA_MIDNIGHT = datetime(2026, 11, 19, 19, 20, tzinfo=UTC)
# 23:50 on 11-19 in Los Angeles while it is 02:50 on 11-20 in New York and later elsewhere:
# Los Angeles' today (nearly whole) is the view's yesterday.
JUST_BEFORE_LOS_ANGELES_MIDNIGHT = datetime(2026, 11, 20, 7, 50, tzinfo=UTC)
# The days every account has backfilled (Kolkata and Tokyo from 10-17 to 11-20, Berlin and
# Los Angeles from 10-16 to 11-19): each account's facts on these dates, by its own calendar.
START, END = date(2026, 10, 17), date(2026, 11, 20)
# A view zone west of every account (-10:00): each account's midnight falls on the view's
# previous date, so days re-bucketed into the view's zone would all move. (A zone east of
# every account, such as Auckland at +13:00, keeps each midnight on its date and would not
# tell the two apart.)
OTHER_ZONE = "Pacific/Honolulu"


@pytest.fixture(scope="module")
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(sandbox_config(JUST_AFTER_KOLKATA_MIDNIGHT))


@pytest.fixture(scope="module")
def cal_engine(fresh_database) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    url = fresh_database("calendar")
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def cal_runtime(
    box: MetaSandbox, cal_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Runtime:
    settings = box.settings(
        tmp_path_factory.mktemp("calendar"),
        cal_engine.url.render_as_string(hide_password=False),
        sync_backfill_days=BACKFILL_DAYS,
        # Breakdown report jobs' polls would move the pinned sandbox clock (figures read "as of
        # now" are what the truth compares with); breakdowns are not this test's subject.
        sync_breakdowns=False,
        sync_retry_base_seconds=0.01,
        sync_retry_max_seconds=0.05,
    )
    return build_runtime(settings, engine=cal_engine)


@pytest.fixture(scope="module")
def http(cal_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(cal_runtime), base_url="https://testserver") as c:
        yield c


@pytest.fixture(scope="module")
def world(cal_runtime: Runtime, box: MetaSandbox) -> World:
    """Synced just after midnight in Kolkata."""
    return build_world(cal_runtime, box, JUST_AFTER_KOLKATA_MIDNIGHT)


@pytest.fixture(scope="module")
def facts(world: World, box: MetaSandbox) -> list[Fact]:
    return truth_facts(box, world)


@pytest.fixture(scope="module")
def late_world(cal_runtime: Runtime, box: MetaSandbox) -> World:
    """Another workspace with the same accounts, synced just before midnight in LA."""
    return build_world(cal_runtime, box, JUST_BEFORE_LOS_ANGELES_MIDNIGHT)


@pytest.fixture(scope="module")
def late_facts(late_world: World, box: MetaSandbox) -> list[Fact]:
    return truth_facts(box, late_world)


def query(http: TestClient, world: World, **params: Any) -> dict[str, Any]:
    answer = http.get(
        f"/api/v1/workspaces/{world.workspace_id}/metrics/query",
        params={k: v for k, v in params.items() if v is not None},
        headers=world.headers,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def in_process(
    runtime: Runtime, world: World, *, use_rollups: bool = False, **fields: Any
) -> dict[str, Any]:
    """The same question to the query layer in this process (no cache; from the facts unless
    ``use_rollups``), "now" being the world's instant."""
    at = world.now
    with runtime.sessions() as session:
        ws = session.get(Workspace, world.workspace_id)
        assert ws is not None
        service = UnifiedMetricService(
            session, use_rollups=use_rollups, use_cache=False, clock=lambda: at
        )
        return service.query(ws, MetricQuery(**fields)).model_dump(mode="json")


def in_range(f: Fact) -> bool:
    return START <= f.day <= END


def assert_answer_is_truth(
    answer: dict[str, Any],
    facts: list[Fact],
    world: World,
    level: str,
    granularity: str,
    week_start: int = 1,
) -> int:
    """Series, groups and per-currency totals of ``answer`` equal the truth (weeks starting
    on the ISO weekday ``week_start``); returns how many series points were compared."""
    bucket = bucket_of(granularity, week_start)
    want = expected(facts, world, level, windows=in_range, bucket=bucket)
    got = answer_series(answer)
    assert got == want, f"{level} by {granularity}:\n{diff(got, want)}"
    want_groups = expected(facts, world, level, windows=in_range, bucket=None)
    got_groups = answer_groups(answer)
    assert got_groups == want_groups, f"{level} groups:\n{diff(got_groups, want_groups)}"
    totals = {
        currency: m
        for (_, _, currency), m in expected(
            facts, world, "workspace", windows=in_range, bucket=None
        ).items()
    }
    assert answer_totals(answer) == totals, level
    return len(want)


@pytest.mark.parametrize("view", [None, OTHER_ZONE], ids=["workspace_zone", "honolulu"])
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_every_accounts_own_days_weeks_and_months_equal_the_truth_at_every_level(
    http: TestClient,
    cal_runtime: Runtime,
    world: World,
    facts: list[Fact],
    view: str | None,
    granularity: str,
) -> None:
    # The data is what the premise needs: four zones, each with days on both sides of the
    # DST changes, two of them in one currency, and a day Kolkata has begun but New York not.
    zones_by_currency = {(f.currency, f.zone) for f in facts}
    assert {z for _, z in zones_by_currency} == set(ZONES)
    assert {z for c, z in zones_by_currency if c == "USD"} == {"America/Los_Angeles", "Asia/Tokyo"}
    days = {(f.zone, f.day) for f in facts}
    for zone in ZONES:
        assert (zone, date(2026, 10, 24)) in days and (zone, date(2026, 11, 2)) in days, zone
    assert ("Asia/Kolkata", END) in days and ("America/Los_Angeles", END) not in days
    # Conversions, leads and purchase values are compared too: some ads have them.
    assert all(any(f.actions[i] for f in facts) for i in range(4))

    compared = 0
    for level in LEVELS:
        params: dict[str, Any] = {
            "start": START.isoformat(),
            "end": END.isoformat(),
            "granularity": granularity,
            "level": level,
            "group_by": "none" if level == "workspace" else "entity",
            "timezone": view,
        }
        answer = query(http, world, **params)
        assert answer["timezone"] == (view or VIEW_ZONE)
        assert answer["account_timezones"] == sorted(ZONES)
        assert answer["week_start"] == "monday"
        assert answer["ranges"] == [
            {"start": START.isoformat(), "end": END.isoformat(), "timezones": []}
        ]
        compared += assert_answer_is_truth(answer, facts, world, level, granularity)
        # The facts path (ads are always read from facts; the other levels from rollups above).
        if level != "ad":
            answer = in_process(cal_runtime, world, **params)
            compared += assert_answer_is_truth(answer, facts, world, level, granularity)
    assert compared > {"day": 1500, "week": 250, "month": 80}[granularity]


def test_weeks_start_on_the_workspaces_week_start(
    http: TestClient, cal_runtime: Runtime, world: World, facts: list[Fact]
) -> None:
    base = f"/api/v1/workspaces/{world.workspace_id}"
    changed = http.patch(base, json={"week_start": "sunday"}, headers=world.headers)
    assert changed.status_code == 200, changed.text
    try:
        for level in ("campaign", "workspace"):
            params: dict[str, Any] = {
                "start": START.isoformat(),
                "end": END.isoformat(),
                "granularity": "week",
                "level": level,
                "group_by": "none" if level == "workspace" else "entity",
            }
            for answer in (query(http, world, **params), in_process(cal_runtime, world, **params)):
                assert answer["week_start"] == "sunday"
                assert {date.fromisoformat(p["bucket"]).isoweekday() for p in answer["series"]} == {
                    7
                }
                assert_answer_is_truth(answer, facts, world, level, "week", week_start=7)
    finally:
        restored = http.patch(base, json={"week_start": "monday"}, headers=world.headers)
        assert restored.status_code == 200, restored.text


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_hours_in_the_accounts_zone_add_up_to_its_days(
    http: TestClient, world: World, facts: list[Fact], zone: str
) -> None:
    """Los Angeles has a 25-hour day (11-01) and Kolkata's hours start at :30 UTC. The hours
    shown in the account's zone add up to the account's days, and so does the day view asked
    in Honolulu's zone, which does not move the account's days."""
    account = world.accounts[zone]
    entity = world.entity_ids[account.external_id]
    start, end = max(START, account.since), account.until
    hours = query(
        http,
        world,
        start=start.isoformat(),
        end=end.isoformat(),
        granularity="hour",
        level="account",
        group_by="none",
        connection_id=str(account.connection_id),
        timezone=zone,
    )
    by_day: dict[str, tuple[Decimal, int, int]] = {}
    for p in hours["series"]:
        instant = datetime.fromisoformat(p["bucket"])
        assert instant.utcoffset() == instant.astimezone(ZoneInfo(zone)).utcoffset(), p
        day = instant.date().isoformat()
        s, i, c = by_day.get(day, (Decimal(0), 0, 0))
        by_day[day] = (s + Decimal(p["spend"]), i + p["impressions"], c + p["clicks"])
    days = query(
        http,
        world,
        start=start.isoformat(),
        end=end.isoformat(),
        granularity="day",
        level="account",
        group_by="entity",
        timezone=OTHER_ZONE,
    )
    day_view = {
        p["bucket"]: (Decimal(p["spend"]), p["impressions"], p["clicks"])
        for p in days["series"]
        if p["group"] == entity
    }
    truth = {
        k[0]: m[:3]
        for k, m in expected(
            [f for f in facts if f.zone == zone],
            world,
            "account",
            windows=lambda f: start <= f.day <= end,
            bucket=bucket_of("day"),
        ).items()
        if k[0] is not None
    }
    assert len(truth) == (end - start).days + 1
    assert by_day == day_view == truth, diff(by_day, truth)


# --- Presets, resolved in each account's zone ---

PRESETS = ("today", "yesterday", "last_7d", "last_14d", "last_30d", "this_month")


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """Meta's date presets for an account whose today is ``today``: last_Nd are the N whole
    days before today."""
    yesterday = today - timedelta(days=1)
    if preset == "today":
        return today, today
    if preset == "this_month":
        return today.replace(day=1), today
    n = {"yesterday": 1, "last_7d": 7, "last_14d": 14, "last_30d": 30}[preset]
    return today - timedelta(days=n), yesterday


def local_today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def preset_world(request: pytest.FixtureRequest, when: str) -> tuple[World, list[Fact]]:
    early = when == "after_kolkata_midnight"
    world: World = request.getfixturevalue("world" if early else "late_world")
    facts: list[Fact] = request.getfixturevalue("facts" if early else "late_facts")
    return world, facts


WHEN = ["after_kolkata_midnight", "before_los_angeles_midnight"]


@pytest.mark.parametrize("when", WHEN)
def test_presets_are_each_accounts_own_days(
    request: pytest.FixtureRequest, cal_runtime: Runtime, when: str
) -> None:
    world, facts = preset_world(request, when)
    now = world.now
    today = {z: local_today(now, z) for z in ZONES}
    view_today = local_today(now, VIEW_ZONE)
    if when == "after_kolkata_midnight":  # Kolkata and Tokyo ahead of the view's date
        assert today["Asia/Kolkata"] == today["Asia/Tokyo"] == view_today + timedelta(days=1)
        assert today["Europe/Berlin"] == today["America/Los_Angeles"] == view_today
        just_begun = "Asia/Kolkata"
    else:  # Los Angeles a day behind the view, the others on its date
        assert today["America/Los_Angeles"] == view_today - timedelta(days=1)
        assert today["Europe/Berlin"] == today["Asia/Kolkata"] == view_today
        just_begun = "Europe/Berlin"
    # An account whose day has just begun has figures for it: a Yesterday (or a Last 7 days)
    # that held any of them would show.
    assert any(f.zone == just_begun and f.day == today[just_begun] for f in facts)

    for preset in PRESETS:
        days = {z: preset_days(preset, today[z]) for z in ZONES}
        by_dates: dict[tuple[date, date], list[str]] = {}
        for z in sorted(ZONES):
            by_dates.setdefault(days[z], []).append(z)
        assert len(by_dates) == 2, preset  # around midnight the zones are on two dates
        want_ranges = [
            {"start": s.isoformat(), "end": e.isoformat(), "timezones": zs}
            for (s, e), zs in sorted(by_dates.items())
        ]

        def own_days(f: Fact, days: dict[str, tuple[date, date]] = days) -> bool:
            return days[f.zone][0] <= f.day <= days[f.zone][1]

        questions = [("account", "day"), ("workspace", "day")]
        if preset in ("today", "yesterday"):
            questions.append(("account", "hour"))
        for (level, granularity), use_rollups in itertools.product(questions, (True, False)):
            answer = in_process(
                cal_runtime,
                world,
                use_rollups=use_rollups,
                preset=preset,
                granularity=granularity,
                level=level,
                group_by="none" if level == "workspace" else "entity",
            )
            where = (preset, level, granularity, "rollups" if use_rollups else "facts")
            assert answer["preset"] == preset
            assert answer["ranges"] == want_ranges, where
            assert answer["start"] == min(s for s, _ in by_dates).isoformat(), where
            assert answer["end"] == max(e for _, e in by_dates).isoformat(), where
            want_groups = expected(facts, world, level, windows=own_days, bucket=None)
            got_groups = answer_groups(answer)
            if granularity == "hour":  # Meta has no hourly conversions: compare the rest
                want_groups = {k: (*m[:3], None, None, None, None) for k, m in want_groups.items()}
                got_groups = {k: (*m[:3], None, None, None, None) for k, m in got_groups.items()}
                for p in answer["series"]:
                    zone = next(
                        z
                        for z, a in world.accounts.items()
                        if world.entity_ids[a.external_id] == p["group"]
                    )
                    # The view's hour (New York's grid) overlaps the account's own days.
                    tz = ZoneInfo(zone)
                    first = datetime.combine(days[zone][0], datetime.min.time(), tz)
                    after = datetime.combine(
                        days[zone][1] + timedelta(days=1), datetime.min.time(), tz
                    )
                    hour = datetime.fromisoformat(p["bucket_utc"])
                    assert first < hour + timedelta(hours=1) and hour < after, (where, zone, p)
            else:
                want = expected(facts, world, level, windows=own_days, bucket=bucket_of("day"))
                got = answer_series(answer)
                assert got == want, f"{where}:\n{diff(got, want)}"
            assert got_groups == want_groups, f"{where}:\n{diff(got_groups, want_groups)}"
            if preset == "yesterday" and level == "account" and granularity == "day":
                # Each account's only day is its own yesterday, never its today.
                for zone, acc in world.accounts.items():
                    group = world.entity_ids[acc.external_id]
                    shown = {p["bucket"] for p in answer["series"] if p["group"] == group}
                    assert shown == {(today[zone] - timedelta(days=1)).isoformat()}, zone


def reach_by_account(world: World, answer: dict[str, Any]) -> dict[str, int | None]:
    zone_of = {world.entity_ids[a.external_id]: z for z, a in world.accounts.items()}
    return {zone_of[g["group"]]: g["reach"] for g in answer["groups"]}


@pytest.mark.parametrize("when", WHEN)
def test_yesterdays_reach_is_each_accounts_own(
    request: pytest.FixtureRequest, cal_runtime: Runtime, box: MetaSandbox, when: str
) -> None:
    world, _ = preset_world(request, when)
    want = {
        z: account_reach(box, world, z, local_today(world.now, z) - timedelta(days=1))
        for z in ZONES
    }
    for use_rollups in (True, False):
        answer = in_process(
            cal_runtime,
            world,
            use_rollups=use_rollups,
            preset="yesterday",
            level="account",
            group_by="entity",
        )
        assert reach_by_account(world, answer) == want


def test_a_multi_day_presets_groups_have_no_reach(cal_runtime: Runtime, world: World) -> None:
    """Reach does not add up across days: a group's total has it only for a one-day range."""
    answer = in_process(
        cal_runtime, world, use_rollups=True, preset="last_7d", level="account", group_by="entity"
    )
    assert reach_by_account(world, answer) == dict.fromkeys(ZONES)
