"""The query layer's action figures (the ``action_facts`` family): the attribution choice, per
action type columns and named conversions.

- ``attribution=default`` (the default): purchases, purchase value, leads and conversions are
  Meta's default figures (each ad set's own attribution setting), as stored in the metric facts.
  Meta refuses to aggregate rows under different settings; metricx sums them but flags every
  row (and the answer) whose figures come from ad-days under more than one setting:
  ``attribution_mixed``, with a note.
- ``attribution=<window>[,<window>...]``: a fixed set of windows, the same for every ad set:
  each figure is the sum of those windows' figures (``7d_click,1d_view`` = 7-day click plus
  1-day view). Purchases, purchase value, leads and conversions are recomputed per ad-day from
  the action facts with the same mapping table as the sync's (integrations/meta/actions.py:
  the first action type present, never a sum of overlapping ones), then summed.
- ``actions=<type>,...``: a column per action type (count, value, cost per), under the chosen
  attribution; a custom conversion (``offsite_conversion.custom.<id>``) is named by its name.
- ``conversion=<name>``: a workspace's named conversion (conversions/): count, value, cost per
  and ROAS under the chosen attribution.

Action facts are daily: hour and minute series points get no action columns, and their
measures keep the default attribution (Meta has no hourly off-Meta actions anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from metricx.conversions.service import (
    ConversionDefinition,
    action_type_names,
    conversion_by_name,
)
from metricx.db import sql_text
from metricx.errors import InvalidInput
from metricx.integrations.meta.actions import (
    APP_INSTALL_TYPES,
    LEAD_AGGREGATE,
    LEAD_PARTS,
    PURCHASE_TYPES,
    first_of,
    leads_of,
    the_conversion,
)
from metricx.integrations.meta.results import ACTIONS_PREFIX, result_count, source_of
from metricx.metrics.calendar import week_start_sql
from metricx.metrics.repository import GROUP_ENTITY, FactScope, under_filter
from metricx.metrics.schemas import (
    ActionColumn,
    Bucket,
    ConversionColumn,
    GroupBy,
    GroupLevel,
    MetricQuery,
)

DEFAULT = "default"
MAX_ACTION_TYPES = 20
MEASURE_TYPES = (*PURCHASE_TYPES, LEAD_AGGREGATE, *LEAD_PARTS, *APP_INSTALL_TYPES)
ATTRIBUTED = ("conversions", "leads", "purchases", "purchase_value")
# Results read from an action type change with the windows too: by the difference between
# the chosen windows' figure and the default one (results of other kinds do not change).
RESULTS_DELTA = "results_delta"
_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_CENT = Decimal("0.01")
_PRICE = Decimal("0.0001")
ZERO = Decimal(0)
D = Decimal


def parse_attribution(raw: str | None, allowed: Iterable[str]) -> tuple[str, ...] | None:
    """``default`` (or nothing) -> None; ``7d_click,1d_view`` -> the windows, sorted; a 422
    naming the field for a window the server does not ask Meta for."""
    tokens = sorted({t.strip() for t in (raw or "").split(",") if t.strip()})
    if not tokens or tokens == [DEFAULT]:
        return None
    known = tuple(allowed)
    bad = [t for t in tokens if t not in known]
    if bad or DEFAULT in tokens:
        raise InvalidInput(
            f"attribution is 'default' or windows of {', '.join(known)} (comma-separated);"
            f" not {', '.join(bad) or 'default mixed with windows'}",
            details={"field": "attribution"},
        )
    return tuple(tokens)


def parse_action_types(raw: Iterable[str] | None) -> tuple[str, ...]:
    """``actions=a,b&actions=c`` -> (a, b, c), each a Meta action type's shape."""
    types: list[str] = []
    for chunk in raw or ():
        for t in chunk.split(","):
            t = t.strip()
            if not t:
                continue
            if not _TYPE.match(t) or len(t) > 200:
                raise InvalidInput(
                    f"not an action type: {t[:80]!r} (e.g. offsite_conversion.fb_pixel_purchase)",
                    details={"field": "actions"},
                )
            if t not in types:
                types.append(t)
    if len(types) > MAX_ACTION_TYPES:
        raise InvalidInput(f"at most {MAX_ACTION_TYPES} action types", details={"field": "actions"})
    return tuple(types)


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    cents = value.quantize(_CENT)
    return format(cents if cents == value else value.normalize(), "f")


