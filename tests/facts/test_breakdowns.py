"""The breakdown facts writer on hand-made entities: a write makes its scope's rows exactly the
given ones (revisions update, vanished rows go, other campaigns' and days' rows stay), null
stays null, unknown ads are counted and skipped, and the rollups at every level equal the facts
summed afresh."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts.breakdowns import (
    BreakdownRow,
    UnknownBreakdown,
    check_sets,
    write_breakdowns,
)
from metricx.models import Entity, Level
from tests.factories import make_keyed_workspace
from tests.ingest.helpers import make_connection
from tests.metrics.test_query import entity

DAY = date(2026, 3, 1)
D = Decimal


def row(ad: Entity, day: date, key1: str, key2: str = "", **kw: Any) -> BreakdownRow:
    base: dict[str, Any] = {
        "spend": D("1.50"),
        "impressions": 100,
        "clicks": 3,
        "link_clicks": 2,
        "reach": 80,
        "conversions": D("1"),
        "leads": None,
        "purchases": D("1"),
        "purchase_value": D("9.99"),
        "results": D("1"),
    }
    base.update(kw)
    return BreakdownRow(external_id=ad.external_id, day=day, key1=key1, key2=key2, **base)


class Account:
    def __init__(self, db: Session) -> None:
        self.ws = make_keyed_workspace(db)
        self.conn = make_connection(db, self.ws.workspace.id)
        self.acct = entity(db, self.ws, Level.ACCOUNT)
        self.camps = [entity(db, self.ws, Level.CAMPAIGN, self.acct) for _ in range(2)]
        self.sets = [entity(db, self.ws, Level.ADSET, c) for c in self.camps]
        self.ads = [entity(db, self.ws, Level.AD, s) for s in self.sets for _ in range(2)]
        for e in [self.acct, *self.camps, *self.sets, *self.ads]:
            e.connection_id = self.conn.id
        db.flush()

    def write(
        self,
        db: Session,
        rows: list[BreakdownRow],
        *,
        campaigns: list[str] | None = None,
        since: date = DAY,
        until: date = DAY,
        breakdown: str = "age_gender",
    ) -> Any:
        return write_breakdowns(
            db,
            workspace_id=self.ws.workspace.id,
            connection_id=self.conn.id,
            provider="meta",
            breakdown=breakdown,
            currency="USD",
            since=since,
            until=until,
            campaigns=campaigns,
            rows=rows,
            fetch_id=None,
        )


def stored(db: Session, ws: uuid.UUID) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    got = db.execute(
        text(
            "SELECT entity_id, day, key1, key2, spend, conversions, reach FROM breakdown_facts"
            " WHERE workspace_id = :ws"
        ),
        {"ws": ws},
    )
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6]) for r in got}


def assert_rollups_match_facts(db: Session, ws: uuid.UUID) -> int:
    """Every rollup row equals the facts summed afresh per level, and no row is missing."""
    fresh = db.execute(
        text(
            "WITH f AS (SELECT f.*, a.parent_id AS adset, s.parent_id AS campaign,"
            " c.parent_id AS account FROM breakdown_facts f JOIN entities a ON a.id = f.entity_id"
            " JOIN entities s ON s.id = a.parent_id JOIN entities c ON c.id = s.parent_id"
            " WHERE f.workspace_id = :ws)"
            " , x AS (SELECT 'adset' lvl, adset e, * FROM f"
            " UNION ALL SELECT 'campaign', campaign, * FROM f"
            " UNION ALL SELECT 'account', account, * FROM f)"
            # Each day, each Monday-to-Sunday week on its Monday, each month on its first.
            " SELECT lvl, e, span, breakdown, start, key1, key2, sum(spend), sum(impressions),"
            " sum(clicks), coalesce(sum(conversions), 0), count(conversions), count(*) FROM ("
            " SELECT 1 AS span, day AS start, * FROM x"
            " UNION ALL SELECT 7, date_trunc('week', day)::date, * FROM x"
            " UNION ALL SELECT 31, date_trunc('month', day)::date, * FROM x) y"
            " GROUP BY lvl, e, span, breakdown, start, key1, key2"
        ),
        {"ws": ws},
    ).all()
    rolled = db.execute(
        text(
            "SELECT level, entity_id, span, breakdown, day, key1, key2, spend, impressions,"
            " clicks, conversions, conversions_n, facts FROM breakdown_rollups"
            " WHERE workspace_id = :ws"
        ),
        {"ws": ws},
    ).all()
    assert sorted(map(tuple, rolled)) == sorted(map(tuple, fresh))
    return len(rolled)


def test_a_write_replaces_its_scope_and_rebuilds_the_rollups(db: Session) -> None:
    a = Account(db)
    ws = a.ws.workspace.id
    ad0, ad1, ad2, _ = a.ads
    first = a.write(
        db,
        [
            row(ad0, DAY, "18-24", "female"),
            row(ad0, DAY, "18-24", "male", spend=D("2.25")),
            row(ad1, DAY, "25-34", "female"),
            row(ad2, DAY, "25-34", "unknown"),
        ],
    )
    assert (first.rows, first.written, first.deleted, first.unknown) == (4, 4, 0, 0)
    assert assert_rollups_match_facts(db, ws) > 0
    account = db.execute(
        text(
            "SELECT key1, key2, spend FROM breakdown_rollups WHERE workspace_id = :ws AND span = 1"
            " AND level = 'account' ORDER BY key1, key2"
        ),
        {"ws": ws},
    ).all()
    assert [tuple(r) for r in account] == [
        ("18-24", "female", D("1.500000")),
        ("18-24", "male", D("2.250000")),
        ("25-34", "female", D("1.500000")),
        ("25-34", "unknown", D("1.500000")),
    ]

    # A revision: one row changes, one vanishes, one is new, one is re-sent as it was.
    again = a.write(
        db,
        [
            row(ad0, DAY, "18-24", "female"),
            row(ad0, DAY, "18-24", "male", spend=D("3.00")),
            row(ad1, DAY, "35-44", "male"),
        ],
    )
    assert (again.written, again.deleted) == (2, 2)
    keys = {(k[0], k[2], k[3]) for k in stored(db, ws)}
    assert keys == {
        (ad0.id, "18-24", "female"),
        (ad0.id, "18-24", "male"),
        (ad1.id, "35-44", "male"),
    }
    assert_rollups_match_facts(db, ws)
    # Identical re-send: nothing written, nothing deleted.
    same = a.write(
        db,
        [
            row(ad0, DAY, "18-24", "female"),
            row(ad0, DAY, "18-24", "male", spend=D("3.00")),
            row(ad1, DAY, "35-44", "male"),
        ],
    )
    assert (same.written, same.deleted) == (0, 0)


def test_scope_limits_by_campaign_and_days_and_keeps_nulls(db: Session) -> None:
    a = Account(db)
    ws = a.ws.workspace.id
    ad0, _, ad2, _ = a.ads  # ad0 in campaign 0, ad2 in campaign 1
    next_day = DAY + timedelta(days=1)
    a.write(
        db,
        [row(ad0, DAY, "US"), row(ad2, DAY, "FR"), row(ad0, next_day, "US")],
        since=DAY,
        until=next_day,
        breakdown="country",
    )
    # Campaign 1 of the first day only, now with nothing: its row goes, the rest stays.
    done = a.write(
        db, [], campaigns=[a.camps[1].external_id], breakdown="country", since=DAY, until=DAY
    )
    assert done.deleted == 1
    assert {(k[0], k[1]) for k in stored(db, ws)} == {(ad0.id, DAY), (ad0.id, next_day)}
    assert_rollups_match_facts(db, ws)
    gone = db.execute(
        text(
            "SELECT count(*) FROM breakdown_rollups WHERE workspace_id = :ws AND entity_id"
            " IN (:c, :s)"
        ),
        {"ws": ws, "c": a.camps[1].id, "s": a.sets[1].id},
    ).scalar_one()
    assert gone == 0

    # Region (Type 1): off-Meta actions not reported stay null, in facts and in the counters.
    a.write(
        db,
        [row(ad0, DAY, "Texas", conversions=None, purchases=None, purchase_value=None, reach=None)],
        breakdown="region",
    )
    facts = db.execute(
        text(
            "SELECT conversions, purchases, reach FROM breakdown_facts WHERE breakdown = 'region'"
            " AND workspace_id = :ws"
        ),
        {"ws": ws},
    ).one()
    assert tuple(facts) == (None, None, None)
    n = db.execute(
        text(
            "SELECT conversions_n, facts FROM breakdown_rollups WHERE breakdown = 'region'"
            " AND span = 1 AND level = 'account' AND workspace_id = :ws"
        ),
        {"ws": ws},
    ).one()
    assert tuple(n) == (0, 1)


def test_unknown_ads_are_counted_and_unknown_sets_refused(db: Session) -> None:
    a = Account(db)
    stray = BreakdownRow(
        external_id="999999",
        day=DAY,
        key1="US",
        key2="",
        spend=D("1"),
        impressions=1,
        clicks=0,
        link_clicks=None,
        reach=None,
        conversions=None,
        leads=None,
        purchases=None,
        purchase_value=None,
        results=None,
    )
    done = a.write(db, [stray, row(a.ads[0], DAY, "US")], breakdown="country")
    assert (done.rows, done.written, done.unknown) == (2, 1, 1)
    with pytest.raises(UnknownBreakdown, match="'colour'"):
        check_sets(["age", "colour"])
    assert check_sets(["age", "country", "age"]) == ["age", "country"]
