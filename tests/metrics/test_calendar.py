"""Ads Manager's calendar: each ad account's days are its own, whatever zone the view uses;
presets resolve per account zone; weeks start on the workspace's week start."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.facts.rollups import week_bounds
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.metrics.calendar import DayWindow, Preset, instants, resolve
from metricx.metrics.schemas import Bucket, GroupLevel, MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Connection, Workspace
from metricx.workspaces.service import update_workspace
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import make_connection

KOLKATA, BERLIN, LOS_ANGELES = "Asia/Kolkata", "Europe/Berlin", "America/Los_Angeles"


def hourly_days(
    db: Session,
    ws: Workspace,
    conn: Connection,
    first: date,
    days: int,
    spend: Callable[[date, int], Decimal],
    ad: str = "ad-1",
) -> None:
    """One ad of ``conn``'s account: a daily fact per local day and its 24 (or 23/25) hourly
    facts, the day's spend equal to the sum of its hours."""
    zone = ZoneInfo(conn.timezone)
    records = []
    for d in range(days):
        day = first + timedelta(days=d)
        start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        hours = int((end.astimezone(UTC) - start).total_seconds() // 3600)
        total = Decimal(0)
        for h in range(hours):
            value = spend(day, h)
            total += value
            records.append(
                FactInput(
                    granularity="hour",
                    external_entity_id=ad,
                    provider="meta",
                    level="ad",
                    event_at=start + timedelta(hours=h),
                    currency=conn.currency,
                    spend=value,
                    impressions=100,
                    clicks=1,
                )
            )
        records.append(
            FactInput(
                granularity="day",
                external_entity_id=ad,
                provider="meta",
                level="ad",
                event_at=start,
                currency=conn.currency,
                spend=total,
                impressions=100 * hours,
                clicks=hours,
            )
        )
    result = upsert_facts(
        db,
        settings=Settings(),
        workspace_id=ws.id,
        records=records,
        source="sync",
        connection_id=conn.id,
    )
    assert result.failed == 0, result.errors


def spend_of(day: date, hour: int) -> Decimal:
    """A distinct amount per local day and hour, so a shifted day shows."""
    return Decimal(day.day * 100 + hour) / 100


def query(client: TestClient, ws: KeyedWorkspace, **params: Any) -> dict[str, Any]:
    answer = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query", params=params, headers=ws.headers
    )
    assert answer.status_code == 200, answer.text
    out: dict[str, Any] = answer.json()
    return out


def day_total(day: date) -> Decimal:
    return sum((spend_of(day, h) for h in range(24)), Decimal(0))


def test_a_kolkata_day_is_the_same_day_in_a_new_york_workspace(
    client: TestClient, db: Session
) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    conn = make_connection(db, ws.workspace.id, timezone=KOLKATA, currency="INR")
    hourly_days(db, ws.workspace, conn, date(2026, 11, 18), 5, spend_of)
    expected = day_total(date(2026, 11, 20))
    for zone in (None, KOLKATA, "America/New_York", "Pacific/Auckland"):
        params = {"start": "2026-11-20", "end": "2026-11-20", "level": "workspace"}
        out = query(client, ws, **params, **({"timezone": zone} if zone else {}))
        assert Decimal(out["totals"][0]["spend"]) == expected, zone
        assert [p["bucket"] for p in out["series"]] == ["2026-11-20"]
        # Per ad (the ads' day rollups) the same, and from the facts (an entity filter):
        # the day is the account's, not the view's.
        by_ad = query(
            client,
            ws,
            start="2026-11-20",
            end="2026-11-20",
            level="ad",
            group_by="entity",
            **({"timezone": zone} if zone else {}),
        )
        assert by_ad["source"]["rollups"] is True
        assert Decimal(by_ad["totals"][0]["spend"]) == expected, zone
        from_facts = query(
            client,
            ws,
            start="2026-11-20",
            end="2026-11-20",
            level="ad",
            group_by="entity",
            entity_id=by_ad["groups"][0]["group"],
            **({"timezone": zone} if zone else {}),
        )
        assert from_facts["source"]["rollups"] is False
        assert from_facts["totals"] == by_ad["totals"] and from_facts["groups"] == by_ad["groups"]
    # With one account, its zone is the default for hours; its day's hours sum to the day.
    hours = query(client, ws, start="2026-11-20", end="2026-11-20", granularity="hour")
    assert hours["timezone"] == KOLKATA and hours["account_timezones"] == [KOLKATA]
    assert len(hours["series"]) == 24 and hours["series"][0]["bucket"].endswith("+05:30")
    assert Decimal(hours["totals"][0]["spend"]) == expected
    # Shown in New York, the same 24 hours: the range is the account's day, not New York's.
    ny = query(
        client,
        ws,
        start="2026-11-20",
        end="2026-11-20",
        granularity="hour",
        timezone="America/New_York",
    )
    assert len(ny["series"]) == 24 and Decimal(ny["totals"][0]["spend"]) == expected
    # 00:00 IST is 13:30 in New York: its hour bucket starts at 13:00.
    assert ny["series"][0]["bucket"] == "2026-11-19T13:00:00-05:00"