def price(num: Decimal | None, den: Decimal | None) -> str | None:
    if num is None or not den:
        return None
    return money((num / den).quantize(_PRICE, rounding=ROUND_HALF_UP))


def share(num: Decimal | None, den: Decimal | None) -> float | None:
    if num is None or not den:
        return None
    return float(num) / float(den)


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass
class _Sums:
    """What the action facts give one row (a group, a series point or a total)."""

    measures: dict[str, Decimal] = field(default_factory=dict)
    types: dict[str, list[Decimal | None]] = field(default_factory=dict)  # type -> [n, v]
    conversion: list[Decimal | None] = field(default_factory=lambda: [None, None])
    settings: set[str] = field(default_factory=set)

    def add_type(self, action_type: str, n: Decimal | None, v: Decimal | None) -> None:
        cell = self.types.setdefault(action_type, [None, None])
        if n is not None:
            cell[0] = (cell[0] or ZERO) + n
        if v is not None:
            cell[1] = (cell[1] or ZERO) + v


@dataclass
class ActionsView:
    """The action figures of one question, keyed as the question's rows are."""

    windows: tuple[str, ...] | None
    action_types: tuple[str, ...]
    conversion: ConversionDefinition | None
    names: dict[str, str]
    groups: dict[tuple[str | None, str], _Sums] = field(default_factory=dict)
    points: dict[tuple[str, str | None, str], _Sums] = field(default_factory=dict)
    totals: dict[str, _Sums] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ",".join(self.windows) if self.windows else DEFAULT

    @property
    def mixed(self) -> bool:
        return self.windows is None and any(len(s.settings) > 1 for s in self.totals.values())

    # ---- the rows ----------------------------------------------------------------------------

    def adjust_raw(self, rows: list[dict[str, Any]]) -> None:
        """Under a fixed set of windows: the attributed measures of the group rows (raw sums,
        before formatting) from the action facts; the ratios and totals follow from them."""
        if self.windows is None:
            return
        for r in rows:
            sums = self.groups.get((r["grp"], r["currency"]))
            for m in ATTRIBUTED:
                if r.get(m) is not None:
                    r[m] = sums.measures.get(m, ZERO) if sums else ZERO
            if r.get("results") is not None and sums:
                r["results"] = r["results"] + sums.measures.get(RESULTS_DELTA, ZERO)

    def decorate(self, row: dict[str, Any], sums: _Sums | None) -> dict[str, Any]:
        spend = _dec(row.get("spend"))
        if self.action_types:
            cells = sums.types if sums else {}
            row["actions"] = {
                t: ActionColumn(
                    name=self.names.get(t, t),
                    count=money(cells.get(t, [ZERO, None])[0] or ZERO),
                    value=money(cells.get(t, [None, None])[1]),
                    cost_per=price(spend, cells.get(t, [None, None])[0]),
                )
                for t in self.action_types
            }
        if self.conversion is not None:
            n, v = sums.conversion if sums else [None, None]
            n = n or ZERO
            row["conversion"] = ConversionColumn(
                name=self.conversion.name,
                count=money(n),
                value=money(v),
                cost_per=price(spend, n),
                roas=share(v, spend),
            )
        row["attribution_mixed"] = bool(sums and self.windows is None and len(sums.settings) > 1)
        return row

    def decorate_groups(self, groups: list[dict[str, Any]]) -> None:
        for g in groups:
            grp = None if g["group"] == "all" else g["group"]
            self.decorate(g, self.groups.get((grp, g["currency"])))

    def adjust_points(self, points: list[dict[str, Any]], bucket: Bucket) -> None:
        """Series points (formatted rows, bucket still a date): the attributed measures under
        fixed windows, with their ratios again, and the per-type and conversion columns."""
        if bucket in (Bucket.HOUR, Bucket.MINUTE):
            return
        if self.windows is None and not self.action_types and self.conversion is None:
            return  # the default attribution and no action column: the points stand as read
        for p in points:
            key = (str(p["bucket"])[:10], p["group"], p["currency"])
            sums = self.points.get(key)
            if self.windows is not None:
                for m in ATTRIBUTED:
                    if p.get(m) is not None:
                        p[m] = money(sums.measures.get(m, ZERO) if sums else ZERO)
                if p.get("results") is not None and sums:
                    results = D(p["results"]) + sums.measures.get(RESULTS_DELTA, ZERO)
                    p["results"] = money(results)
                    p["cost_per_result"] = price(_dec(p.get("spend")), results)
                self._ratios(p)
            if self.action_types or self.conversion is not None:
                self.decorate(p, sums)

    @staticmethod
    def _ratios(p: dict[str, Any]) -> None:
        spend, clicks = _dec(p.get("spend")), _dec(p.get("clicks"))
        conv, leads, value = (_dec(p.get(m)) for m in ("conversions", "leads", "purchase_value"))
        p["cpa"] = price(spend, conv)
        p["roas"] = share(value, spend)
        p["conversion_rate"] = share(conv, clicks)
        p["cost_per_lead"] = price(spend, leads)

    def total(self, row: dict[str, Any]) -> dict[str, Any]:
        """A total row (one currency's) with its action figures."""
        return self.decorate(row, self.totals.get(row["currency"]))

    def notes(self) -> list[str]:
        out = []
        if self.windows is not None:
            out.append(
                "purchases, purchase value, leads, conversions and action columns count the "
                f"attribution windows {', '.join(self.windows)} (summed) for every ad set"
            )
        elif self.mixed:
            settings = sorted({s for t in self.totals.values() for s in t.settings})
            out.append(
                "attribution_mixed: some rows sum conversions counted under different "
                f"attribution settings ({'; '.join(settings)}), which Meta does not aggregate; "
                "ask attribution=<windows> for figures comparable across ad sets"
            )
        return out


