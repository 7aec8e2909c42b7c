"""All SQL of the query layer. Every query is scoped to one workspace by ``_facts_in``."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from metricx.db import sql_text
from metricx.facts import measures as registry
from metricx.facts import rollups
from metricx.facts.rollups import BLOCK_PREFIX, DAY_BLOCK, week_bounds
from metricx.metrics.calendar import DayWindow, instants, week_start_sql
from metricx.metrics.schemas import DERIVED_METRICS, Bucket, GroupBy, GroupLevel
from metricx.models import Provider, Workspace

# The additive registry measures (summed here), and the reporting group among them.
MEASURES = rollups.MEASURES
ACTIONS = rollups.ACTION_MEASURES
_WHOLE = frozenset(m.name for m in registry.rolled() if m.whole)

LEVEL_DEPTH = {"account": 0, "campaign": 1, "adset": 2, "ad": 3}
# Fact granularities, and the rollups' week rows of them.
GRAINS = frozenset(
    ("minute", "hour", "day", DAY_BLOCK, BLOCK_PREFIX + "hour", BLOCK_PREFIX + "day")
)


def _reported(m: str) -> str:
    group = registry.by_name()[m].group
    return f"count(*) FILTER (WHERE {rollups.reported_sql('f', group)}) > 0"


# Reported measures are null only where no fact reported any of their group (Meta's hourly
# rows); otherwise a missing one counts as zero, exactly as the rollups keep them.
SUMS = ", ".join(
    f"CASE WHEN {_reported(m)} THEN coalesce(sum(f.{m}), 0) END AS {m}"
    if m in ACTIONS
    else f"sum(f.{m}) AS {m}"
    for m in MEASURES
)


def _money_sql(x: str) -> str:
    """Money as the API shows it: to the cent when it has no finer part, else in full."""
    return f"CASE WHEN {x} = round({x}, 2) THEN round({x}, 2)::text ELSE trim_scale({x})::text END"


# A series point as the API shows it: the measures and the ratios derived from the summed
# bases, computed where the rows are (a dashboard series is thousands of points). The same
# rules as ``rows.metric_row``: costs per unit rounded half up to 4 places, shares as a
# float quotient of the bases as floats, null where the denominator is zero or null.
FORMATTED = ("currency", *MEASURES, *DERIVED_METRICS, "result_type", "reach", "frequency")


def _measure_sql(m: str) -> str:
    return f"t.{m}::bigint AS {m}" if m in _WHOLE else f"{_money_sql('t.' + m)} AS {m}"


def _ratio(name: str, part: str, whole: str) -> tuple[str, str, tuple[str, ...]]:
    return name, f"t.{part}::float8 / nullif(t.{whole}, 0)::float8 AS {name}", (part, whole)


def _price(name: str) -> tuple[str, str, tuple[str, ...]]:
    return name, f"{_money_sql('p.' + name)} AS {name}", (_PRICES[name],)


# Each price: spend per unit of this base (per thousand for cpm).
_PRICES = {
    "cpc": "clicks",
    "cpm": "impressions",
    "cpa": "conversions",
    "cost_per_lead": "leads",
    "cpc_link": "link_clicks",
    "cost_per_thruplay": "thruplays",
    "cost_per_result": "results",
}
# (column, its SQL, the measures it is computed from), in ``FORMATTED``'s order.
_FORMATTED_COLUMNS: list[tuple[str, str, tuple[str, ...]]] = [
    ("currency", "t.currency", ()),
    *((m, _measure_sql(m), (m,)) for m in MEASURES),
    _ratio("ctr", "clicks", "impressions"),
    *(_price(m) for m in ("cpc", "cpm", "cpa")),
    _ratio("roas", "purchase_value", "spend"),
    _ratio("conversion_rate", "conversions", "clicks"),
    _price("cost_per_lead"),
    _ratio("ctr_link", "link_clicks", "impressions"),
    *(_price(m) for m in ("cpc_link", "cost_per_thruplay")),
    _ratio("avg_play_time", "video_watch_seconds", "video_plays"),
    _price("cost_per_result"),
    ("result_type", "NULL::text AS result_type", ()),  # set per group by the service
    ("reach", "NULL::bigint AS reach", ()),  # reach is never summed: see daily_reach
    ("frequency", "NULL::float8 AS frequency", ()),
]
assert [c for c, _, _ in _FORMATTED_COLUMNS] == list(FORMATTED)


@functools.cache
def _formatted_sql(absent: frozenset[str]) -> tuple[str, str]:
    """The formatted columns and the prices they read; a column computed from a measure in
    ``absent`` (one the rows never have, such as video with a breakdown) is a plain null:
    800 breakdown rows formatted every measure in 7.5 ms."""
    columns = ", ".join(
        f"NULL AS {name}" if absent.intersection(bases) else sql
        for name, sql, bases in _FORMATTED_COLUMNS
    )
    prices = ", ".join(
        f"round(t.spend{' * 1000' if name == 'cpm' else ''} / nullif(t.{base}, 0), 4) AS {name}"
        for name, base in _PRICES.items()
        if base not in absent
    )
    return columns, prices


def formatted(sums_sql: str) -> str:
    """Series rows (bucket, grp and the sums) as API rows keyed as the API's series points
    (``group``, not ``grp``), ordered by bucket and group."""
    return formatted_rows(sums_sql, 't.bucket, t.grp AS "group"', "1, 2, 3")


def formatted_rows(
    sums_sql: str, keep: str, order: str, absent: frozenset[str] = frozenset()
) -> str:
    """The rows of ``sums_sql`` (every measure of ``MEASURES`` summed, and ``currency``) as
    API rows (``FORMATTED``), after the columns ``keep`` names (of ``t``), in ``order``; the
    measures ``absent`` (and what is computed from them) null without reading them."""
    columns, prices = _formatted_sql(absent)
    return f"""
        SELECT {keep}, {columns}
        FROM ({sums_sql}) t CROSS JOIN LATERAL (SELECT {prices}) p
        ORDER BY {order}
    """


def fetch_rows(session: Session, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows as dicts, fetched in one go (iterating fetches row by row: 5 µs each) from the
    driver's cursor: a text statement's columns have no result processing, and SQLAlchemy's
    rows cost 800 rows of 40 columns 2.5 ms more than the driver's tuples."""
    result = session.execute(sql_text(sql), params)
    keys = tuple(result.keys())
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []  # type: ignore[attr-defined]
    finally:
        result.close()
    return [dict(zip(keys, row, strict=False)) for row in rows]


