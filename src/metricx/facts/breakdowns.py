"""The breakdown facts family (``breakdown_facts`` and ``breakdown_rollups``): Ads Manager's
Breakdown menu. One row per ad, local day, breakdown set and value, written by the sync for a
window of one connection's ads, and summed per ad set, campaign and account and day.

A write names its scope (the connection's ads, or only those under some campaigns, for days
``since``..``until``) and the rows Meta returned for it. Afterwards the scope's stored rows are
exactly those: changed rows are updated, rows Meta no longer returns are deleted, identical
re-sends touch nothing. The rollups of the scope's ad sets and campaigns, and of its account,
are then rebuilt for those days from the facts, in the same transaction (a chunk's days of one
account: a few thousand rows, never the whole history), and their weeks and months from the
day rows. Rows are COPYed into a session staging
table first, as the action facts do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts.partitions import add_months, month_start
from metricx.facts.tables import BREAKDOWN_MEASURES
from metricx.facts.writer import NULL, driver_connection

# Set name -> Meta's breakdown fields, in key order (key1, key2).
BREAKDOWN_SETS: dict[str, tuple[str, ...]] = {
    "age": ("age",),
    "gender": ("gender",),
    "age_gender": ("age", "gender"),
    "country": ("country",),
    "region": ("region",),
    "dma": ("dma",),
    "publisher_platform": ("publisher_platform",),
    "placement": ("publisher_platform", "platform_position"),
    "platform_device": ("publisher_platform", "impression_device"),
    "impression_device": ("impression_device",),
    "device_platform": ("device_platform",),
}
# Meta returns no off-Meta actions (pixel, app events) with these ("Type 1" breakdowns).
TYPE1_SETS = frozenset({"region", "dma"})
DEFAULT_SETS = ("age_gender", "country", "placement", "impression_device")
LEVELS = ("adset", "campaign", "account")
# Rollup spans: a day, a Monday-to-Sunday week (``day`` its Monday), a calendar month (``day``
# its first). Each longer row is exactly the sum of its day rows, so a reader may add and
# subtract them: 2 to 30 October is October's row minus the 1st and the 31st.
DAY, WEEK, MONTH = 1, 7, 31


class UnknownBreakdown(ValueError):
    """A breakdown set name metricx does not know."""


def check_sets(names: Iterable[str]) -> list[str]:
    """The names, deduplicated in order; an unknown one raises, naming it and the known."""
    chosen: list[str] = []
    for name in names:
        if name not in BREAKDOWN_SETS:
            known = ", ".join(BREAKDOWN_SETS)
            raise UnknownBreakdown(f"unknown breakdown {name!r}: expected one of {known}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def sets_of(chosen: Sequence[str] | None) -> tuple[str, ...]:
    """A connection's sets: its own choice, else the defaults."""
    return DEFAULT_SETS if chosen is None else tuple(chosen)


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """One row of Meta's answer for a breakdown set: the ad, its local day, the value(s) and the
    figures (None: not reported; never stored as 0)."""

    external_id: str
    day: date
    key1: str
    key2: str
    spend: Decimal
    impressions: int
    clicks: int
    link_clicks: int | None
    reach: int | None
    conversions: Decimal | None
    leads: Decimal | None
    purchases: Decimal | None
    purchase_value: Decimal | None
    results: Decimal | None


@dataclass
class BreakdownWrite:
    rows: int = 0
    written: int = 0  # inserted or changed
    deleted: int = 0
    unknown: int = 0  # rows of ads metricx does not know (skipped)