def _bucket(bucket: Bucket, week_start: int) -> str:
    if bucket is Bucket.WEEK:
        return week_start_sql("a.day", week_start)
    if bucket is Bucket.MONTH:
        return "(date_trunc('month', a.day)::date)"
    return "a.day"


def _group(group_by: GroupBy, level: GroupLevel) -> str:
    if group_by is GroupBy.PROVIDER:
        return "'meta'::text"
    if group_by is GroupBy.CONNECTION:
        return "coalesce(e.connection_id::text, 'none')"
    if group_by is GroupBy.ENTITY and level is not GroupLevel.WORKSPACE:
        return "g.id::text"
    return "NULL::text"


_ZONE = "coalesce(zc.timezone, :wstz)"
AD = GroupLevel.AD
# Action facts in the question's days, with no filter on the hierarchy above their ads.
_AD_DAYS = """
    FROM action_facts a
    JOIN entities e ON e.id = a.entity_id
    LEFT JOIN connections zc ON zc.id = e.connection_id
    WHERE a.workspace_id = :ws AND a.day BETWEEN :dlo AND :dhi AND {days}
      AND (cardinality(CAST(:connections AS uuid[])) = 0 OR e.connection_id = ANY(:connections))
      {ads}"""


def read(
    session: Session,
    scope: FactScope,
    *,
    windows: tuple[str, ...] | None,
    action_types: tuple[str, ...],
    conversion: ConversionDefinition | None,
    level: GroupLevel,
    group_by: GroupBy,
    bucket: Bucket,
    with_settings: bool = True,
) -> ActionsView:
    """The action facts of the question's days and filters, summed per group, series point
    and currency. ``with_settings=False``: without the attribution settings the rows were
    under (they mark groups and totals, not series points)."""
    asked = set(action_types) | set(conversion.action_types if conversion else ())
    wanted = set(MEASURE_TYPES) | asked
    if windows is not None:
        wanted |= result_action_types(session, scope)
    types = sorted(wanted)
    view = ActionsView(
        windows=windows,
        action_types=action_types,
        conversion=conversion,
        names=action_type_names(session, workspace_id=scope.workspace_id) if asked else {},
    )
    if scope.providers and "meta" not in scope.providers:
        return view
    lo = min((w.start for w in scope.windows), default=None)
    hi = max((w.end for w in scope.windows), default=None)
    if lo is None or hi is None:
        return view
    grp = _group(group_by, level)
    by_entity = group_by is GroupBy.ENTITY and level is not GroupLevel.WORKSPACE
    scoped = f"""
        FROM action_facts a
        JOIN entities e ON e.id = a.entity_id
        LEFT JOIN connections zc ON zc.id = e.connection_id
        {GROUP_ENTITY}
        WHERE a.workspace_id = :ws AND a.day BETWEEN :dlo AND :dhi
          AND {scope.days_sql("a.day", _ZONE)}
          AND (cardinality(CAST(:connections AS uuid[])) = 0 OR e.connection_id = ANY(:connections))
          {under_filter(scope)}
          AND (cardinality(CAST(:statuses AS text[])) = 0 OR g.effective_status = ANY(:statuses))
          AND (:by_entity = false OR g.id IS NOT NULL)
    """
    sql = f"""
        SELECT {_bucket(bucket, scope.week_start)} AS bucket, {grp} AS grp, a.entity_id, a.day,
               a.currency, a.action_type,
               sum(a.count) FILTER (WHERE a."window" = ANY(:aw)) AS n,
               sum(a.value) FILTER (WHERE a."window" = ANY(:aw)) AS v,
               bool_or(a.value IS NOT NULL) AS valued,
               sum(a.count) FILTER (WHERE a."window" = :default) AS n0,
               max(CASE WHEN p1.level = 'adset' THEN p1.result_type END) AS result_type,
               max(CASE WHEN p2.level = 'campaign' THEN p2.goal
                        WHEN p1.level = 'campaign' THEN p1.goal END) AS goal
        {scoped} AND a.action_type = ANY(:types)
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 3, 4
    """
    params = {
        **scope.params(),
        "dlo": lo,
        "dhi": hi,
        "aw": list(windows or (DEFAULT,)),
        "types": types,
        "level": level.value,
        "by_entity": by_entity,
        "default": DEFAULT,
    }
    if windows is None and with_settings:
        # The settings the rows' ad-days were under (any action type: Meta withholds a
        # mixed row's actions whatever they are).
        settings_grp, settings_from = grp, scoped
        if not scope.statuses and (grp != "g.id::text" or level is AD):
            # No status filter reads the ancestors, and the group is the ad itself or none:
            # the ad's own row suffices (its four ancestors joined cost more than the rest;
            # planning them alone took 1.4 ms). An entity filter is an IN over those under it.
            settings_grp = "e.id::text" if grp == "g.id::text" else grp
            settings_from = _AD_DAYS.format(
                days=scope.days_sql("a.day", _ZONE),
                ads=(" AND e.level = 'ad'" if by_entity else "") + f" {under_filter(scope)}",
            )
        for r in session.execute(
            sql_text(
                f"SELECT {settings_grp} AS grp, a.currency,"
                " array_agg(DISTINCT a.attribution_setting)"
                f' {settings_from} AND a."window" = :default AND a.attribution_setting IS NOT NULL'
                " GROUP BY 1, 2"
            ),
            params,
        ):
            view.groups.setdefault((r[0], r[1]), _Sums()).settings.update(r[2])
            view.totals.setdefault(r[1], _Sums()).settings.update(r[2])
    if windows is None and not asked:
        return view  # Meta's default figures are the metric facts' own: nothing more to read
    rows = session.execute(sql_text(sql), params).all()
    # One ad-day at a time (rows come ordered by ad and day): its measures, then its sums.
    ad_day: list[Any] = []
    for row in rows:
        if ad_day and (row.entity_id, row.day) != (ad_day[0].entity_id, ad_day[0].day):
            _fold(view, ad_day)
            ad_day = []
        ad_day.append(row)
    if ad_day:
        _fold(view, ad_day)
    return view


