"""Rollups: facts pre-summed at the grains dashboards read, kept current by every upsert.

Every rollup row carries the time zone of the account its facts belong to (``zone``: the
connection's, or the workspace's for facts pushed without one) and the local date of its
bucket in that zone (``day``). Day, week and month questions group by ``day`` and filter on
it, so a day is always the account's own calendar day, whatever zone the viewer uses; hour
rows keep their instant (``event_at``) and are shown in any zone.

The ingest merge records, for each fact it inserts or changes, a +new row and (for a
revision) a -old row in the session's ``metricx_fact_delta`` table (``DELTA_CTE`` is part of
its statement). ``apply_deltas`` then adds the summed deltas to the fact's workspace, account,
campaign and ad set rollup rows (and its ad's day and week rows) in one statement: a revision
changes the rollup by its delta and nothing is recomputed. ``rebuild`` recomputes a workspace's
rollups from the facts (after an entity moved to another parent, and as the reference in tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from metricx.facts import measures as registry
from metricx.facts.tables import MetricRollup

# The registry's additive measures, summed; each reporting group's counter (``conversions_n``,
# ``video_n``...) counts the facts that reported any measure of the group (null there means
# "not reported", not 0).
MEASURES = registry.names(registry.rolled())
ACTION_MEASURES = registry.names(registry.reported())
GROUPS = {g: registry.names(ms) for g, ms in registry.groups().items()}
COUNTERS = registry.counters()
# measure -> the counter of its reporting group (reported measures only)
COUNTER_OF = {m: registry.counter(g) for g, ms in GROUPS.items() for m in ms}


def reported_sql(alias: str, group: str = registry.CONVERSIONS) -> str:
    """True where the fact ``alias`` reported any measure of the reporting group ``group``."""
    prefix = f"{alias}." if alias else ""
    return " OR ".join(f"{prefix}{m} IS NOT NULL" for m in GROUPS.get(group, ())) or "false"


def _counted(alias: str, sign: str = "") -> list[str]:
    """Each group's counter value for one fact (``alias``), signed, in COUNTERS order."""
    return [f"{sign}({reported_sql(alias, g)})::int" for g in GROUPS]


def _counter_sums(alias: str) -> str:
    return ", ".join(f"sum({alias}{c}) AS {c}" for c in COUNTERS)


ROLLUP_LEVELS = ("workspace", "account", "campaign", "adset", "ad")
# Besides the hour and day rows, every rollup row is also summed into the Monday-to-Sunday week
# of its local day, granularity "wk_hour" / "wk_day" (``day`` is that Monday, ``event_at`` its
# first instant in the row's zone): a range's totals read its whole weeks from these and only
# the days at its edges from the finer rows (``week_bounds``).
BLOCK_PREFIX = "wk_"
# Hour rows are also summed per local day, granularity "dy_hour" (``event_at`` the day's first
# instant): a day, week or month question over hourly facts reads one row per entity and day,
# not 24. Ads have rollup rows too, but only these, their days and their weeks: an ad's hour
# rows would repeat its facts, which answer hour questions (``ROLLUP_LEVELS``).
DAY_BLOCK = "dy_hour"
KEY = tuple(c.name for c in inspect(MetricRollup).primary_key)  # the ON CONFLICT target

DELTA_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metricx_fact_delta (entity_id uuid, fact_level text,"
    " provider text, granularity text, event_at timestamptz, currency text, facts int, "
    + "".join(f"{c} int, " for c in COUNTERS)
    + ", ".join(f"{m.name} {'bigint' if m.whole else 'numeric'}" for m in registry.rolled())
    + ") ON COMMIT DELETE ROWS"
)

_FACT_COLUMNS = "natural_key, event_at, entity_id, level, provider, granularity, currency, " + (
    ", ".join(MEASURES)
)


def _signed(alias: str, sign: str) -> str:
    parts = [
        f"{alias}.entity_id",
        f"{alias}.level",
        f"{alias}.provider",
        f"{alias}.granularity",
        f"{alias}.event_at",
        f"{alias}.currency",
        f"{sign}1",
        *_counted(alias, sign),
    ]
    parts += [f"{sign}coalesce({alias}.{m}, 0)" for m in MEASURES]
    return ", ".join(parts)