_ROW_FIELDS = [f.name for f in fields(BreakdownRow)]
_STAGE_COLUMNS = ", ".join(_ROW_FIELDS)
_VALUE_COLUMNS = [c for c in _ROW_FIELDS if c not in ("external_id", "day", "key1", "key2")]
_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metricx_bd_stage (external_id text, day date, key1 text,"
    " key2 text, spend numeric, impressions bigint, clicks bigint, link_clicks bigint,"
    " reach bigint, conversions numeric, leads numeric, purchases numeric,"
    " purchase_value numeric, results numeric) ON COMMIT DELETE ROWS",
    # The scope's ads with their ancestors (ad set, campaign, account).
    "CREATE TEMP TABLE IF NOT EXISTS metricx_bd_ads (external_id text PRIMARY KEY,"
    " entity_id uuid, adset_id uuid, campaign_id uuid, account_id uuid) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS metricx_bd_campaigns (campaign_id uuid PRIMARY KEY)"
    " ON COMMIT DELETE ROWS",
)
# Parents are joined by id alone: a parent is always in its child's workspace (the reference
# goes through it), and with the workspace in the join condition, fresh statistics sent the
# planner down the (workspace_id, ...) unique index once per row: 2.4 s for 7,500 facts.
_SCOPE_SQL = (
    "INSERT INTO metricx_bd_ads (external_id, entity_id, adset_id, campaign_id, account_id)"
    " SELECT a.external_id, a.id, s.id, c.id, c.parent_id FROM entities a"
    " JOIN entities s ON s.id = a.parent_id"
    " JOIN entities c ON c.id = s.parent_id"
    " WHERE a.workspace_id = %(ws)s AND a.provider = %(provider)s AND a.level = 'ad'"
    " AND a.connection_id = %(conn)s"
    " AND (%(campaigns)s::text[] IS NULL OR c.external_id = ANY(%(campaigns)s::text[]))"
)
# The account's campaigns (all of them: the account's sums are rebuilt from their rows).
_CAMPAIGNS_SQL = (
    "INSERT INTO metricx_bd_campaigns (campaign_id)"
    " SELECT c.id FROM entities c WHERE c.workspace_id = %(ws)s AND c.level = 'campaign'"
    " AND c.parent_id IN (SELECT DISTINCT account_id FROM metricx_bd_ads)"
)
_DELETE_SQL = (
    "DELETE FROM breakdown_facts f USING metricx_bd_ads m"
    " WHERE f.workspace_id = %(ws)s AND f.breakdown = %(set)s AND f.entity_id = m.entity_id"
    " AND f.day BETWEEN %(since)s AND %(until)s"
    " AND NOT EXISTS (SELECT 1 FROM metricx_bd_stage s WHERE s.external_id = m.external_id"
    " AND s.day = f.day AND s.key1 = f.key1 AND s.key2 = f.key2)"
)
_MERGE_SQL = (
    "WITH merged AS (INSERT INTO breakdown_facts AS f (workspace_id, breakdown, entity_id, day,"
    f" key1, key2, currency, {', '.join(_VALUE_COLUMNS)}, fetch_id)"
    " SELECT %(ws)s, %(set)s, m.entity_id, s.day, s.key1, s.key2, %(currency)s, "
    + ", ".join(f"s.{c}" for c in _VALUE_COLUMNS)
    + ", %(fetch)s FROM metricx_bd_stage s JOIN metricx_bd_ads m ON m.external_id = s.external_id"
    " WHERE s.day BETWEEN %(since)s AND %(until)s"
    " ON CONFLICT (workspace_id, breakdown, entity_id, day, key1, key2) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in [*_VALUE_COLUMNS, "currency"])
    + ", fetch_id = EXCLUDED.fetch_id, updated_at = now() WHERE ("
    + ", ".join(f"f.{c}" for c in [*_VALUE_COLUMNS, "currency"])
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in [*_VALUE_COLUMNS, "currency"])
    + ") RETURNING 1) SELECT count(*) FROM merged"
)
_UNKNOWN_SQL = (
    "SELECT count(*) FROM metricx_bd_stage s"
    " WHERE NOT EXISTS (SELECT 1 FROM metricx_bd_ads m WHERE m.external_id = s.external_id)"
)

