"""``breakdown=``: the question's figures per value of a breakdown set (Ads Manager's Breakdown
menu: age, gender, country, placement, device...), issue 17.

Rows come from ``breakdown_rollups`` (per account, campaign or ad set, and day, week or month:
a range is read as the fewest of them added or subtracted, ``span_cover``) or, at ad level,
from ``breakdown_facts``; each account's rows are kept by its own local days, as the rest of the
query layer does. Grouped by entity, a row is one entity and one value; ungrouped, one value
over the selection. Ratios are computed from the sums. A measure nobody reported (off-Meta
actions with a Type 1 breakdown such as region) is null, never 0. Reach is never summed: a row
made of one fact (one ad, one day, one value) shows that fact's reach, other rows none.

Meta's breakdown values are estimates (small cells are hidden, unique counts are modelled), so
the values' sum can differ from the unbroken total. The answer carries both per currency
(``reconciliation``), with the relative difference and whether it is within the tolerance
(``METRICX_BREAKDOWN_TOLERANCE``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from metricx.errors import InvalidInput
from metricx.facts.breakdowns import BREAKDOWN_SETS, DAY, MONTH, TYPE1_SETS, WEEK
from metricx.facts.tables import BREAKDOWN_MEASURES
from metricx.metrics import repository
from metricx.metrics.calendar import DayWindow
from metricx.metrics.repository import (
    ENTITIES_UNDER,
    FORMATTED,
    MEASURES,
    allow_fact_sorts,
    days_sql,
    window_params,
)
from metricx.metrics.rows import one_result_type, ordered, with_result_type
from metricx.metrics.schemas import (
    Bucket,
    GroupBy,
    GroupLevel,
    GroupRow,
    MetricQuery,
    MetricQueryResult,
    MetricRow,
    Reconciliation,
    SeriesOf,
    trusted,
)
from metricx.metrics.span_cover import Piece, cover
from metricx.models import Level, Workspace

_LEVEL_ORDER = (GroupLevel.ACCOUNT, GroupLevel.CAMPAIGN, GroupLevel.ADSET, GroupLevel.AD)
_CHECKED = ("spend", "impressions", "clicks")  # what reconciliation compares
_ABSENT = frozenset(MEASURES) - frozenset(BREAKDOWN_MEASURES)  # never in a breakdown row
# What stays null when no summed fact reported it (the rollups count them).
_COUNTED = {
    "link_clicks": "link_n",
    "conversions": "conversions_n",
    "leads": "conversions_n",
    "purchases": "conversions_n",
    "purchase_value": "conversions_n",
    "results": "results_n",
}


def check(query: MetricQuery) -> str:
    """The breakdown set asked for, or a 422 naming what does not go with it."""
    name = query.breakdown or ""
    if name not in BREAKDOWN_SETS:
        raise InvalidInput(
            f"unknown breakdown {name!r}: expected one of {', '.join(BREAKDOWN_SETS)}",
            details={"field": "breakdown"},
        )
    refusals = (
        (
            query.granularity in (Bucket.HOUR, Bucket.MINUTE),
            "granularity",
            "breakdowns are daily: ask for day, week or month buckets",
        ),
        (
            query.group_by not in (GroupBy.NONE, GroupBy.ENTITY),
            "group_by",
            "a breakdown groups by entity or not at all",
        ),
        (
            query.attribution is not None,
            "attribution",
            "breakdowns are stored under each ad set's own attribution setting only",
        ),
        (
            bool(query.actions or query.conversion),
            "actions",
            "action and conversion columns are not available with a breakdown",
        ),
    )
    for refused, field, message in refusals:
        if refused:
            raise InvalidInput(message, details={"field": field})
    return name


def _read_level(
    query: MetricQuery, levels_of: Callable[[], list[str]]
) -> tuple[GroupLevel, set[GroupLevel]]:
    """The rows that answer: the account's when nothing narrower is asked, else the level asked
    or the level of the deepest filtered entity (a filtered ad set read at campaign level
    would bring its siblings); and the levels of the filtered entities."""
    level: GroupLevel = query.level
    if level is GroupLevel.WORKSPACE:
        level = GroupLevel.ACCOUNT
    if query.group_by is GroupBy.NONE and not query.statuses:
        level = GroupLevel.ACCOUNT
    levels: set[GroupLevel] = set()
    if query.entity_ids:
        levels = {GroupLevel(Level(found).value) for found in levels_of()}
        for filtered in levels:
            if _LEVEL_ORDER.index(filtered) > _LEVEL_ORDER.index(level):
                level = filtered
    return level, levels


def _under_sql(depth: int) -> str:
    """The ids of the entities ``depth`` levels under the filtered ones (``:entities``), each
    level found by the parent index (Meta's trees have every level)."""
    joins = "".join(
        f" JOIN entities d{i} ON d{i}.parent_id = d{i - 1}.id" for i in range(2, depth + 1)
    )
    return f"SELECT d{depth}.id FROM entities d1{joins} WHERE d1.parent_id = ANY(:entities)"


def range_cover(windows: list[DayWindow]) -> list[Piece] | None:
    """The signed day, week and month rows that sum to a question's one range (every account
    on the same dates), else None (the accounts' own days are read day by day)."""
    if len(windows) != 1 or windows[0].zones is not None:
        return None
    return cover(windows[0].start, windows[0].end)


def cover_sql(pieces: list[Piece]) -> tuple[str, str | None, dict[str, list[date]]]:
    """The rows a cover adds and those it subtracts (conditions on ``r``; None when nothing
    is subtracted), and their parameters."""
    params: dict[str, list[date]] = {}
    conditions: list[str | None] = []
    for sign, tag in ((1, "plus"), (-1, "minus")):
        read = []
        for span in (DAY, WEEK, MONTH):
            days = [p.day for p in pieces if p.span == span and p.sign == sign]
            if days:
                params[f"{tag}_{span}"] = days
                read.append(f"(r.span = {span} AND r.day = ANY(:{tag}_{span}))")
        conditions.append(f"({' OR '.join(read)})" if read else None)
    plus, minus = conditions
    assert plus is not None
    return plus, minus, params


_ROLLUP_KEYS = "r.workspace_id, r.breakdown, r.level, r.entity_id, r.key1, r.key2, r.currency"
_ROLLUP_SUMMED = (*BREAKDOWN_MEASURES, "facts", "link_n", "conversions_n", "results_n")


def _sql(
    level: GroupLevel,
    query: MetricQuery,
    windows: list[DayWindow],
    filtered: set[GroupLevel],
    pieces: list[Piece] | None = None,
) -> str:
    """The rows to sum per value (and entity): at a rollup level over ``pieces`` when given (a
    range of the same dates everywhere), else day by day."""
    grouped = query.group_by is GroupBy.ENTITY
    days = "r.day BETWEEN :lo AND :hi AND " + days_sql(windows, "r.day", "zc.timezone", "w")
    source = "breakdown_rollups r"
    minus: str | None = None
    if level is not GroupLevel.AD:
        if pieces is None:
            days = f"r.span = {DAY} AND {days}"
        else:
            days, minus, _ = cover_sql(pieces)
        if minus is not None:
            # Subtracted rows come negated (a product per measure and row hashed 2x slower).
            kept = ", ".join(f"r.{m}" for m in _ROLLUP_SUMMED)
            negated = ", ".join(f"-r.{m} AS {m}" for m in _ROLLUP_SUMMED)
            source = (
                f"(SELECT {_ROLLUP_KEYS}, {kept} FROM breakdown_rollups r WHERE {days}"
                f" UNION ALL SELECT {_ROLLUP_KEYS}, {negated} FROM breakdown_rollups r"
                f" WHERE {minus}) r"
            )
            days = "true"
    measures = ", ".join(f"r.{m}" for m in BREAKDOWN_MEASURES)
    if level is GroupLevel.AD:
        source = "breakdown_facts r"
        counts = (
            "1 AS facts, (r.link_clicks IS NOT NULL)::int AS link_n,"
            " (r.conversions IS NOT NULL)::int AS conversions_n,"
            " (r.results IS NOT NULL)::int AS results_n, r.reach"
        )
        at_level = "true"
    else:
        counts = "r.facts, r.link_n, r.conversions_n, r.results_n, NULL::bigint AS reach"
        at_level = f"r.level = '{level.value}'"
    # Entities are joined only when something reads them (a workspace's rows of a month need
    # none), and by id alone: a row's entity and its ancestors are in its workspace, and with
    # the workspace in the join fresh statistics chose the (workspace_id, ...) index per row.
    zoned = any(w.zones is not None for w in windows)
    by_status = bool(query.statuses)
    # The entity at the level asked (grouped rows, status filter): the row's own when the rows
    # are read at that level, else one of its ancestors.
    own = level is query.level or query.level is GroupLevel.WORKSPACE
    status_of = "e" if own else "g"
    needs_g = not own and (grouped or by_status)
    by_ancestor = bool(query.entity_ids) and filtered != {level}
    needs_e = needs_g or zoned or by_status or bool(query.connection_ids or query.providers)
    joins, where = [], []
    if needs_e:
        joins.append("JOIN entities e ON e.id = r.entity_id")
    if zoned:
        joins.append("LEFT JOIN connections zc ON zc.id = e.connection_id")
    if needs_g:
        joins += [
            "LEFT JOIN entities p1 ON p1.id = e.parent_id",
            "LEFT JOIN entities p2 ON p2.id = p1.parent_id",
            "LEFT JOIN entities g ON g.id = CASE WHEN e.level = :glevel THEN e.id"
            " WHEN p1.level = :glevel THEN p1.id WHEN p2.level = :glevel THEN p2.id END",
        ]
    if query.connection_ids:
        where.append("e.connection_id = ANY(:connections)")
    if query.providers:
        where.append("e.provider = ANY(:providers)")
    if by_ancestor:
        # The rows' entities under the filtered ones: at one known depth when the filtered
        # entities are of one level (one branch to plan and run instead of four).
        (one,) = filtered if len(filtered) == 1 else (None,)
        depth = _LEVEL_ORDER.index(level) - _LEVEL_ORDER.index(one) if one else 0
        under = _under_sql(depth) if depth > 0 else ENTITIES_UNDER
        where.append(f"r.entity_id IN ({under})")
    elif query.entity_ids:
        where.append("r.entity_id = ANY(:entities)")
    if by_status:
        where.append(f"{status_of}.effective_status = ANY(:statuses)")
    if grouped and not own:
        where.append("g.id IS NOT NULL")
    # Summed per entity id first, named after: grouping by the name too sorted 60,000 rows on
    # disk for 400 ad sets x 5 devices (320 ms; 40 ms hashed by id).
    key = ("r.entity_id" if own else "g.id") if grouped else "NULL::uuid"
    return f"""
    SELECT r.key1, r.key2, r.currency, {key} AS id, {measures}, {counts}
    FROM {source}
    {" ".join(joins)}
    WHERE r.workspace_id = :ws AND r.breakdown = :set AND {at_level} AND {days}
      {"".join(" AND " + w for w in where)}
    """


# The rows' sums per value (and entity); a value whose facts all fell on subtracted days
# sums to no fact and is no row.
_SUMS = (
    ", ".join(f"sum(q.{m}) AS {m}" for m in _ROLLUP_SUMMED)
    + ", CASE WHEN sum(q.facts) = 1 THEN max(q.reach) END AS reach"
)


def _summed(rows: str, only: str = "") -> str:
    return (
        f"SELECT q.key1, q.key2, q.currency, q.id, {_SUMS} FROM {rows} q {only}"
        " GROUP BY q.key1, q.key2, q.currency, q.id HAVING sum(q.facts) > 0"
    )


# The row fields a breakdown never has (no actions, conversions or conversion to a reporting
# currency with a breakdown; groups are no creatives): set, so that every field of a trusted
# row is there (the dashboard reads them as attributes).
_NONE_FIELDS: dict[str, Any] = dict.fromkeys(
    ("actions", "conversion", "attribution_mixed", "converted", "original_currencies")
)
_NONE_GROUP_FIELDS: dict[str, Any] = {**_NONE_FIELDS, "title": None, "thumbnail_url": None}


# A group's name, looked up by id for each row shown: a hash join read every entity of
# the database to name 105 rows (estimated 2,345).
_NAME = "(SELECT n.name FROM entities n WHERE n.id = {0}.id)"


def _value(m: str, alias: str = "x", summed: bool = False) -> str:
    """A measure's value as shown (an expression, unnamed): null when no summed fact reported
    it (the rollups count them), always null when a breakdown never has it; ``summed``: over
    the rows ``alias``."""
    if m not in BREAKDOWN_MEASURES:
        return "NULL::numeric"
    total = f"sum({alias}.{m})" if summed else f"{alias}.{m}"
    counter = _COUNTED.get(m)
    if counter is None:
        return total
    reported = f"sum({alias}.{counter})" if summed else f"{alias}.{counter}"
    return f"CASE WHEN {reported} > 0 THEN {total} END"


def _shown_sql(
    rows: str,
    grouped: bool,
    two_keys: bool,
    sort: tuple[str, bool] | None,
    limited: bool,
    totals_rows: str | None = None,
) -> str:
    """The answer's rows (``part`` 0) and its totals per currency (``part`` 1) from the rows
    to sum, formatted by the database as series points are: 2,000 rows formatted in Python
    cost 60 ms. With ``sort`` (a summed measure, descending or not), the rows come sorted
    and, when ``limited``, only the first ``:limit``. A top N of groups first sums the sort's
    measure alone, then every measure of the groups that can be in it (those fewer than N
    groups outrank on the measure, ties included): 13 sums of 2,000 groups cost 5-10 ms
    more than 2. The rows are read twice rather than kept (kept, 3 ms slower of 18).
    ``totals_rows``: rows whose sums are the totals (else the groups')."""
    deferred = grouped and limited and sort is not None
    if grouped:
        name, grp = _NAME.format("x"), "x.id::text"
    elif two_keys:
        name, grp = "x.key1 || ', ' || x.key2", "x.key1 || '|' || x.key2"
    else:
        name, grp = "x.key1", "x.key1"
    values = ", ".join(f"{_value(m)} AS {m}" for m in MEASURES)
    ordinal = f"row_number() OVER (ORDER BY {_order_sql('v', *sort)})" if sort else "NULL::bigint"
    if deferred and sort is not None:
        measure, descending = sort
        sums = f"""
        q AS NOT MATERIALIZED ({rows}),
        k AS (SELECT q.key1, q.key2, q.currency, q.id, {_value(measure, "q", True)} AS m FROM q
              GROUP BY q.key1, q.key2, q.currency, q.id HAVING sum(q.facts) > 0),
        top AS (SELECT k.key1, k.key2, k.currency, k.id FROM (
                  SELECT k.*, rank() OVER (ORDER BY (k.m IS NULL),
                                                    k.m {"DESC" if descending else "ASC"}) AS rk
                  FROM k) k WHERE k.rk <= :limit),
        x AS ({_summed("q", "WHERE (q.key1, q.key2, q.currency, q.id) IN (SELECT * FROM top)")}),"""
        totals = _totals_sql("q")
    else:
        sums = f"x AS ({_summed(f'({rows})')}),"
        totals = f"""
        SELECT 1, NULL, NULL, NULL::uuid, NULL, NULL, v.currency, NULL::bigint,
               {", ".join(f"sum(v.{m})" for m in MEASURES)}, NULL
        FROM v GROUP BY v.currency"""
    if totals_rows is not None:
        totals = _totals_sql(f"({totals_rows})")
    return repository.formatted_rows(
        f"""
        WITH {sums}
        v AS (SELECT x.key1, x.key2, x.id, {name} AS name, {grp} AS grp, x.currency,
                     x.reach AS own_reach, {values} FROM x),
        r AS (SELECT 0 AS part, v.*, {ordinal} AS ord FROM v)
        SELECT * FROM r {"WHERE r.ord <= :limit" if limited else ""}
        UNION ALL {totals}
        """,
        "t.part, t.key1, t.key2, t.id, t.name, t.grp, t.own_reach",
        "t.part, t.ord, t.grp, t.currency",
        _ABSENT,
    )


def _totals_sql(rows: str) -> str:
    """The totals row per currency of ``rows`` summed (a value's nulls as the groups')."""
    return f"""
        SELECT 1, NULL, NULL, NULL::uuid, NULL, NULL, q.currency, NULL::bigint,
               {", ".join(f"{_value(m, 'q', summed=True)} AS {m}" for m in MEASURES)}, NULL
        FROM {rows} q GROUP BY q.currency"""


def _order_sql(alias: str, sort: str, descending: bool) -> str:
    """A summed measure's order as the answer sorts (nulls last either way; ties by name,
    group, currency and the values, compared as Python compares strings)."""
    a = alias
    return (
        f"({a}.{sort} IS NULL), {a}.{sort} {'DESC' if descending else 'ASC'},"
        f' coalesce({a}.name, \'\') COLLATE "C", {a}.grp COLLATE "C", {a}.currency COLLATE "C",'
        f' {a}.key1 COLLATE "C", {a}.key2 COLLATE "C"'
    )


def answer(
    session: Session,
    workspace: Workspace,
    query: MetricQuery,
    windows: list[DayWindow],
    ask: Callable[[MetricQuery], MetricQueryResult],
    tolerance: float,
    levels_of: Callable[[], list[str]],
) -> MetricQueryResult:
    """``ask``: the unbroken question's answer; ``levels_of``: the levels of the entities
    the question is filtered to."""
    name = check(query)
    fields = BREAKDOWN_SETS[name]
    # The unbroken question: its totals to reconcile with, and the answer's frame (days, zones).
    whole = ask(
        query.model_copy(
            update={
                "breakdown": None,
                "group_by": GroupBy.NONE,
                "series": SeriesOf.NONE,
                "limit": None,
                "sort": "spend",
            }
        )
    )
    level, filtered = _read_level(query, levels_of)
    tagged = list(windows)
    covered = range_cover(tagged)  # the rollups' rows for the range (ad level reads facts)
    pieces = covered if level is not GroupLevel.AD else None
    # A summed measure sorts in the database; a ratio, the name or results (set per result
    # type below) sort the formatted rows.
    in_sql = query.sort in BREAKDOWN_MEASURES and query.sort != "results"
    params: dict[str, Any] = {
        "ws": workspace.id,
        "set": name,
        "lo": min(w.start for w in tagged),
        "hi": max(w.end for w in tagged),
        **(cover_sql(covered)[2] if covered else {}),
        "glevel": query.level.value,
        "connections": query.connection_ids,
        "providers": query.providers,
        "entities": query.entity_ids,
        "statuses": query.statuses,
        "limit": query.limit,
        **window_params(tagged, "w"),
    }
    grouped = query.group_by is GroupBy.ENTITY
    totals_rows = None
    if grouped and not (query.statuses or query.entity_ids):
        # Every fact in view is under one group (Meta's trees have every level): the totals
        # are the accounts' rows summed (30 rows, not every group's 4,000 or 12,000).
        ungrouped = query.model_copy(update={"group_by": GroupBy.NONE})
        totals_rows = _sql(GroupLevel.ACCOUNT, ungrouped, tagged, set(), covered)
    sql = _shown_sql(
        _sql(level, query, tagged, filtered, pieces),
        grouped=grouped,
        two_keys=len(fields) == 2,
        sort=(query.sort, query.descending) if in_sql else None,
        limited=in_sql and query.limit is not None,
        totals_rows=totals_rows,
    )
    allow_fact_sorts(session)  # the sums hash in memory, never spill
    found = repository.fetch_rows(session, sql, params)
    kinds = [t.result_type for t in whole.totals]
    result_kind = one_result_type(kinds) if kinds else None
    shown = [r for r in found if r["part"] == 0]
    summed = sorted((r for r in found if r["part"] == 1), key=lambda r: r["currency"])

    level_shown = query.level.value

    def made(row: dict[str, Any]) -> dict[str, Any]:
        # The fetched row becomes the answer's (a copy per row cost 800 rows 2 ms): its
        # formatted columns are FORMATTED's, the rest are taken out.
        del row["part"]
        keys = (row.pop("key1"), row.pop("key2"))
        grouped = row.pop("id") is not None
        row["group"] = row.pop("grp")
        row["reach"] = reach = row.pop("own_reach")
        if reach:
            row["frequency"] = row["impressions"] / reach
        with_result_type(row, result_kind)
        row.update(_NONE_GROUP_FIELDS)
        row["level"] = level_shown if grouped else None
        row["breakdown"] = dict(zip(fields, keys, strict=False))
        return row

    groups = [made(r) for r in shown]
    if not in_sql:
        groups = ordered(
            groups,
            query.sort,
            query.descending,
            query.limit,
            lambda g: (g["name"] or "", g["group"], g["currency"], *g["breakdown"].values()),
        )
    totals = [trusted(MetricRow, {k: t[k] for k in FORMATTED} | _NONE_FIELDS) for t in summed]
    sums = {t["currency"]: {m: Decimal(t[m] or 0) for m in _CHECKED} for t in summed}
    checks = _reconcile(sums, whole, tolerance)
    notes = [
        "breakdown values are Meta's estimates: their sum can differ from the unbroken total "
        "(see reconciliation)",
        "reach is not summed over breakdown rows: shown only where a row is one ad's one day",
    ]
    if name in TYPE1_SETS:
        notes.append(
            f"Meta reports no off-Meta conversions by {name} (a Type 1 breakdown): "
            "conversions, purchases and their value are null"
        )
    if whole.reporting_currency:
        notes.append("breakdown rows are shown in each account's own currency (not converted)")
    return whole.model_copy(
        update={
            "group_by": query.group_by,
            "level": query.level,
            "groups": [trusted(GroupRow, g) for g in groups],
            "totals": totals,
            "series": [],
            "notes": notes,
            "breakdown": name,
            "breakdown_fields": list(fields),
            "reconciliation": checks,
        }
    )


def _reconcile(
    sums: dict[str, dict[str, Decimal]], whole: MetricQueryResult, tolerance: float
) -> list[Reconciliation]:
    totals = {t.currency: t for t in whole.totals}
    checks: list[Reconciliation] = []
    for currency in sorted(set(sums) | set(totals)):
        total_row = totals.get(currency)
        for m in _CHECKED:
            broken = sums.get(currency, {}).get(m, Decimal(0))
            raw = getattr(total_row, m, None) if total_row is not None else None
            total = Decimal(str(raw)) if raw is not None else Decimal(0)
            relative = float((broken - total) / total) if total else None
            checks.append(
                Reconciliation(
                    currency=currency,
                    measure=m,
                    breakdown_total=_text(broken, m),
                    total=_text(total, m),
                    difference=_text(broken - total, m),
                    relative=relative,
                    within_tolerance=(
                        abs(relative) <= tolerance if relative is not None else broken == total
                    ),
                )
            )
    return checks


def _text(value: Decimal, measure: str) -> str:
    return format(value.quantize(Decimal("0.01")), "f") if measure == "spend" else str(int(value))