# CTEs for the ingest merge: ``old`` reads the rows the staged chunk will touch (all CTEs
# share one snapshot, so these are the values before the merge; no FOR UPDATE, which would
# skip rows the same statement updates). Writers of one workspace are serialized by
# ``WRITER_LOCK_SQL``, so no other transaction changes those rows in between; ``merged`` must
# RETURN FACT_RETURNING and ``inserted``; ``deltas`` writes +new for every row the merge
# wrote and -old for every row it updated (an inserted row had none: it is not probed for one).
OLD_CTE = (
    # A LATERAL probe per staged row: the primary-key index of one partition, never a scan.
    # The key is (natural_key, event_at, workspace_id) and the probe leaves the workspace out
    # (the natural key already holds it): with it, right after a large first load (stale
    # statistics) the planner probes the (workspace_id, event_at) index instead and reads
    # every ad's fact of the hour for each staged row.
    f"old AS (SELECT {', '.join('o.' + c for c in _FACT_COLUMNS.split(', '))}"
    " FROM metricx_fact_stage s CROSS JOIN LATERAL ("
    f"SELECT {', '.join('f.' + c for c in _FACT_COLUMNS.split(', '))} FROM metric_facts f"
    " WHERE f.natural_key = s.natural_key AND f.event_at = s.event_at) o)"
)
FACT_RETURNING = ", ".join("f." + c for c in _FACT_COLUMNS.split(", "))
DELTA_CTE = (
    "deltas AS (INSERT INTO metricx_fact_delta"
    f" SELECT {_signed('m', '')} FROM merged m"
    f" UNION ALL SELECT {_signed('o', '-')} FROM old o JOIN merged m2"
    " ON m2.natural_key = o.natural_key AND m2.event_at = o.event_at AND NOT m2.inserted)"
)

_APPLY = """
WITH src AS MATERIALIZED (
    -- The deltas with their entity and its account's zone, read once for both uses below.
    SELECT d.*, e.level AS entity_level, e.parent_id, {zone} AS zone,
           (d.event_at AT TIME ZONE {zone})::date AS day
    FROM {source} d JOIN entities e ON e.id = d.entity_id
    {zone_join}
    WHERE true {where}
), by_parent AS (
    -- Ads of one ad set share every ancestor: sum them per parent first (5x fewer rows).
    SELECT d.parent_id,
           CASE WHEN d.entity_level = 'ad' THEN NULL ELSE d.entity_id END AS self_id,
           CASE WHEN d.entity_level = 'ad' THEN NULL ELSE d.entity_level END AS self_level,
           d.granularity, d.event_at, d.currency, d.fact_level, d.provider, d.zone,
           sum(d.facts) AS facts, {counter_sums}, {sums}
    FROM src d
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), d AS (
    SELECT x.level, x.id AS entity_id, d.granularity, d.event_at, d.currency, d.fact_level,
           d.provider, d.zone, (d.event_at AT TIME ZONE d.zone)::date AS day,
           sum(d.facts) AS facts,
           {counter_sums}, {sums}
    FROM by_parent d
    LEFT JOIN entities p1 ON p1.id = d.parent_id
    LEFT JOIN entities p2 ON p2.id = p1.parent_id
    LEFT JOIN entities p3 ON p3.id = p2.parent_id
    CROSS JOIN LATERAL (VALUES ('workspace', CAST(:ws AS uuid)), (d.self_level, d.self_id),
                               (p1.level, p1.id), (p2.level, p2.id), (p3.level, p3.id))
        AS x(level, id)
    WHERE x.id IS NOT NULL AND x.level IN ('workspace', 'account', 'campaign', 'adset')
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), dailies AS (
    -- Day rows: every level's hour rows summed per local day, the other levels' day rows as
    -- they are, and each ad's days (its hours per day and its daily facts; an ad has no hour
    -- rows: they would repeat its facts).
    SELECT level, entity_id, '{day_block}' AS granularity, day::timestamp AT TIME ZONE zone
           AS event_at, currency, fact_level, provider, zone, day, sum(facts) AS facts,
           {block_counter_sums}, {sums}
    FROM d WHERE granularity = 'hour'
    GROUP BY level, entity_id, day, currency, fact_level, provider, zone
    UNION ALL
    SELECT level, entity_id, granularity, event_at, currency, fact_level, provider, zone, day,
           facts, {counters}, {measures} FROM d WHERE granularity = 'day'
    UNION ALL
    SELECT 'ad', d.entity_id, CASE WHEN d.granularity = 'hour' THEN '{day_block}' ELSE 'day' END,
           CASE WHEN d.granularity = 'hour' THEN d.day::timestamp AT TIME ZONE d.zone
                ELSE d.event_at END,
           d.currency, d.fact_level, d.provider, d.zone, d.day, sum(d.facts) AS facts,
           {counter_sums}, {sums}
    FROM src d WHERE d.entity_level = 'ad'
    GROUP BY 2, 3, 4, 5, 6, 7, 8, 9
), blocks AS (
    -- The day rows summed per local week: long ranges read whole weeks from these.
    SELECT level, entity_id,
           '{block}' || CASE granularity WHEN '{day_block}' THEN 'hour' ELSE 'day' END
           AS granularity, {week_day} AS day, currency, fact_level, provider, zone,
           sum(facts) AS facts, {block_counter_sums}, {sums}
    FROM dailies d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), rows AS (
    SELECT level, entity_id, granularity, event_at, currency, fact_level, provider, zone, day,
           facts, {counters}, {measures} FROM d WHERE granularity = 'hour'
    UNION ALL
    SELECT level, entity_id, granularity, event_at, currency, fact_level, provider, zone, day,
           facts, {counters}, {measures} FROM dailies
    UNION ALL
    SELECT level, entity_id, granularity, day::timestamp AT TIME ZONE zone, currency,
           fact_level, provider, zone, day, facts, {counters}, {measures} FROM blocks
)
INSERT INTO metric_rollups AS r (workspace_id, level, entity_id, granularity, event_at,
    currency, fact_level, provider, zone, day, facts, {counters}, {measures})
SELECT CAST(:ws AS uuid), level, entity_id, granularity, event_at, currency, fact_level,
       provider, zone, day, facts, {counters}, {measures}
FROM rows ORDER BY granularity, level, event_at, entity_id, currency, fact_level, provider, zone
ON CONFLICT ({key}) DO UPDATE SET facts = r.facts + EXCLUDED.facts,
    {counter_adds}, {adds}
"""