def _fold(view: ActionsView, rows: list[Any]) -> None:
    """Add one ad-day's figures (one row per action type) to its group, point and total."""
    first = rows[0]
    counts = {r.action_type: r.n or ZERO for r in rows}
    values = {r.action_type: r.v or ZERO for r in rows if r.valued}
    measures = {
        RESULTS_DELTA: _results_delta(view, first.result_type, rows, counts),
        "purchases": first_of(counts, PURCHASE_TYPES),
        "purchase_value": first_of(values, PURCHASE_TYPES),
        "leads": leads_of(counts),
        "conversions": the_conversion(first.goal, counts),
    }
    conv_n: Decimal | None = None
    conv_v: Decimal | None = None
    if view.conversion is not None:
        wanted = set(view.conversion.action_types)
        mine = [r for r in rows if r.action_type in wanted]
        conv_n = sum((r.n or ZERO for r in mine), ZERO)
        if view.conversion.value_source == "action_values":
            conv_v = sum((r.v or ZERO for r in mine), ZERO)
        elif view.conversion.value_source == "fixed" and view.conversion.fixed_value is not None:
            conv_v = conv_n * view.conversion.fixed_value
    keys: list[_Sums] = [
        view.groups.setdefault((first.grp, first.currency), _Sums()),
        view.points.setdefault((str(first.bucket)[:10], first.grp, first.currency), _Sums()),
        view.totals.setdefault(first.currency, _Sums()),
    ]
    for sums in keys:
        for m, amount in measures.items():
            sums.measures[m] = sums.measures.get(m, ZERO) + amount
        for r in rows:
            if r.action_type in view.action_types:
                sums.add_type(r.action_type, r.n, r.v if r.valued else None)
        if view.conversion is not None:
            had_n, had_v = sums.conversion
            sums.conversion = [
                (had_n or ZERO) + (conv_n or ZERO),
                None if conv_v is None else (had_v or ZERO) + conv_v,
            ]


