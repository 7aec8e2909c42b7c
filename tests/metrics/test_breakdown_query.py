"""``breakdown=`` on the query API, on hand-made data: rows per value (and per entity and value),
sums and ratios from the stored rows, filters and levels, reach only where a row is one fact,
Type 1 nulls, the reconciliation against the unbroken total, CSV, and the questions a
breakdown cannot answer (422)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.facts.breakdowns import BreakdownRow, write_breakdowns
from metricx.models import Entity, Level
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import make_connection
from tests.metrics.test_query import entity, fact, ingest, query

DAY = date(2026, 3, 1)
D = Decimal


def bd(ad: Entity, key1: str, key2: str = "", day: date = DAY, **kw: Any) -> BreakdownRow:
    base: dict[str, Any] = {
        "spend": D("10"),
        "impressions": 1000,
        "clicks": 10,
        "link_clicks": 5,
        "reach": 700,
        "conversions": D("2"),
        "leads": D("0"),
        "purchases": D("1"),
        "purchase_value": D("30"),
        "results": None,
    }
    base.update(kw)
    return BreakdownRow(external_id=ad.external_id, day=day, key1=key1, key2=key2, **base)


class World:
    """One account, two campaigns of one ad set and two ads each. Each ad spent 20.00 on the
    day (the unbroken facts); its age x gender rows say 10 + 10 except ad 3's, which hide a
    cell (only 10 of its 20 are broken down)."""

    def __init__(self, db: Session, client: TestClient) -> None:
        self.ws: KeyedWorkspace = make_keyed_workspace(db)
        conn = make_connection(db, self.ws.workspace.id)
        acct = entity(db, self.ws, Level.ACCOUNT)
        self.camps = [entity(db, self.ws, Level.CAMPAIGN, acct, name=f"C{i}") for i in range(2)]
        self.sets = [
            entity(db, self.ws, Level.ADSET, c, name=f"S{i}") for i, c in enumerate(self.camps)
        ]
        self.ads = [
            entity(db, self.ws, Level.AD, s, name=f"A{i}")
            for i, s in enumerate(self.sets + self.sets)
        ]
        for e in [acct, *self.camps, *self.sets, *self.ads]:
            e.connection_id = conn.id
        db.flush()
        at = datetime(2026, 3, 1, tzinfo=UTC)
        ingest(
            client,
            self.ws,
            [fact(ad, at, "day", spend="20.00", impressions=2000, clicks=20) for ad in self.ads],
        )
        rows = []
        for i, ad in enumerate(self.ads):
            rows.append(bd(ad, "18-24", "female"))
            if i != 3:
                rows.append(bd(ad, "25-34", "male", conversions=D("1")))
        self.write(db, conn.id, "age_gender", rows)
        region = [
            bd(
                ad,
                "Texas",
                conversions=None,
                leads=None,
                purchases=None,
                purchase_value=None,
                reach=None,
            )
            for ad in self.ads
        ]
        self.write(db, conn.id, "region", region)

    def write(self, db: Session, conn: Any, name: str, rows: list[BreakdownRow]) -> None:
        write_breakdowns(
            db,
            workspace_id=self.ws.workspace.id,
            connection_id=conn,
            provider="meta",
            breakdown=name,
            currency="USD",
            since=DAY,
            until=DAY,
            campaigns=None,
            rows=rows,
            fetch_id=None,
        )

    def ask(self, client: TestClient, **params: Any) -> Any:
        return query(client, self.ws, start=DAY.isoformat(), end=DAY.isoformat(), **params)


def test_rows_per_value_with_sums_ratios_and_reconciliation(
    client: TestClient, db: Session
) -> None:
    w = World(db, client)
    got = w.ask(client, breakdown="age_gender")
    assert got["breakdown"] == "age_gender" and got["breakdown_fields"] == ["age", "gender"]
    rows = {g["group"]: g for g in got["groups"]}
    assert set(rows) == {"18-24|female", "25-34|male"}
    young = rows["18-24|female"]
    assert young["breakdown"] == {"age": "18-24", "gender": "female"}
    assert young["name"] == "18-24, female"
    assert (young["spend"], young["impressions"], young["clicks"]) == ("40.00", 4000, 40)
    assert young["ctr"] == pytest.approx(0.01) and young["cpc"] == "1.00"
    assert young["conversions"] == "8.00" and rows["25-34|male"]["conversions"] == "3.00"
    assert young["cpa"] == "5.00" and young["roas"] == pytest.approx(3.0)
    assert young["reach"] is None  # four ads' reach is not a sum
    assert got["series"] == []
    # The breakdown's 70.00 against the facts' 80.00: -12.5%, outside the 2% tolerance.
    spend = next(r for r in got["reconciliation"] if r["measure"] == "spend")
    assert (spend["breakdown_total"], spend["total"], spend["difference"]) == (
        "70.00",
        "80.00",
        "-10.00",
    )
    assert spend["relative"] == pytest.approx(-0.125) and spend["within_tolerance"] is False
    assert got["totals"][0]["spend"] == "70.00"
    assert any("estimates" in n for n in got["notes"])


def test_grouped_filtered_and_ad_level(client: TestClient, db: Session) -> None:
    w = World(db, client)
    by_campaign = w.ask(client, breakdown="age_gender", group_by="entity", level="campaign")
    cells = {(g["name"], g["breakdown"]["age"]): g["spend"] for g in by_campaign["groups"]}
    assert cells == {
        ("C0", "18-24"): "20.00",
        ("C0", "25-34"): "20.00",
        ("C1", "18-24"): "20.00",
        ("C1", "25-34"): "10.00",
    }
    # One ad set: only its ads' rows, whatever the level asked.
    one = w.ask(client, breakdown="age_gender", entity_id=str(w.sets[1].id))
    assert {g["group"]: g["spend"] for g in one["groups"]} == {
        "18-24|female": "20.00",
        "25-34|male": "10.00",
    }
    # By ad, one day: each row is one fact, so it shows that fact's reach.
    ads = w.ask(
        client, breakdown="age_gender", group_by="entity", level="ad", sort="name", order="asc"
    )
    assert len(ads["groups"]) == 7
    assert all(g["reach"] == 700 for g in ads["groups"])
    assert ads["groups"][0]["frequency"] == pytest.approx(1000 / 700)
    # A campaign's ads (filtered above the level read): only its ads' rows.
    under = w.ask(
        client, breakdown="age_gender", group_by="entity", level="ad",
        entity_id=str(w.camps[1].id),
    )  # fmt: skip
    assert sorted({g["name"] for g in under["groups"]}) == ["A1", "A3"]
    assert sum(D(g["spend"]) for g in under["groups"]) == D("30")
    # Three levels up (the account), and filters of two levels (a campaign, another's ad set).
    for filtered, names in (
        ([w.camps[0].parent_id], ["A0", "A1", "A2", "A3"]),
        ([w.camps[1].id, w.sets[0].id], ["A0", "A1", "A2", "A3"]),
        ([w.sets[0].id], ["A0", "A2"]),
    ):
        got = w.ask(
            client, breakdown="age_gender", group_by="entity", level="ad",
            entity_id=[str(e) for e in filtered],
        )  # fmt: skip
        assert sorted({g["name"] for g in got["groups"]}) == names
    # Sorted by spend, top 1.
    top = w.ask(client, breakdown="age_gender", sort="spend", limit=1)
    assert [g["group"] for g in top["groups"]] == ["18-24|female"]


@pytest.mark.parametrize("sort", ["spend", "link_clicks", "conversions", "ctr", "name"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_rows_sort_nulls_last_and_ties_by_name_then_values(
    client: TestClient, db: Session, sort: str, order: str
) -> None:
    """A summed measure sorts in the database, a ratio or the name in Python: either way the
    rows with a value come first in the order asked, ties by name, group and values, and a
    top N is the first N of the whole list."""
    w = World(db, client)
    rows = [
        bd(ad, country, spend=D(spend), link_clicks=links, conversions=D(conv))
        for ad, (country, spend, links, conv) in zip(
            [*w.ads, *w.ads],
            [
                ("US", "5", 3, "1"),
                ("GB", "5", None, "1"),
                ("US", "7", 3, "2"),
                ("DE", "5", None, "1"),
                ("GB", "7", 1, "2"),
                ("DE", "5", 3, "1"),
                ("FR", "5", None, "2"),
                ("US", "9", 3, "1"),
            ],
            strict=True,
        )
    ]
    w.write(db, w.ads[0].connection_id, "country", rows)
    ask = {"breakdown": "country", "group_by": "entity", "level": "ad", "sort": sort}
    every = w.ask(client, **ask, order=order)["groups"]
    assert len(every) == 8

    def value(g: dict[str, Any]) -> Any:
        v = g[sort]
        return v if v is None or sort == "name" else D(str(v))

    by_tie = sorted(
        every, key=lambda g: (g["name"], g["group"], g["currency"], *g["breakdown"].values())
    )
    valued = sorted((g for g in by_tie if value(g) is not None), key=value, reverse=order == "desc")
    assert every == valued + [g for g in by_tie if value(g) is None]
    top = w.ask(client, **ask, order=order, limit=3)
    assert top["groups"] == every[:3]
    # A top N's totals are every row's (summed apart from the few rows named).
    assert top["totals"] == w.ask(client, **ask, order=order)["totals"]


def test_type1_breakdowns_leave_off_meta_actions_null(client: TestClient, db: Session) -> None:
    w = World(db, client)
    got = w.ask(client, breakdown="region")
    (texas,) = got["groups"]
    assert texas["breakdown"] == {"region": "Texas"} and texas["spend"] == "40.00"
    assert texas["conversions"] is None and texas["purchase_value"] is None
    assert texas["cpa"] is None and texas["roas"] is None
    assert any("Type 1" in n for n in got["notes"])


def test_csv_has_the_breakdown_columns(client: TestClient, db: Session) -> None:
    w = World(db, client)
    r = client.get(
        f"/api/v1/workspaces/{w.ws.workspace.id}/metrics/query",
        params={
            "start": DAY.isoformat(),
            "end": DAY.isoformat(),
            "breakdown": "age_gender",
            "format": "csv",
            "sort": "name",
            "order": "asc",
        },
        headers=w.ws.headers,
    )
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["age"], x["gender"], x["spend"]) for x in rows] == [
        ("18-24", "female", "40.00"),
        ("25-34", "male", "30.00"),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"breakdown": "colour"}, "breakdown"),
        ({"breakdown": "age", "granularity": "hour"}, "granularity"),
        ({"breakdown": "age", "group_by": "provider"}, "group_by"),
        ({"breakdown": "age", "attribution": "7d_click"}, "attribution"),
        ({"breakdown": "age", "actions": "link_click"}, "actions"),
    ],
)
def test_questions_a_breakdown_cannot_answer_are_422(
    client: TestClient, db: Session, params: dict[str, str], field: str
) -> None:
    ws = make_keyed_workspace(db)
    r = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query",
        params={"start": DAY.isoformat(), "end": DAY.isoformat(), **params},
        headers=ws.headers,
    )
    assert r.status_code == 422, r.text
    assert field in r.text


def test_filters_and_a_ratio_sort(client: TestClient, db: Session) -> None:
    w = World(db, client)
    w.camps[1].effective_status = "PAUSED"
    db.flush()
    active = w.ask(client, breakdown="age_gender", level="campaign", status="ACTIVE")
    assert {g["group"]: g["spend"] for g in active["groups"]} == {
        "18-24|female": "20.00",
        "25-34|male": "20.00",
    }
    other = w.ask(client, breakdown="age_gender", connection_id=str(uuid.uuid4()))
    assert other["groups"] == [] and other["totals"] == []
    # A ratio sorts too: the cheapest conversions first.
    by_cpa = w.ask(client, breakdown="age_gender", sort="cpa", order="asc", limit=1)
    assert [(g["group"], g["cpa"]) for g in by_cpa["groups"]] == [("18-24|female", "5.00")]


def test_a_range_of_whole_weeks_and_odd_days_sums_every_day_once(
    client: TestClient, db: Session
) -> None:
    """Whole Monday-to-Sunday weeks are read from their week rows, the days around them from
    day rows: the same sums as every day's facts, also after a day in a week is revised."""
    w = World(db, client)
    first, days = date(2026, 3, 2), 24  # Monday 2 March .. Wednesday 25 March
    span = [first + timedelta(days=i) for i in range(days)]

    def spend(ad: int, day: date, revised: bool = False) -> Decimal:
        return D(ad + 1) + D(day.day) / 100 + (D(5) if revised else 0)

    def write(revised_day: date | None = None) -> None:
        rows = [
            bd(ad, "US", day=d, spend=spend(i, d, d == revised_day))
            for i, ad in enumerate(w.ads)
            for d in span
        ]
        write_breakdowns(
            db, workspace_id=w.ws.workspace.id, connection_id=w.ads[0].connection_id,
            provider="meta", breakdown="country", currency="USD", since=first,
            until=span[-1], campaigns=None, rows=rows, fetch_id=None,
        )  # fmt: skip

    def ask(level: str, start: date, end: date) -> dict[str, str]:
        got = query(
            client, w.ws, start=start.isoformat(), end=end.isoformat(), breakdown="country",
            level=level, group_by="entity",
        )  # fmt: skip
        return {g["name"]: g["spend"] for g in got["groups"]}

    write()
    start, end = date(2026, 3, 4), date(2026, 3, 23)  # Wednesday .. Monday: 2 whole weeks
    for revised in (None, date(2026, 3, 11)):
        if revised:
            write(revised)
        inside = [d for d in span if start <= d <= end]
        by_ad = {
            f"A{i}": sum((spend(i, d, d == revised) for d in inside), D(0))
            for i in range(len(w.ads))
        }
        assert {k: D(v) for k, v in ask("ad", start, end).items()} == by_ad
        by_campaign = {"C0": by_ad["A0"] + by_ad["A2"], "C1": by_ad["A1"] + by_ad["A3"]}
        assert {k: D(v) for k, v in ask("campaign", start, end).items()} == by_campaign
    # A range that is exactly whole weeks, and one inside a single week.
    weeks = ask("campaign", date(2026, 3, 9), date(2026, 3, 22))
    assert D(weeks["C0"]) == sum(
        (spend(i, d, d == date(2026, 3, 11)) for i in (0, 2) for d in span
         if date(2026, 3, 9) <= d <= date(2026, 3, 22)),
        D(0),
    )  # fmt: skip
    one = ask("campaign", date(2026, 3, 10), date(2026, 3, 12))
    assert D(one["C1"]) == sum(
        (spend(i, d, d == date(2026, 3, 11)) for i in (1, 3) for d in span
         if date(2026, 3, 10) <= d <= date(2026, 3, 12)),
        D(0),
    )  # fmt: skip