@dataclass
class FactScope:
    """Which facts answer a question: one workspace, its accounts' days (``windows``: each
    account's facts are kept by its own local dates) within the UTC instants that hold them
    (what the indexes read), and the filters. No windows: the instants alone."""

    workspace_id: uuid.UUID
    start_utc: datetime
    end_utc: datetime
    timezone: str  # the view's: hour and minute buckets
    windows: list[DayWindow] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)  # the accounts' zones in view
    workspace_zone: str = "UTC"  # the zone of facts pushed without a connection
    week_start: int = 1  # ISO weekday
    connection_ids: list[uuid.UUID] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    entity_ids: list[uuid.UUID] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        return {
            "ws": self.workspace_id,
            "start": self.start_utc,
            "end": self.end_utc,
            "tz": self.timezone,
            "wstz": self.workspace_zone,
            "connections": self.connection_ids,
            "providers": self.providers,
            "entities": self.entity_ids,
            "statuses": self.statuses,
            **window_params(self.windows, "w"),
        }

    def days_sql(self, day: str, zone: str) -> str:
        return days_sql(self.windows, day, zone, "w")


def window_params(windows: list[DayWindow], tag: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, w in enumerate(windows):
        params[f"{tag}{i}_start"], params[f"{tag}{i}_end"] = w.start, w.end
        if w.zones is not None:
            params[f"{tag}{i}_zones"] = list(w.zones)
    return params


def days_sql(windows: list[DayWindow], day: str, zone: str, tag: str) -> str:
    """The condition that keeps rows whose local ``day`` is in the window of their account's
    ``zone`` (parameters from ``window_params`` with the same tag)."""
    if not windows:
        return "true"
    parts = []
    for i, w in enumerate(windows):
        cond = f"{day} BETWEEN :{tag}{i}_start AND :{tag}{i}_end"
        if w.zones is not None:
            cond = f"({zone} = ANY(CAST(:{tag}{i}_zones AS text[])) AND {cond})"
        parts.append(cond)
    return "(" + " OR ".join(parts) + ")"


# The zone of a fact's account (its connection's, else the workspace's) and its local date
# there, for the facts path: ``zc`` is the fact's connection, joined by ``_facts_in``.
FACT_ZONE = "coalesce(zc.timezone, :wstz)"
FACT_DAY = f"(f.event_at AT TIME ZONE {FACT_ZONE})::date"


def pick_sources(rows: list[tuple[str, str, str]], granularities: list[str]) -> dict[str, str]:
    """Per provider, the facts that answer: the deepest level present (so no level is ever
    counted twice) at the first granularity of ``granularities`` that has any. Encoded
    ``level:granularity``."""
    best: dict[str, tuple[int, int]] = {}
    for provider, level, grain in rows:
        rank = (LEVEL_DEPTH[level], -granularities.index(grain))
        if provider not in best or rank > best[provider]:
            best[provider] = rank
    out = {}
    for provider, (depth, grain_rank) in best.items():
        level = next(k for k, v in LEVEL_DEPTH.items() if v == depth)
        out[provider] = f"{level}:{granularities[-grain_rank]}"
    return out


def sources_at(source: dict[str, str], level: GroupLevel) -> dict[str, str]:
    """Those of the sources whose facts are at ``level`` or below it (the others have no row
    at that level)."""
    depth = LEVEL_DEPTH[level.value]
    return {p: spec for p, spec in source.items() if LEVEL_DEPTH[spec.split(":")[0]] >= depth}


def fact_levels(session: Session, scope: FactScope, granularities: list[str]) -> dict[str, str]:
    rows = session.execute(
        sql_text(
            "SELECT DISTINCT provider, level, granularity FROM metric_facts f"
            " WHERE f.workspace_id = :ws AND f.event_at >= :start AND f.event_at < :end"
            " AND f.granularity = ANY(:grans)"
        ),
        {**scope.params(), "grans": granularities},
    ).all()
    return pick_sources([tuple(r) for r in rows], granularities)


def _source_sql(alias: str, level_col: str, source: dict[str, str]) -> str:
    """The facts (or rollup rows) of the chosen sources. The granularities also stand alone
    as an ``= ANY`` condition so the index's granularity column can be used."""
    known = {p.value for p in Provider}
    grains = sorted({spec.split(":")[1] for spec in source.values()} & GRAINS)
    clauses = []
    for provider, spec in sorted(source.items()):
        level, grain = spec.split(":")
        # Values from the enums' closed alphabets, never from the request.
        if provider in known and level in LEVEL_DEPTH and grain in GRAINS:
            clauses.append(
                f"({alias}.provider = '{provider}' AND {alias}.{level_col} = '{level}'"
                f" AND {alias}.granularity = '{grain}')"
            )
    if not clauses:
        return "false"
    in_grains = ", ".join(f"'{g}'" for g in grains)
    return f"{alias}.granularity IN ({in_grains}) AND (" + " OR ".join(clauses) + ")"


def _bucket_sql(bucket: Bucket, instant: str, day: str, week_start: int) -> str:
    """Hour and minute buckets are instants in the view's zone (``:tz``); day, week and month
    buckets are the account's local dates (``day``)."""
    if bucket is Bucket.MINUTE:
        return f"date_trunc('minute', {instant})"
    if bucket is Bucket.HOUR:
        # Truncate in local time by the offset in force at that instant, then back: the
        # repeated hour of a DST change stays two buckets, and +05:30 hours start at :30 UTC.
        off = f"(({instant} AT TIME ZONE :tz) - ({instant} AT TIME ZONE 'UTC'))"
        return f"(date_trunc('hour', {instant} + {off}) - {off})"
    if bucket is Bucket.WEEK:
        return week_start_sql(day, week_start)
    if bucket is Bucket.MONTH:
        return f"(date_trunc('month', {day})::date)"
    return day


def _group_sql(group_by: GroupBy, level: GroupLevel) -> str:
    if group_by is GroupBy.PROVIDER:
        return "f.provider::text"
    if group_by is GroupBy.CONNECTION:
        return "coalesce(e.connection_id::text, 'none')"
    if group_by is GroupBy.ENTITY and level is not GroupLevel.WORKSPACE:
        return "g.id::text"
    return "NULL::text"


# The entity a fact rolls up to at the requested level: itself or one of its ancestors.
GROUP_ENTITY = """
    LEFT JOIN entities p1 ON p1.id = e.parent_id
    LEFT JOIN entities p2 ON p2.id = p1.parent_id
    LEFT JOIN entities p3 ON p3.id = p2.parent_id
    LEFT JOIN entities g ON g.id = CASE
        WHEN e.level = :level THEN e.id WHEN p1.level = :level THEN p1.id
        WHEN p2.level = :level THEN p2.id WHEN p3.level = :level THEN p3.id END
"""


# The entities filtered (``:entities``) and those under them, three levels down (campaign, ad
# set, ad), each level found by the parent index. A filter on the rows' ancestors instead
# (``e.id``, ``p1.id``... ``= ANY(:entities)``) made the planner join the whole entities table
# four times over to test every entity, however few are under the filter (one ad set's ads:
# 3 ms of 3.2, and a breakdown's 4 ms of 9).
ENTITIES_UNDER = (
    "SELECT d.id FROM entities d WHERE d.id = ANY(:entities)"
    " UNION ALL SELECT d.id FROM entities d WHERE d.parent_id = ANY(:entities)"
    " UNION ALL SELECT d2.id FROM entities d1 JOIN entities d2 ON d2.parent_id = d1.id"
    " WHERE d1.parent_id = ANY(:entities)"
    " UNION ALL SELECT d3.id FROM entities d1 JOIN entities d2 ON d2.parent_id = d1.id"
    " JOIN entities d3 ON d3.parent_id = d2.id WHERE d1.parent_id = ANY(:entities)"
)


def under_filter(scope: FactScope) -> str:
    """The scope's entity filter on a row's entity ``e`` (an ``AND`` clause, or nothing). A
    condition of its own, not ORed with "nothing filtered": PostgreSQL turns only a plain
    ``IN`` into a join that starts from the few entities (ORed, it tested every fact)."""
    return f"AND e.id IN ({ENTITIES_UNDER})" if scope.entity_ids else ""


def _facts_in(source: dict[str, str], scope: FactScope) -> str:
    """The FROM/WHERE that scopes facts to the workspace, days, filters and sources."""
    return f"""
    FROM metric_facts f
    JOIN entities e ON e.id = f.entity_id
    LEFT JOIN connections zc ON zc.id = e.connection_id
    {GROUP_ENTITY}
    WHERE f.workspace_id = :ws AND f.event_at >= :start AND f.event_at < :end
      AND {scope.days_sql(FACT_DAY, FACT_ZONE)}
      AND {_source_sql("f", "level", source)}
      AND (cardinality(CAST(:connections AS uuid[])) = 0 OR e.connection_id = ANY(:connections))
      AND (cardinality(CAST(:providers AS text[])) = 0 OR f.provider = ANY(:providers))
      {under_filter(scope)}
      AND (cardinality(CAST(:statuses AS text[])) = 0
           OR g.effective_status = ANY(:statuses))
      AND (:by_entity = false OR g.id IS NOT NULL)
    """


# Memory for the sorts and hashes of one question that reads facts (PostgreSQL's default is
# 4 MB): a 30-day question by ad sorts ~140k fact rows per worker and spilled them to disk.
FACTS_WORK_MEM = "32MB"


def serial_reads(session: Session) -> None:
    """No parallel workers for this transaction's reads (``SET LOCAL``): a rollup question
    reads a few thousand rows through an index, and starting workers (tens of ms here, more
    on a busy server) cost more than they save; the facts path keeps them. Sent once per
    transaction: a question with a line over its rows reads twice."""
    _set_once(session, "max_parallel_workers_per_gather", "0")


def allow_fact_sorts(session: Session) -> None:
    """Lets this transaction's fact reads sort in memory (``SET LOCAL``: until it ends)."""
    _set_once(session, "work_mem", FACTS_WORK_MEM)


def _set_once(session: Session, name: str, value: str) -> None:
    """``SET LOCAL name = value``, unless this transaction has it already (a breakdown's
    answer and the unbroken question it reconciles with would send it twice)."""
    transaction = session.get_transaction()
    done: dict[str, Any] = session.info.setdefault(_SET_IN, {})
    if transaction is not None and done.get(name) is transaction:
        return
    session.execute(sql_text(f"SET LOCAL {name} = '{value}'"))
    done[name] = session.get_transaction()


_SET_IN = "metricx_set_local_in"  # in a session's info: setting -> the transaction it was set in


def series(
    session: Session,
    scope: FactScope,
    *,
    bucket: Bucket,
    level: GroupLevel,
    group_by: GroupBy,
    source: dict[str, str],
    grain: str,
    groups: list[str] | None = None,
    within_level: bool = False,
) -> list[dict[str, Any]]:
    """Summed measures per (bucket, group, currency); ``within_level``: only facts under an
    entity of ``level`` (as a grouped answer's rows), however they are grouped."""
    only = "AND " + _group_sql(group_by, level) + " = ANY(:groups)" if groups is not None else ""
    sql = f"""
        SELECT {_bucket_sql(bucket, "f.event_at", FACT_DAY, scope.week_start)} AS bucket,
               {_group_sql(group_by, level)} AS grp, f.currency, {SUMS}
        {_facts_in(source, scope)} {only}
        GROUP BY 1, 2, 3
    """
    params = {
        **scope.params(),
        "level": level.value,
        "groups": groups or [],
        "by_entity": group_by is GroupBy.ENTITY or within_level,
    }
    return fetch_rows(session, formatted(sql), params)


def group_totals(
    session: Session,
    scope: FactScope,
    *,
    level: GroupLevel,
    group_by: GroupBy,
    source: dict[str, str],
    grain: str,
) -> list[dict[str, Any]]:
    """Summed measures per (group, currency) over the whole range, with the group's name."""
    name = "max(g.name)" if group_by is GroupBy.ENTITY else "NULL"
    sql = f"""
        SELECT {_group_sql(group_by, level)} AS grp, {name} AS name, f.currency, {SUMS}
        {_facts_in(source, scope)}
        GROUP BY 1, 3
    """
    params = {**scope.params(), "level": level.value, "by_entity": group_by is GroupBy.ENTITY}
    return [dict(r._mapping) for r in session.execute(sql_text(sql), params)]


def totals_of_series(
    session: Session, points: list[dict[str, Any]], *, by_entity: bool
) -> list[dict[str, Any]]:
    """``group_totals``'s rows computed from a whole series (``series`` without ``groups``):
    a group's sums are its points' sums, which the series gives exactly (whole counts, and
    amounts as the text of their exact value). Saves the facts path a second read of the
    range's facts (0.3-0.8 s at 140k facts). A reporting-group measure stays null only where
    every point is null, as ``SUMS`` gives it."""
    totals: dict[tuple[Any, str], dict[str, Any]] = {}
    for p in points:
        key = (p["group"], p["currency"])
        acc = totals.get(key)
        if acc is None:
            acc = totals[key] = {"grp": p["group"], "name": None, "currency": p["currency"]}
            for m in MEASURES:
                acc[m] = None
        for m in MEASURES:
            v = p[m]
            if v is None:
                continue
            v = int(v) if m in _WHOLE else Decimal(v)
            acc[m] = v if acc[m] is None else acc[m] + v
    if by_entity and totals:
        ids = sorted({str(k[0]) for k in totals if k[0] is not None})
        names: dict[str, str | None] = dict(
            session.execute(
                sql_text(
                    "SELECT id::text, name FROM entities WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            ).all()
        )
        for row in totals.values():
            row["name"] = names.get(row["grp"])
    return list(totals.values())


def daily_reach(
    session: Session, scope: FactScope, level: GroupLevel, entity_ids: list[str]
) -> dict[tuple[str, str], int]:
    """(local day, entity id) -> the reach Meta reported for that entity and day, from the
    daily facts at the entity's own level (one fact per entity and day; never a sum)."""
    # Each entity's daily facts with reach, probed by entity (the partial index): as a filter
    # on the range's facts, a partition not yet analyzed (a new month's, under a steady
    # ingest) had the planner walk every hourly fact of the range (39 ms -> 4).
    rows = session.execute(
        sql_text(
            f"SELECT {FACT_DAY} AS day, f.entity_id::text AS grp, min(f.reach) AS reach,"
            " count(*) AS n"
            " FROM (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS id) x"
            " JOIN entities e ON e.id = x.id"
            " LEFT JOIN connections zc ON zc.id = e.connection_id"
            " CROSS JOIN LATERAL (SELECT f.event_at, f.entity_id, f.reach FROM metric_facts f"
            "  WHERE f.entity_id = x.id AND f.granularity = 'day' AND f.reach IS NOT NULL"
            "  AND f.event_at >= :start AND f.event_at < :end"
            "  AND f.workspace_id = :ws AND f.level = :level OFFSET 0) f"
            f" WHERE {scope.days_sql(FACT_DAY, FACT_ZONE)}"
            " GROUP BY 1, 2"
        ),
        {**scope.params(), "level": level.value, "ids": entity_ids},
    )
    return {(r.day.isoformat(), r.grp): r.reach for r in rows if r.n == 1}


def account_zones(
    session: Session, workspace: Workspace, connection_ids: list[uuid.UUID]
) -> list[str]:
    """The time zones of the ad accounts in view (the chosen connections, else all), and the
    workspace's own when facts pushed without a connection are in view too."""
    rows = session.execute(
        sql_text(
            "SELECT DISTINCT timezone FROM connections WHERE workspace_id = :ws"
            " AND (cardinality(CAST(:connections AS uuid[])) = 0 OR id = ANY(:connections))"
            " UNION SELECT CAST(:wstz AS text) WHERE cardinality(CAST(:connections AS uuid[])) = 0"
            " AND EXISTS (SELECT 1 FROM entities WHERE workspace_id = :ws"
            " AND connection_id IS NULL)"
        ),
        {"ws": workspace.id, "wstz": workspace.timezone, "connections": connection_ids},
    )
    return sorted(r[0] for r in rows)


def newest_fact_at(session: Session, workspace_id: uuid.UUID) -> datetime | None:
    value: datetime | None = session.execute(
        sql_text(
            "SELECT max(event_at) FROM metric_rollups WHERE workspace_id = :ws"
            " AND granularity = 'hour' AND level = 'workspace' AND facts <> 0"
        ),
        {"ws": workspace_id},
    ).scalar()
    return value


# --- The rollup path: the same answers from metric_rollups when the question allows. ---


def rollup_fact_levels(
    session: Session, scope: FactScope, granularities: list[str]
) -> tuple[dict[str, str], set[str]]:
    """The sources (as ``pick_sources``) and the account zones their workspace rows in range
    have. Rollup rows are one per entity, local day, zone and source: with one zone, daily
    rows are already a day series' points (``rollup_series(exact=True)``)."""
    rows = session.execute(
        sql_text(
            "SELECT provider, fact_level, granularity, array_agg(DISTINCT r.zone)"
            " FROM metric_rollups r"
            " WHERE r.workspace_id = :ws AND r.level = 'workspace' AND r.facts <> 0"
            " AND r.granularity = ANY(:grans) AND r.event_at >= :start AND r.event_at < :end"
            f" AND {scope.days_sql('r.day', 'r.zone')}"
            " GROUP BY 1, 2, 3"
        ),
        {**scope.params(), "grans": granularities},
    ).all()
    source = pick_sources([(r[0], r[1], r[2]) for r in rows], granularities)
    zones = {z for r in rows if (r[0], f"{r[1]}:{r[2]}") in source.items() for z in r[3]}
    return source, zones


def _rollups_in(
    source: dict[str, str],
    level: GroupLevel,
    scope: FactScope,
    days: str,
    start: str = ":start",
    end: str = ":end",
) -> str:
    """The FROM/WHERE of rollup rows. Entities are joined only when a filter reads them (a
    join per rollup row costs more than the sums); names are joined to the grouped rows."""
    joined = bool(scope.connection_ids or scope.statuses)
    filters = ""
    if joined:
        filters = """
      AND (cardinality(CAST(:connections AS uuid[])) = 0 OR g.connection_id = ANY(:connections))
      AND (cardinality(CAST(:statuses AS text[])) = 0 OR g.effective_status = ANY(:statuses))"""
    return f"""
    FROM metric_rollups r
    {"LEFT JOIN entities g ON g.id = r.entity_id AND r.level <> 'workspace'" if joined else ""}
    WHERE r.workspace_id = :ws AND r.level = '{level.value}' AND r.facts <> 0
      AND r.event_at >= {start} AND r.event_at < {end} AND {days}
      AND {_source_sql("r", "fact_level", source)}
      AND (cardinality(CAST(:providers AS text[])) = 0 OR r.provider = ANY(:providers))
      AND (cardinality(CAST(:entities AS uuid[])) = 0 OR r.entity_id = ANY(:entities)){filters}
    """


ROLLUP_SUMS = ", ".join(
    f"CASE WHEN sum(r.{rollups.COUNTER_OF[m]}) > 0 THEN sum(r.{m}) END AS {m}"
    if m in ACTIONS
    else f"sum(r.{m}) AS {m}"
    for m in MEASURES
)
# ROLLUP_SUMS of a single row.
ROLLUP_VALUES = ", ".join(
    f"CASE WHEN r.{rollups.COUNTER_OF[m]} > 0 THEN r.{m} END AS {m}" if m in ACTIONS else f"r.{m}"
    for m in MEASURES
)


def _rollup_group_sql(group_by: GroupBy) -> tuple[str, str]:
    """The group key (grouped as is: a uuid hashes cheaper than its text) and the condition
    that keeps chosen groups (on the index's entity_id column: no heap fetch for the rest)."""
    if group_by is GroupBy.ENTITY:
        return "r.entity_id", "r.entity_id = ANY(CAST(:groups AS uuid[]))"
    if group_by is GroupBy.PROVIDER:
        return "r.provider", "r.provider = ANY(:groups)"
    return "NULL::text", "true"


def by_days(source: dict[str, str], grain: str) -> dict[str, str]:
    """The rollup rows that answer a question of ``grain``: for days (and weeks and months),
    the day rows of hourly sources (``DAY_BLOCK``), one per entity and day instead of 24."""
    if grain != "day":
        return source
    return {p: spec.replace(":hour", ":" + DAY_BLOCK) for p, spec in source.items()}


def rollup_series(
    session: Session,
    scope: FactScope,
    *,
    bucket: Bucket,
    level: GroupLevel,
    group_by: GroupBy,
    source: dict[str, str],
    grain: str,
    groups: list[str] | None = None,
    exact: bool = False,
) -> list[dict[str, Any]]:
    """Series rows from rollups; ``exact`` when each rollup row is one point already (a
    day series over aligned daily rows, one row per bucket and group): no sums then."""
    grp, chosen = _rollup_group_sql(group_by)
    only = f"AND {chosen}" if groups is not None else ""
    values, grouping = (ROLLUP_VALUES, "") if exact else (ROLLUP_SUMS, f"GROUP BY 1, {grp}, 3")
    bucket_sql = _bucket_sql(bucket, "r.event_at", "r.day", scope.week_start)
    rows = _rollups_in(by_days(source, grain), level, scope, scope.days_sql("r.day", "r.zone"))
    sql = f"""
        SELECT {bucket_sql} AS bucket, {grp}::text AS grp, r.currency, {values}
        {rows} {only}
        {grouping}
    """
    params = {**scope.params(), "grain": grain, "groups": groups or []}
    return fetch_rows(session, formatted(sql), params)


def _spans(windows: list[DayWindow]) -> list[tuple[DayWindow, bool]]:
    """The windows cut into spans read from the finer rows and spans of whole Monday weeks
    read from the week rows (``True``): a long range reads its weeks, not its days."""
    out = []
    for w in windows:
        weeks = week_bounds(w.start, w.end)
        if weeks is None:
            out.append((w, False))
            continue
        first, after = weeks
        day = timedelta(days=1)
        if w.start < first:
            out.append((DayWindow(w.start, first - day, w.zones), False))
        out.append((DayWindow(first, after - day, w.zones), True))
        if after <= w.end:
            out.append((DayWindow(after, w.end, w.zones), False))
    return out


def _rollup_groups_sql(
    scope: FactScope, *, level: GroupLevel, group_by: GroupBy, source: dict[str, str], grain: str
) -> tuple[str, dict[str, Any]]:
    """The rollup rows (``grp``, currency, counters, measures) of a question's days: whole
    Monday weeks from the week rows, the rest from the day (or finer) rows."""
    grp, _ = _rollup_group_sql(group_by)
    params: dict[str, Any] = {**scope.params(), "grain": grain}
    blocks = {p: spec.replace(":", ":" + BLOCK_PREFIX) for p, spec in source.items()}
    # Totals over whole local days, whatever the series' grain: the day rows (an hour
    # question's too: a twenty-fourth of the rows, and ads have no hour rows at all).
    finer = by_days(source, "day" if scope.windows else grain)
    spans = []
    for i, (span, from_blocks) in enumerate(_spans(scope.windows)):
        # Each span reads only the instants that hold its days (the index's range).
        tag = f"s{i}_"
        params.update(window_params([span], tag))
        zones = span.zones or scope.zones
        params[tag + "lo"], params[tag + "hi"] = instants(
            span.start, span.end + timedelta(days=1), zones
        )
        spans.append(
            _rollups_in(
                blocks if from_blocks else finer,
                level,
                scope,
                days_sql([span], "r.day", "r.zone", tag),
                f":{tag}lo",
                f":{tag}hi",
            )
        )
    if not spans:
        spans = [_rollups_in(finer, level, scope, "true")]
    columns = f"{grp} AS grp, r.currency, r.facts, " + ", ".join(
        "r." + m for m in (*rollups.COUNTERS, *MEASURES)
    )
    return " UNION ALL ".join(f"SELECT {columns} {span}" for span in spans), params


def _named(sums_sql: str, group_by: GroupBy, keep: str = "") -> str:
    """Rows of ``sums_sql`` (grp, currency, measures and the columns ``keep`` names) with the
    grouped entity's name (entity groups only: names for the grouped rows, not every row)."""
    measures = ", ".join("t." + m for m in MEASURES)
    if group_by is GroupBy.ENTITY:
        return f"""
        SELECT t.grp::text AS grp, g.name, {keep} t.currency, {measures}
        FROM ({sums_sql}) t LEFT JOIN entities g ON g.id = t.grp
        """
    return (
        f"SELECT t.grp::text AS grp, NULL::text AS name, {keep} t.currency, {measures}"
        f" FROM ({sums_sql}) t"
    )


def rollup_group_totals(
    session: Session,
    scope: FactScope,
    *,
    level: GroupLevel,
    group_by: GroupBy,
    source: dict[str, str],
    grain: str,
) -> list[dict[str, Any]]:
    """Each group's sums per currency (raw: Decimals and integers) and its name."""
    rows, params = _rollup_groups_sql(
        scope, level=level, group_by=group_by, source=source, grain=grain
    )
    sums = f"SELECT r.grp, r.currency, {ROLLUP_SUMS} FROM ({rows}) r GROUP BY 1, 2"
    return fetch_rows(session, _named(sums, group_by), params)


def rollup_group_rows(
    session: Session,
    scope: FactScope,
    *,
    level: GroupLevel,
    group_by: GroupBy,
    source: dict[str, str],
    grain: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The groups' rows and the totals' (one per currency, by currency) as API rows
    (``FORMATTED``, with ``grp`` and ``name``), summed and formatted by the database in one
    statement: 250 ad rows formatted in Python cost 10 ms of a question's 40."""
    rows, params = _rollup_groups_sql(
        scope, level=level, group_by=group_by, source=source, grain=grain
    )
    if group_by is GroupBy.NONE:  # one group: the totals are its rows
        sums = f"SELECT r.grp, r.currency, 0 AS whole, {ROLLUP_SUMS} FROM ({rows}) r GROUP BY 1, 2"
    else:
        sums = f"""
            SELECT r.grp, r.currency, GROUPING(r.grp) AS whole, {ROLLUP_SUMS} FROM ({rows}) r
            GROUP BY GROUPING SETS ((r.grp, r.currency), (r.currency))
        """
    sql = formatted_rows(_named(sums, group_by, "t.whole,"), "t.grp, t.name, t.whole", "3, 4, 1")
    found = fetch_rows(session, sql, params)
    if group_by is GroupBy.NONE:
        return found, [dict(r) for r in found]
    return [r for r in found if not r["whole"]], [r for r in found if r["whole"]]


# An ad set's ancestors by level, as columns of ``_ADSETS_SQL`` (the group a row sums it into).
_ADSET_GROUP = {
    "adset": "a.id::text",
    "campaign": "a.parent_id::text",
    "account": "c.parent_id::text",
    "connection": "a.connection_id::text",
    "provider": "a.provider",
}
_ADSETS_SQL = """
    SELECT {grp} AS grp, a.id, a.result_type
    FROM entities a LEFT JOIN entities c ON c.id = a.parent_id
    WHERE a.workspace_id = :ws AND a.level = 'adset' AND a.provider = 'meta'
      AND (cardinality(CAST(:connections AS uuid[])) = 0 OR a.connection_id = ANY(:connections))
      {entities}
"""
# The ad sets of an entity filter: those filtered, under a filtered campaign or account, or
# over a filtered ad. An IN of its own, as ``under_filter``'s: ORed with "nothing filtered",
# every ad set of the workspace was tested against each (1.3 ms of a breakdown's 11).
_ADSETS_FILTERED = (
    f"AND a.id IN ({ENTITIES_UNDER}"
    " UNION ALL SELECT d.parent_id FROM entities d WHERE d.id = ANY(:entities))"
)


def _adsets_sql(scope: FactScope, grp: str) -> str:
    return _ADSETS_SQL.format(grp=grp, entities=_ADSETS_FILTERED if scope.entity_ids else "")


def adset_result_types(
    session: Session, scope: FactScope, group: str | None
) -> list[tuple[str | None, uuid.UUID, str | None]]:
    """(group, ad set id, result type) of the Meta ad sets in view, the group being the ad
    set's ancestor at ``group`` ("adset", "campaign", "account", "connection", "provider";
    None: one group). Entities only: no facts are read."""
    grp = _ADSET_GROUP.get(group or "", "NULL::text")
    sql = _adsets_sql(scope, grp)
    rows = session.execute(sql_text(sql), scope.params()).all()
    return [(r[0], r[1], r[2]) for r in rows]


def entity_levels(
    session: Session, workspace_id: uuid.UUID, entity_ids: list[uuid.UUID]
) -> list[str]:
    """The distinct levels of the workspace's entities among ``entity_ids``."""
    rows = session.execute(
        sql_text("SELECT DISTINCT level FROM entities WHERE workspace_id = :ws AND id = ANY(:ids)"),
        {"ws": workspace_id, "ids": entity_ids},
    )
    return [str(row[0]) for row in rows]


def adset_result_kinds(session: Session, scope: FactScope) -> list[str | None]:
    """The distinct result types of the Meta ad sets in view (a question's totals need no
    more while they share one: 400 ad sets' rows cost 2 ms to fetch)."""
    sql = f"SELECT DISTINCT x.result_type FROM ({_adsets_sql(scope, 'NULL::text')}) x"
    return [row[0] for row in session.execute(sql_text(sql), scope.params())]


def delivered_adsets(
    session: Session, scope: FactScope, source: dict[str, str], ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of the ad sets ``ids`` with facts in the question's days (from the sources that
    answer it): one probe of the rollups' entity index per ad set."""
    if not ids:
        return set()
    sql = f"""
        SELECT DISTINCT r.entity_id FROM metric_rollups r
        WHERE r.workspace_id = :ws AND r.level = 'adset' AND r.entity_id = ANY(:ids)
          AND r.event_at >= :start AND r.event_at < :end AND r.facts <> 0
          AND {scope.days_sql("r.day", "r.zone")} AND {_source_sql("r", "fact_level", source)}
    """
    params = {**scope.params(), "ids": ids}
    return {row[0] for row in session.execute(sql_text(sql), params)}


def ad_result_types(
    session: Session, workspace_id: uuid.UUID, ads: list[str]
) -> dict[str, str | None]:
    """Ad id (text) -> its ad set's result type."""
    if not ads:
        return {}
    rows = session.execute(
        sql_text(
            "SELECT ad.id::text, a.result_type FROM entities ad JOIN entities a"
            " ON a.id = ad.parent_id AND a.level = 'adset'"
            " WHERE ad.workspace_id = :ws AND ad.id = ANY(CAST(:ads AS uuid[]))"
        ),
        {"ws": workspace_id, "ads": ads},
    )
    return {ad: kind for ad, kind in rows}