def view_for(
    session: Session,
    scope: FactScope,
    query: MetricQuery,
    level: GroupLevel,
    settings_session: Session | None = None,
    *,
    series_only: bool = False,
) -> ActionsView:
    """The question's action figures (``level``: the level its group rows are read at). The
    conversion's definition is read through ``settings_session`` (the primary's: one just
    made must be found even when the facts come from a read replica). ``series_only``: for
    series points alone (no group or total will be decorated)."""
    conversion = (
        conversion_by_name(
            settings_session or session, workspace_id=scope.workspace_id, name=query.conversion
        )
        if query.conversion
        else None
    )
    return read(
        session,
        scope,
        windows=tuple(query.attribution) if query.attribution else None,
        action_types=tuple(query.actions),
        conversion=conversion,
        level=level,
        group_by=query.group_by,
        bucket=query.granularity,
        with_settings=not series_only,
    )


def _results_delta(
    view: ActionsView, result_type: str | None, rows: list[Any], counts: dict[str, Decimal]
) -> Decimal:
    """How much an ad-day's result changes from the default attribution to the chosen
    windows (0 when its result is not an action, or under the default)."""
    if view.windows is None or not (result_type or "").startswith(ACTIONS_PREFIX):
        return ZERO
    default = {r.action_type: r.n0 or ZERO for r in rows}
    now, before = result_count(result_type, counts, {}), result_count(result_type, default, {})
    return (now or ZERO) - (before or ZERO)


def result_action_types(session: Session, scope: FactScope) -> set[str]:
    """The action types the workspace's ad sets' results are read from."""
    kinds = session.execute(
        sql_text(
            "SELECT DISTINCT result_type FROM entities WHERE workspace_id = :ws"
            " AND level = 'adset' AND result_type LIKE 'actions:%'"
        ),
        {"ws": scope.workspace_id},
    ).scalars()
    out: set[str] = set()
    for kind in kinds:
        source = source_of(kind)
        if source is not None:
            out.update(source.action_types)
    return out