# The zone of a fact's account: its connection's, else the workspace's (facts pushed without
# a connection were placed on the workspace's calendar). ``e`` is the fact's entity.
ZONE_JOIN = (
    "LEFT JOIN connections zc ON zc.id = e.connection_id"
    " CROSS JOIN (SELECT timezone FROM workspaces WHERE id = CAST(:ws AS uuid)) zw"
)
ZONE_SQL = "coalesce(zc.timezone, zw.timezone)"


def week_sql(column: str) -> str:
    """The Monday of the week holding the date ``column``."""
    return f"(date_trunc('week', {column})::date)"


def week_bounds(start: date, end: date) -> tuple[date, date] | None:
    """The whole Monday-to-Sunday weeks inside the days [start, end], as [first Monday,
    Monday after the last), or None."""
    lo = start + timedelta(days=(7 - start.weekday()) % 7)
    after = end + timedelta(days=1)
    hi = after - timedelta(days=after.weekday())
    return (lo, hi) if lo < hi else None


def rebuild_blocks(session: Session, granularity: str, start: datetime, end: datetime) -> None:
    """Recompute the week rows of ``granularity`` for the weeks touching [start, end) from the
    finer rows, every workspace (after retention deleted a month of finer rows). Hour weeks
    are summed from the day rows of hours (ads have no hour rows)."""
    # Rows of the UTC range have local days from the day before its first to the day after
    # its last (zones are at most 14 hours from UTC): the weeks (by Monday, in (lo, hi)) that
    # hold any of those days are summed again from all their finer rows.
    lo = start.astimezone(UTC).date() - timedelta(days=8)
    hi = end.astimezone(UTC).date() + timedelta(days=2)
    params = {
        "g": DAY_BLOCK if granularity == "hour" else granularity,
        "wg": BLOCK_PREFIX + granularity,
        "lo": lo,
        "hi": hi,
        "after": hi + timedelta(days=7),
    }
    session.execute(
        text("DELETE FROM metric_rollups WHERE granularity = :wg AND day > :lo AND day < :hi"),
        params,
    )
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    week = week_sql("day")
    session.execute(
        text(
            f"""
            INSERT INTO metric_rollups (workspace_id, level, entity_id, granularity, event_at,
                currency, fact_level, provider, zone, day, facts, {", ".join(COUNTERS)},
                {", ".join(MEASURES)})
            SELECT workspace_id, level, entity_id, :wg, {week}::timestamp AT TIME ZONE zone,
                   currency, fact_level, provider, zone, {week}, sum(facts),
                   {", ".join(f"sum({c})" for c in COUNTERS)}, {sums}
            FROM metric_rollups
            WHERE granularity = :g AND day > :lo AND day < :after
              AND {week} > :lo AND {week} < :hi
            GROUP BY workspace_id, level, entity_id, {week}, currency, fact_level, provider,
                     zone
            """
        ),
        params,
    )