def test_month_rows_minus_days_equal_the_facts_on_any_range(
    client: TestClient, db: Session
) -> None:
    """Rollup answers over ranges covered by month rows with days and weeks added or subtracted
    equal the ad-level facts summed, on sparse values across three months, before and after a
    revision: a value seen only on a subtracted day is no row, and a measure reported only
    there is null."""
    import random

    w = World(db, client)
    rng = random.Random(1704)
    first, last = date(2026, 1, 20), date(2026, 4, 12)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    countries = ("US", "GB", "DE", "FR")
    facts: dict[tuple[int, date, str], tuple[Decimal, Decimal | None]] = {}

    def write(since: date, until: date) -> None:
        for key in [k for k in facts if since <= k[1] <= until]:
            del facts[key]
        for i in range(len(w.ads)):
            for d in (d for d in days if since <= d <= until):
                for c in countries:
                    if rng.random() < 0.35:  # sparse: a value comes and goes
                        conv = D(rng.randrange(4)) if rng.random() < 0.7 else None
                        facts[(i, d, c)] = (D(rng.randrange(1, 5000)) / 100, conv)
        rows = [
            bd(w.ads[i], c, day=d, spend=s, conversions=v) for (i, d, c), (s, v) in facts.items()
            if since <= d <= until
        ]  # fmt: skip
        write_breakdowns(
            db, workspace_id=w.ws.workspace.id, connection_id=w.ads[0].connection_id,
            provider="meta", breakdown="country", currency="USD", since=since, until=until,
            campaigns=None, rows=rows, fetch_id=None,
        )  # fmt: skip

    for chunk in range(0, len(days), 17):  # as backfill chunks do
        part = days[chunk : chunk + 17]
        write(part[0], part[-1])
    # Seen only on 1 February; conversions reported only then.
    facts[(0, date(2026, 2, 1), "JP")] = (D("7.00"), D("1"))
    facts[(1, date(2026, 2, 1), "BR")] = (D("3.00"), D("2"))
    facts[(1, date(2026, 2, 9), "BR")] = (D("4.00"), None)
    write_breakdowns(
        db, workspace_id=w.ws.workspace.id, connection_id=w.ads[0].connection_id,
        provider="meta", breakdown="country", currency="USD", since=first, until=last,
        campaigns=None, rows=[bd(w.ads[i], c, day=d, spend=s, conversions=v)
                              for (i, d, c), (s, v) in facts.items()], fetch_id=None,
    )  # fmt: skip
    parents = {"campaign": [0, 1, 0, 1], "adset": [0, 1, 0, 1], "account": [0, 0, 0, 0]}
    names = {"campaign": ["C0", "C1"], "adset": ["S0", "S1"]}

    def expected(level: str, start: date, end: date) -> dict[tuple[str | None, str], Any]:
        out: dict[tuple[str | None, str], list[Any]] = {}
        for (i, d, c), (s, v) in facts.items():
            if start <= d <= end:
                name = names[level][parents[level][i]] if level in names else None
                got = out.setdefault((name, c), [D(0), None])
                got[0] += s
                if v is not None:
                    got[1] = (got[1] or D(0)) + v
        return {k: (s, v) for k, (s, v) in out.items()}

    def answered(level: str, start: date, end: date) -> dict[tuple[str | None, str], Any]:
        grouped = level in names
        got = query(
            client, w.ws, start=start.isoformat(), end=end.isoformat(), breakdown="country",
            level=level, **({"group_by": "entity"} if grouped else {}),
        )  # fmt: skip
        rows = {
            (g["name"] if grouped else None, g["breakdown"]["country"]): (
                D(g["spend"]),
                None if g["conversions"] is None else D(str(g["conversions"])),
            )
            for g in got["groups"]
        }
        # The totals are the rows' sums (grouped, they are read from the accounts' rows).
        (total,) = got["totals"] or [{"spend": "0", "conversions": None}]
        assert D(total["spend"]) == sum((s for s, _ in rows.values()), D(0))
        reported = [c for _, c in rows.values() if c is not None]
        conversions = total["conversions"]
        assert (None if conversions is None else D(str(conversions))) == (
            sum(reported, D(0)) if reported else None
        )
        return rows

    ranges = [
        (date(2026, 2, 2), date(2026, 2, 28)),  # February minus its 1st
        (date(2026, 1, 25), date(2026, 3, 30)),  # a whole month, a month minus a day
        (date(2026, 3, 3), date(2026, 4, 2)),  # March minus 1st-2nd, and April's days
        (date(2026, 3, 1), date(2026, 3, 31)),  # one month row
    ]
    for _ in range(8):
        a = rng.choice(days)
        ranges.append((a, min(last, a + timedelta(days=rng.randrange(1, 60)))))
    for revision in (False, True):
        if revision:
            write(date(2026, 2, 26), date(2026, 3, 4))  # across a month's edge
        for start, end in ranges:
            for level in ("campaign", "adset", "workspace"):
                assert answered(level, start, end) == expected(level, start, end), (
                    level, start, end, revision,
                )  # fmt: skip