def test_accounts_in_several_zones_each_keep_their_days(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    first = date(2026, 10, 20)  # across Berlin's (25 Oct) and Los Angeles' (1 Nov) DST change
    zones = {KOLKATA: "INR", BERLIN: "EUR", LOS_ANGELES: "USD"}
    for zone, currency in zones.items():
        conn = make_connection(db, ws.workspace.id, timezone=zone, currency=currency)
        hourly_days(db, ws.workspace, conn, first, 16, spend_of, ad=f"ad-{currency}")

    def local_total(zone: str, days: list[date]) -> Decimal:
        total = Decimal(0)
        for day in days:
            start = datetime.combine(day, datetime.min.time(), ZoneInfo(zone))
            after = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(zone))
            hours = int((after.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 3600)
            total += sum((spend_of(day, h) for h in range(hours)), Decimal(0))
        return total

    days = [first + timedelta(days=i) for i in range(16)]
    for granularity in ("day", "week", "month", "hour"):
        out = query(
            client,
            ws,
            start=days[0].isoformat(),
            end=days[-1].isoformat(),
            granularity=granularity,
            level="campaign" if granularity != "hour" else "workspace",
        )
        totals = {t["currency"]: Decimal(t["spend"]) for t in out["totals"]}
        assert totals == {c: local_total(z, days) for z, c in zones.items()}, granularity
        assert out["account_timezones"] == sorted(zones)
        assert any("own calendar days" in n for n in out["notes"])
    series = query(client, ws, start="2026-10-25", end="2026-10-25", level="workspace")["series"]
    # Berlin's 25-hour day and Los Angeles' ordinary day, each on its own date.
    by_currency = {p["currency"]: (p["bucket"], Decimal(p["spend"])) for p in series}
    assert by_currency["EUR"] == ("2026-10-25", local_total(BERLIN, [date(2026, 10, 25)]))
    assert by_currency["USD"] == ("2026-10-25", local_total(LOS_ANGELES, [date(2026, 10, 25)]))
    # Week buckets start on Monday by default, on the workspace's week start when set.
    weeks = query(client, ws, start="2026-10-20", end="2026-11-04", granularity="week")
    assert sorted({p["bucket"] for p in weeks["series"]}) == [
        "2026-10-19",
        "2026-10-26",
        "2026-11-02",
    ]
    update_workspace(db, workspace=ws.workspace, name=None, timezone=None, week_start="sunday")
    weeks = query(client, ws, start="2026-10-20", end="2026-11-04", granularity="week")
    assert sorted({p["bucket"] for p in weeks["series"]}) == [
        "2026-10-18",
        "2026-10-25",
        "2026-11-01",
    ]
    assert weeks["week_start"] == "sunday"
    week_totals = {t["currency"]: Decimal(t["spend"]) for t in weeks["totals"]}
    assert week_totals == {c: local_total(z, days) for z, c in zones.items()}


def test_presets_resolve_in_each_accounts_zone(db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York").workspace
    kolkata = make_connection(db, ws.id, timezone=KOLKATA, currency="INR")
    la = make_connection(db, ws.id, timezone=LOS_ANGELES, currency="USD")
    first = date(2026, 11, 1)
    # 2026-11-20 00:10 in Kolkata is 2026-11-19 10:40 in Los Angeles: the accounts' todays
    # differ. Facts exist up to that instant only (today's partial hours included).
    now = datetime(2026, 11, 19, 18, 40, tzinfo=UTC)
    for conn in (kolkata, la):
        hourly_days(db, ws, conn, first, 20, spend_of, ad=f"ad-{conn.currency}")

    def ask(preset: Preset, granularity: Bucket = Bucket.DAY) -> Any:
        service = UnifiedMetricService(db, use_cache=False, clock=lambda: now)
        q = MetricQuery(preset=preset, granularity=granularity, level=GroupLevel.WORKSPACE)
        return service.query(ws, q)

    def spend(out: Any) -> dict[str, Decimal]:
        return {t.currency: Decimal(t.spend) for t in out.totals}

    yesterday = ask(Preset.YESTERDAY)
    assert spend(yesterday) == {
        "INR": day_total(date(2026, 11, 19)),
        "USD": day_total(date(2026, 11, 18)),
    }
    assert sorted((r.start, r.end, tuple(r.timezones)) for r in yesterday.ranges) == [
        (date(2026, 11, 18), date(2026, 11, 18), (LOS_ANGELES,)),
        (date(2026, 11, 19), date(2026, 11, 19), (KOLKATA,)),
    ]
    assert any("different dates" in n for n in yesterday.notes)
    # Yesterday at Hour granularity: the same days, never an hour of an account's today.
    hourly = ask(Preset.YESTERDAY, Bucket.HOUR)
    assert spend(hourly) == spend(yesterday)
    assert all(p.bucket_utc and p.bucket_utc < now.isoformat() for p in hourly.series)
    today = ask(Preset.TODAY)
    assert {p.currency: p.bucket for p in today.series} == {
        "INR": "2026-11-20",
        "USD": "2026-11-19",
    }
    last7 = ask(Preset.LAST_7D)
    assert spend(last7) == {
        "INR": sum((day_total(date(2026, 11, d)) for d in range(13, 20)), Decimal(0)),
        "USD": sum((day_total(date(2026, 11, d)) for d in range(12, 19)), Decimal(0)),
    }
    # Past midnight in Los Angeles too, both accounts are on the same dates again.
    later = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    service = UnifiedMetricService(db, use_cache=False, clock=lambda: later)
    same = service.query(ws, MetricQuery(preset=Preset.YESTERDAY, level=GroupLevel.WORKSPACE))
    assert [(r.start, r.timezones) for r in same.ranges] == [(date(2026, 11, 19), [])]


def test_resolve_groups_zones_by_their_dates() -> None:
    at = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Berlin 01:30 (CET), LA 17:30 the day before
    windows = resolve(Preset.TODAY, [BERLIN, LOS_ANGELES, "UTC"], at)
    assert windows == [
        DayWindow(date(2026, 3, 28), date(2026, 3, 28), (LOS_ANGELES,)),
        DayWindow(date(2026, 3, 29), date(2026, 3, 29), (BERLIN, "UTC")),
    ]
    assert resolve(Preset.LAST_MONTH, [BERLIN, LOS_ANGELES], at) == [
        DayWindow(date(2026, 2, 1), date(2026, 2, 28))
    ]
    assert resolve(Preset.THIS_MONTH, [KOLKATA], at) == [
        DayWindow(date(2026, 3, 1), date(2026, 3, 29))
    ]
    lo, hi = instants(date(2026, 3, 29), date(2026, 3, 30), [KOLKATA, LOS_ANGELES])
    assert lo == datetime(2026, 3, 28, 18, 30, tzinfo=UTC)
    assert hi == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    # Whole Monday weeks inside a range of days, for the week rows of long totals.
    assert week_bounds(date(2026, 3, 4), date(2026, 3, 29)) == (date(2026, 3, 9), date(2026, 3, 30))
    assert week_bounds(date(2026, 3, 9), date(2026, 3, 14)) is None


def test_unknown_zones_and_missing_dates_are_clear_422s(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    url = f"/api/v1/workspaces/{ws.workspace.id}/metrics/query"
    cases = [
        ({"start": "2026-11-01", "end": "2026-11-02", "timezone": "Mars/Olympus"}, "timezone"),
        ({"start": "2026-11-01"}, "end"),
        ({"preset": "yesterday", "start": "2026-11-01", "end": "2026-11-02"}, "preset"),
    ]
    for params, field in cases:
        answer = client.get(url, params=params, headers=ws.headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"]["field"] == field
    answer = client.get(url, params={"preset": "fortnight"}, headers=ws.headers)
    assert answer.status_code == 422 and "preset" in answer.text
    latest = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/latest",
        params={"timezone": "Mars/Olympus"},
        headers=ws.headers,
    )
    assert latest.status_code == 422 and "Mars/Olympus" in latest.text