# Rollups: the scope's ad sets and campaigns, and its account (all of the account's ads: a
# write scoped to some campaigns still changes the account's sums).
_SUMS = ", ".join(f"coalesce(sum({c}), 0)" for c in BREAKDOWN_MEASURES) + (
    ", count(*), count(link_clicks), count(conversions), count(results)"
)
_ROLLUP_COLUMNS = (
    f"workspace_id, breakdown, level, span, day, entity_id, key1, key2, currency,"
    f" {', '.join(BREAKDOWN_MEASURES)}, facts, link_n, conversions_n, results_n"
)
_AFFECTED = (
    " ((r.level = 'adset' AND r.entity_id IN (SELECT adset_id FROM metricx_bd_ads))"
    " OR (r.level = 'campaign' AND r.entity_id IN (SELECT campaign_id FROM metricx_bd_ads))"
    " OR (r.level = 'account' AND r.entity_id IN (SELECT account_id FROM metricx_bd_ads)))"
)
_CLEAR_ROLLUPS_SQL = (
    "DELETE FROM breakdown_rollups r WHERE r.workspace_id = %(ws)s AND r.breakdown = %(set)s"
    " AND r.span = 1 AND r.day BETWEEN %(since)s AND %(until)s AND" + _AFFECTED
)


def _spans_sql(span: int, unit: str, last_day: str) -> tuple[str, str]:
    """Clearing and summing again from their day rows (the write's and the others') the rows
    of ``span`` (the ``unit``: week or month) that the write's days are in: a week of one
    entity is 7 day rows per value, a month at most 31."""
    within = (
        f" AND r.day BETWEEN date_trunc('{unit}', %(since)s::date)::date"
        f" AND (date_trunc('{unit}', %(until)s::date) + interval '{last_day}')::date AND"
    )
    clear = (
        "DELETE FROM breakdown_rollups r WHERE r.workspace_id = %(ws)s AND r.breakdown = %(set)s"
        f" AND r.span = {span}" + within + _AFFECTED
    )
    summed = summed_spans_sql(
        span,
        unit,
        "r.workspace_id = %(ws)s AND r.breakdown = %(set)s" + within + _AFFECTED,
    )
    return clear, summed


def summed_spans_sql(span: int, unit: str, where: str) -> str:
    """Inserting the rows of ``span`` (the ``unit``: week or month) as the sums of the day
    rows ``r`` that ``where`` picks (a write's scope, or what retention left)."""
    return (
        f"INSERT INTO breakdown_rollups ({_ROLLUP_COLUMNS})"
        f" SELECT r.workspace_id, r.breakdown, r.level, {span}, date_trunc('{unit}', r.day)::date,"
        " r.entity_id, r.key1, r.key2, r.currency, "
        + ", ".join(f"sum(r.{c})" for c in BREAKDOWN_MEASURES)
        + ", sum(r.facts), sum(r.link_n), sum(r.conversions_n), sum(r.results_n)"
        f" FROM breakdown_rollups r WHERE r.span = {DAY} AND {where}"
        f" GROUP BY r.workspace_id, r.breakdown, r.level, date_trunc('{unit}', r.day),"
        " r.entity_id, r.key1, r.key2, r.currency" + _IN_READ_ORDER
    )


# Rows go in as a question reads them (a level's rows of a day together): 4,000 rows of a
# 30-day question sat on 1,300 pages when they went in in hash order.
_IN_READ_ORDER = " ORDER BY 3, 5, 6, 7, 8"
_LONGER_SQL = (
    *_spans_sql(WEEK, "week", "6 days"),
    *_spans_sql(MONTH, "month", "1 month - 1 day"),
)