def _apply_sql(source: str, where: str = "") -> str:
    return _APPLY.format(
        sums=", ".join(f"sum(d.{m}) AS {m}" for m in MEASURES),
        week_day=week_sql("day"),
        day_block=DAY_BLOCK,
        zone=ZONE_SQL,
        zone_join=ZONE_JOIN,
        block=BLOCK_PREFIX,
        measures=", ".join(MEASURES),
        counters=", ".join(COUNTERS),
        counter_sums=_counter_sums("d."),
        block_counter_sums=_counter_sums(""),
        counter_adds=", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in COUNTERS),
        key=", ".join(KEY),
        adds=", ".join(f"{m} = r.{m} + EXCLUDED.{m}" for m in MEASURES),
        source=source,
        where=where,
    )


APPLY_DELTAS_SQL = _apply_sql("metricx_fact_delta", "AND d.granularity IN ('hour', 'day')")
# The same roll-up straight from facts, for rebuilds: facts carry the columns the delta
# table has under the same names once aliased.
_FROM_FACTS = (
    "(SELECT entity_id, level AS fact_level, provider, granularity, event_at, currency,"
    " 1 AS facts, "
    + "".join(f"{v} AS {c}, " for v, c in zip(_counted(""), COUNTERS, strict=True))
    + ", ".join(f"coalesce({m}, 0) AS {m}" for m in MEASURES)
    + " FROM metric_facts WHERE workspace_id = :ws AND granularity IN ('hour', 'day'))"
)
REBUILD_SQL = _apply_sql(_FROM_FACTS)


def _subtree_facts(sign: str) -> str:
    """The facts of the ``:moved`` entities and everything under them, signed."""
    return (
        "(SELECT f.entity_id, f.level AS fact_level, f.provider, f.granularity, f.event_at,"
        f" f.currency, {sign}1 AS facts, "
        + "".join(f"{v} AS {c}, " for v, c in zip(_counted("f", sign), COUNTERS, strict=True))
        + ", ".join(f"{sign}coalesce(f.{m}, 0) AS {m}" for m in MEASURES)
        + " FROM metric_facts f WHERE f.workspace_id = :ws AND f.granularity IN ('hour', 'day')"
        " AND f.entity_id IN (WITH RECURSIVE t(id) AS (SELECT unnest(CAST(:moved AS uuid[]))"
        " UNION SELECT e.id FROM entities e JOIN t ON e.parent_id = t.id) SELECT id FROM t))"
    )


_UNROLL_SQL = _apply_sql(_subtree_facts("-"))
_REROLL_SQL = _apply_sql(_subtree_facts(""))


# Taken by the ingest merge before writing a workspace's facts (held to the transaction's
# end): deltas are exact only if no two transactions write one fact at once.
_WRITER_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('metricx-facts:' || {ws}, 0))"
WRITER_LOCK_SQL = _WRITER_LOCK.format(ws="%(ws)s")  # psycopg cursors (the ingest merge)
WRITER_LOCK = text(_WRITER_LOCK.format(ws="CAST(:ws AS text)"))  # sessions


def apply_deltas(cursor: Any, workspace_id: uuid.UUID) -> None:
    """Add the session's pending fact deltas to the rollups and clear them (psycopg cursor)."""
    cursor.execute(
        APPLY_DELTAS_SQL.replace(":ws", "%(ws)s").replace("CAST(%(ws)s AS uuid)", "%(ws)s::uuid"),
        {"ws": workspace_id},
    )
    cursor.execute("TRUNCATE metricx_fact_delta")


def moving(session: Session, workspace_id: uuid.UUID, moved: list[uuid.UUID]) -> Callable[[], None]:
    """Before entities get new parents: take their subtrees' facts out of the old ancestors'
    rollups. Returns the step to run after the move, which adds them to the new ancestors.
    Only the moved subtrees' facts are read; the rest of the rollups stays as it is."""
    params = {"ws": workspace_id, "moved": moved}
    session.execute(WRITER_LOCK, params)
    session.execute(text(_UNROLL_SQL), params)

    def moved_in() -> None:
        session.execute(text(_REROLL_SQL), params)

    return moved_in


def rebuild(session: Session, workspace_id: uuid.UUID) -> None:
    """Recompute a workspace's rollups from its facts."""
    session.execute(WRITER_LOCK, {"ws": workspace_id})
    session.execute(
        text("DELETE FROM metric_rollups WHERE workspace_id = :ws"), {"ws": workspace_id}
    )
    session.execute(text(REBUILD_SQL), {"ws": workspace_id})