_PARENTS_SQL = (
    f"INSERT INTO breakdown_rollups ({_ROLLUP_COLUMNS})"
    " SELECT f.workspace_id, f.breakdown,"
    " CASE WHEN GROUPING(m.adset_id) = 0 THEN 'adset' ELSE 'campaign' END, 1,"
    " f.day, coalesce(m.adset_id, m.campaign_id), f.key1, f.key2, f.currency, "
    + _SUMS
    + " FROM breakdown_facts f JOIN metricx_bd_ads m ON m.entity_id = f.entity_id"
    " WHERE f.workspace_id = %(ws)s AND f.breakdown = %(set)s"
    " AND f.day BETWEEN %(since)s AND %(until)s"
    " GROUP BY f.workspace_id, f.breakdown, f.day, f.key1, f.key2, f.currency,"
    " GROUPING SETS ((m.campaign_id, m.adset_id), (m.campaign_id))" + _IN_READ_ORDER
)
# The account's rows: its campaigns' rows summed (the scope's just rebuilt, the others as
# they were), a few hundred rows per day rather than every fact of the account.
_ACCOUNT_SQL = (
    f"INSERT INTO breakdown_rollups ({_ROLLUP_COLUMNS})"
    " SELECT r.workspace_id, r.breakdown, 'account', 1, r.day, c.parent_id, r.key1, r.key2,"
    " r.currency, "
    + ", ".join(f"sum(r.{c})" for c in BREAKDOWN_MEASURES)
    + ", sum(r.facts), sum(r.link_n), sum(r.conversions_n), sum(r.results_n)"
    " FROM breakdown_rollups r JOIN metricx_bd_campaigns k ON k.campaign_id = r.entity_id"
    " JOIN entities c ON c.id = r.entity_id"
    " WHERE r.workspace_id = %(ws)s AND r.breakdown = %(set)s AND r.level = 'campaign'"
    " AND r.span = 1 AND r.day BETWEEN %(since)s AND %(until)s AND c.parent_id IS NOT NULL"
    " GROUP BY r.workspace_id, r.breakdown, r.day, c.parent_id, r.key1, r.key2, r.currency"
    + _IN_READ_ORDER
)


def ensure_breakdown_partitions(session: Session, since: date, until: date) -> None:
    month = month_start(since)
    while month <= until:
        session.execute(text("SELECT metricx_ensure_breakdown_partition(:m)"), {"m": month})
        month = add_months(month, 1)


def _cell(value: object) -> str:
    if value is None:
        return NULL
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def write_breakdowns(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID,
    provider: str,
    breakdown: str,
    currency: str,
    since: date,
    until: date,
    campaigns: Sequence[str] | None,
    rows: Iterable[BreakdownRow],
    fetch_id: uuid.UUID | None,
) -> BreakdownWrite:
    """Make the scope's stored rows of ``breakdown`` exactly ``rows``; rebuild its rollups."""
    check_sets([breakdown])
    result = BreakdownWrite()
    conn = driver_connection(session)
    ensure_breakdown_partitions(session, since, until)
    params = {
        "ws": workspace_id,
        "conn": connection_id,
        "provider": provider,
        "set": breakdown,
        "currency": currency,
        "since": since,
        "until": until,
        "campaigns": list(campaigns) if campaigns is not None else None,
        "fetch": fetch_id,
    }
    with conn.cursor() as cur:
        for ddl in _DDL:
            cur.execute(ddl)
        cur.execute("TRUNCATE metricx_bd_stage, metricx_bd_ads, metricx_bd_campaigns")
        with cur.copy(f"COPY metricx_bd_stage ({_STAGE_COLUMNS}) FROM STDIN") as cp:
            lines: list[str] = []
            for row in rows:
                result.rows += 1
                lines.append("\t".join(_cell(getattr(row, c)) for c in _ROW_FIELDS) + "\n")
                if len(lines) >= 5000:
                    cp.write("".join(lines))
                    lines.clear()
            if lines:
                cp.write("".join(lines))
        cur.execute(_SCOPE_SQL, params)
        cur.execute(_CAMPAIGNS_SQL, params)
        # Temporary tables have no statistics of their own (see metricx.facts.actions).
        cur.execute("ANALYZE metricx_bd_stage, metricx_bd_ads, metricx_bd_campaigns")
        cur.execute(_UNKNOWN_SQL)
        unknown = cur.fetchone()
        result.unknown = int(unknown[0]) if unknown else 0
        cur.execute(_DELETE_SQL, params)
        result.deleted = cur.rowcount
        cur.execute(_MERGE_SQL, params)
        merged = cur.fetchone()
        result.written = int(merged[0]) if merged else 0
        if result.written or result.deleted:
            cur.execute(_CLEAR_ROLLUPS_SQL, params)
            cur.execute(_PARENTS_SQL, params)
            cur.execute(_ACCOUNT_SQL, params)
            for sql in _LONGER_SQL:
                cur.execute(sql, params)
    return result
