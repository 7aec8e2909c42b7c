"""UnifiedMetricService: time series and totals for dashboards and the API.

Rules the numbers follow:
- Days are each ad account's own calendar days (``calendar.py``): day, week and month buckets
  and every date range keep an account's facts by its local dates, whatever zone the view
  uses; presets resolve in each account's zone. Weeks start on the workspace's week start.
- Hour and minute buckets are instants shown in the view's zone: the accounts' zone when they
  share one, else the workspace's, unless the question names one. Hours are split by the
  offset in force, so a DST day has 23 or 25 hourly buckets and +05:30 hours start at :30 UTC.
- Hour and minute buckets read hourly / minute facts. Day, week and month buckets read daily
  facts, and hourly facts only for entities that have no daily facts in the range.
- Additive measures are summed from one fact level per provider (the deepest present: ads for
  Meta) and rolled up the hierarchy, so no level is counted twice.
- Ratios are computed from the summed bases, never averaged; a zero or missing denominator
  gives null. Amounts in different currencies are never added: every row carries a currency.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from metricx.errors import InvalidInput
from metricx.fx import service as fx
from metricx.kit.tz import is_valid_timezone
from metricx.metrics import (
    actions_query,
    by_breakdown,
    by_creative,
    cache,
    currency,
    reach,
    repository,
)
from metricx.metrics.calendar import WEEKDAYS, DayWindow, instants, resolve
from metricx.metrics.freshness import DELAYED_AFTER, connection_freshness
from metricx.metrics.repository import FactScope
from metricx.metrics.rows import (
    metric_row,
    one_result_type,
    ordered,
    share,
    with_result_type,
)
from metricx.metrics.schemas import (
    BASE_MEASURES,
    MIXED,
    SORTABLE,
    Bucket,
    DayRange,
    Freshness,
    GroupBy,
    GroupLevel,
    GroupRow,
    LatestResult,
    MetricQuery,
    MetricQueryResult,
    MetricRow,
    MissingRate,
    SeriesOf,
    SeriesPoint,
    trusted,
    trusted_all,
)
from metricx.models import Workspace

MAX_RANGE_DAYS = {Bucket.MINUTE: 2, Bucket.HOUR: 92}


def bucket_label(value: datetime | date, bucket: Bucket, tz: str) -> tuple[str, str | None]:
    if isinstance(value, datetime):
        if bucket in (Bucket.HOUR, Bucket.MINUTE):
            instant = value if value.tzinfo else value.replace(tzinfo=UTC)
            return (
                instant.astimezone(ZoneInfo(tz)).isoformat(),
                instant.astimezone(UTC).isoformat(),
            )
        value = value.date()
    return value.isoformat(), None


def label_buckets(points: list[dict[str, Any]], bucket: Bucket, tz: str) -> None:
    """Each point's ``bucket`` (a timestamp from the database) as its label and UTC start;
    a series repeats a few dozen buckets over thousands of points: each is labelled once."""
    labels: dict[datetime | date, tuple[str, str | None]] = {}
    for p in points:
        value = p["bucket"]
        label = labels.get(value)
        if label is None:
            label = labels[value] = bucket_label(value, bucket, tz)
        p["bucket"], p["bucket_utc"] = label


def _sum_rows(rows: list[dict[str, Any]], key: Any) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        k = key(r)
        acc = out.setdefault(k, {"currency": r["currency"]})
        for m in BASE_MEASURES:
            v = r.get(m)
            if v is not None:
                acc[m] = acc.get(m, 0) + v
    return out


_ROW_KEYS = tuple(MetricRow.model_fields)


def _row(values: dict[str, Any]) -> dict[str, Any]:
    """A formatted row's API columns (not its group key and flags)."""
    return {k: values[k] for k in _ROW_KEYS if k in values}


def _group_row(values: dict[str, Any], level: str | None) -> dict[str, Any]:
    """An answer row of a group: its API columns (``values``: a formatted row, or a metric
    row over its raw sums), its key ("all" for no group), name and level."""
    return _row(values) | {
        "group": values["grp"] or "all",
        "name": values["name"],
        "level": level,
        "title": None,
        "thumbnail_url": None,
    }


def check_timezone(tz: str | None, field: str = "timezone") -> None:
    if tz is not None and not is_valid_timezone(tz):
        raise InvalidInput(
            f"unknown time zone {tz!r}: use an IANA name such as Europe/Berlin",
            details={"field": field},
        )


@dataclass(frozen=True)
class Calendar:
    """The days a question covers: per account zone, and the zone its hours are shown in."""

    zones: tuple[str, ...]  # the accounts' zones in view (a workspace's own for pushed facts)
    timezone: str  # the view's: hour and minute buckets
    windows: tuple[DayWindow, ...]

    @property
    def start(self) -> date:
        return min(w.start for w in self.windows)

    @property
    def end(self) -> date:
        return max(w.end for w in self.windows)

    def instants(self) -> tuple[datetime, datetime]:
        spans = [
            instants(w.start, w.end + timedelta(days=1), w.zones or self.zones or [self.timezone])
            for w in self.windows
        ]
        return min(lo for lo, _ in spans), max(hi for _, hi in spans)


def calendar_for(
    session: Session, workspace: Workspace, query: MetricQuery, now: datetime
) -> Calendar:
    """The question's days in each account's zone and its view zone (an unknown zone is a
    422 whichever field names it)."""
    check_timezone(query.timezone)
    zones = tuple(repository.account_zones(session, workspace, query.connection_ids))
    view = query.timezone or (zones[0] if len(zones) == 1 else workspace.timezone)
    if query.preset is not None:
        if query.start is not None or query.end is not None:
            raise InvalidInput(
                "give a preset or start and end, not both", details={"field": "preset"}
            )
        windows = resolve(query.preset, zones or (view,), now)
    elif query.start is None or query.end is None:
        field = "start" if query.start is None else "end"
        raise InvalidInput("give start and end (dates), or a preset", details={"field": field})
    else:
        windows = [DayWindow(query.start, query.end)]
    return Calendar(zones, view, tuple(windows))


# The days a question may ask about: ads ran in neither year 1 nor 9999 (and a day either
# side of those overflows the date arithmetic behind conversions and comparisons).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 12, 31)


def validate(query: MetricQuery, cal: Calendar) -> None:
    if cal.end < cal.start:
        raise InvalidInput("end is before start", details={"field": "end"})
    if cal.start < FIRST_DAY or cal.end > LAST_DAY:
        raise InvalidInput(
            f"days are between {FIRST_DAY} and {LAST_DAY}",
            details={"field": "start" if cal.start < FIRST_DAY else "end"},
        )
    days = max((w.end - w.start).days + 1 for w in cal.windows)
    limit = MAX_RANGE_DAYS.get(query.granularity, 3 * 366)
    if days > limit:
        raise InvalidInput(
            f"{query.granularity.value} buckets cover at most {limit} days; ask for fewer "
            "or a coarser granularity",
            details={"field": "granularity"},
        )
    if query.sort not in SORTABLE:
        raise InvalidInput(f"sort must be one of {', '.join(SORTABLE)}", details={"field": "sort"})
    if query.group_by is GroupBy.ENTITY and query.level is GroupLevel.WORKSPACE:
        raise InvalidInput(
            "group by entity needs a level below workspace", details={"field": "level"}
        )


def rollups_answer(query: MetricQuery, *, with_series: bool = True) -> bool:
    """Whether pre-summed rollups can answer the question exactly (else facts do)."""
    if query.granularity is Bucket.MINUTE:
        return False
    if query.level is GroupLevel.AD and query.granularity is Bucket.HOUR and with_series:
        # Ads' rollups have days and weeks only (their facts are their hours): their rows'
        # totals read days, and a line over every ad the workspace's hours (unfiltered).
        per_ad = query.group_by is GroupBy.ENTITY or query.statuses or query.connection_ids
        if per_ad:
            return False
    if query.group_by is GroupBy.CONNECTION or query.entity_ids:
        return False
    return not (query.level is GroupLevel.WORKSPACE and (query.connection_ids or query.statuses))


def one_row_per_point(query: MetricQuery, read_level: GroupLevel, source: dict[str, str]) -> bool:
    """Whether aligned daily rollup rows are one per series point: grouped by entity, or at
    the workspace level per provider (one source each) or altogether from one source."""
    if query.group_by is GroupBy.ENTITY:
        return True
    one_source = query.group_by is GroupBy.PROVIDER or len(source) <= 1
    return read_level is GroupLevel.WORKSPACE and one_source


class UnifiedMetricService:
    """Reads metric facts for dashboards and the API (the only reader of facts)."""

    def __init__(
        self,
        session: Session,
        *,
        use_rollups: bool = True,
        use_cache: bool = True,
        clock: Callable[[], datetime] | None = None,
        writes: Session | None = None,
        breakdown_tolerance: float = 0.02,
    ) -> None:
        self.session = session  # reads (a read replica's, perhaps)
        # The primary: what reading queues (a range's reach fetch) and the settings it must see
        # as soon as they are written (conversions, exchange rates).
        self.writes = writes or session
        self.use_rollups = use_rollups
        self.breakdown_tolerance = breakdown_tolerance
        self.use_cache = use_cache
        # One question's sources, asked once (a grouped question and its line share them).
        self._sources: dict[str, tuple[dict[str, str], set[str]]] = {}
        self._levels: dict[tuple[uuid.UUID, tuple[uuid.UUID, ...]], list[str]] = {}
        self.clock = clock or (lambda: datetime.now(UTC))  # what "today" is, for presets

    def query(self, workspace: Workspace, query: MetricQuery) -> MetricQueryResult:
        """The answer, from the short-lived cache when the same question was just asked and
        nothing was written since."""
        cal = calendar_for(self.session, workspace, query, self.clock())
        validate(query, cal)
        if query.breakdown is not None:
            # Not cached: breakdown writes are not imports (the cache's version), and the
            # rollups answer in a few milliseconds. The unbroken question it reconciles
            # with has the same days (its calendar is not looked up again) and is cached.
            return by_breakdown.answer(
                self.session,
                workspace,
                query,
                list(cal.windows),
                lambda q: self._cached(workspace, q, cal, totals_only=True),
                self.breakdown_tolerance,
                lambda: self._entity_levels(workspace, query.entity_ids),
            )
        return self._cached(workspace, query, cal)

    def _cached(
        self, workspace: Workspace, query: MetricQuery, cal: Calendar, *, totals_only: bool = False
    ) -> MetricQueryResult:
        """``totals_only``: the totals of an ungrouped question with no series, without the
        range's reach (what a breakdown reconciles with)."""
        if totals_only:
            assert query.group_by is GroupBy.NONE and query.series is SeriesOf.NONE
        if not self.use_cache:
            return self._answer(workspace, query, cal, totals_only=totals_only)
        key = (
            totals_only,
            workspace.id,
            workspace.timezone,
            workspace.week_start,
            workspace.reporting_currency,
            self.use_rollups,
            query.model_dump_json(),
            cal,
        )
        # A fact write, or a range's reach fetched since, makes a new version.
        version = cache.write_version(self.session, workspace.id)
        if currency.target_of(query.currency, workspace.reporting_currency):
            # A rate loaded or changed since makes a new version too.
            day = timedelta(days=1)
            version += "|" + fx.version(
                self.writes, workspace.id, start=cal.start - day, end=cal.end + day
            )
        return cache.ANSWERS.get_or_compute(
            key, version, lambda: self._answer(workspace, query, cal, totals_only=totals_only)
        )

    def _rollup_fact_levels(
        self, scope: FactScope, grains: list[str]
    ) -> tuple[dict[str, str], set[str]]:
        key = repr((scope.params(), grains))
        if key not in self._sources:
            self._sources[key] = repository.rollup_fact_levels(self.session, scope, grains)
        return self._sources[key]

    def _entity_levels(self, workspace: Workspace, ids: list[uuid.UUID]) -> list[str]:
        """The distinct levels of the entities ``ids``, looked up once per question (a
        breakdown and the unbroken question it reconciles with share them)."""
        key = (workspace.id, tuple(ids))
        if key not in self._levels:
            self._levels[key] = repository.entity_levels(self.session, workspace.id, ids)
        return self._levels[key]

    def _filtered_level(
        self, workspace: Workspace, query: MetricQuery, with_series: bool
    ) -> GroupLevel | None:
        """The one level of the entities an ungrouped question is filtered to, when their
        rollup rows answer it exactly (no status filter: it is the question level's, the
        rows' entities are not; an ad has no hour rows)."""
        if not query.entity_ids or query.group_by is not GroupBy.NONE or query.statuses:
            return None
        if not rollups_answer(query.model_copy(update={"entity_ids": []}), with_series=with_series):
            return None
        levels = self._entity_levels(workspace, query.entity_ids)
        if len(levels) != 1:
            return None
        level = GroupLevel(levels[0])
        if level is GroupLevel.AD and query.granularity is Bucket.HOUR and with_series:
            return None
        return level

    def _answer(
        self, workspace: Workspace, query: MetricQuery, cal: Calendar, *, totals_only: bool = False
    ) -> MetricQueryResult:
        """The groups' answer with the series asked for: per group, none, or one line over
        the groups (the same question ungrouped: its series, read from the cheapest rows,
        rather than every group's series summed)."""
        if query.group_by is GroupBy.CREATIVE:
            return by_creative.answer(
                self.session, workspace, query, lambda q: self._answer(workspace, q, cal)
            )
        if query.series is SeriesOf.NONE:
            return self._query(workspace, query, cal, with_series=False, with_reach=not totals_only)
        if query.series is SeriesOf.GROUP or query.group_by is GroupBy.NONE:
            return self._query(workspace, query, cal)
        answer = self._query(workspace, query, cal, with_series=False)
        if query.series is SeriesOf.TOTAL:
            # Over the same facts as the rows: those under an entity of the level asked; its
            # points carry the result type of the rows' totals.
            whole = query.model_copy(update={"group_by": GroupBy.NONE, "limit": None})
            kind = answer.totals[0].result_type if answer.totals else None
            line = self._query(
                workspace,
                whole,
                cal,
                within_level=True,
                with_reach=False,
                series_only=True,
                totals_kind=(kind,),
            )
            answer.series = line.series
        return answer

    def _query(
        self,
        workspace: Workspace,
        query: MetricQuery,
        cal: Calendar,
        *,
        with_series: bool = True,
        with_reach: bool = True,
        within_level: bool = False,
        series_only: bool = False,
        totals_kind: tuple[str | None] | None = None,
    ) -> MetricQueryResult:
        """``series_only``: the series alone is wanted (a grouped question's line over its
        rows): no groups or totals are read, and the answer has none. ``totals_kind``: the
        totals' result type when the caller has it (not looked up again)."""
        tz = cal.timezone
        lo, hi = cal.instants()
        scope = FactScope(
            workspace_id=workspace.id,
            start_utc=lo,
            end_utc=hi,
            timezone=tz,
            windows=list(cal.windows),
            zones=list(cal.zones),
            workspace_zone=workspace.timezone,
            week_start=WEEKDAYS.index(workspace.week_start) + 1,
            connection_ids=query.connection_ids,
            providers=query.providers,
            entity_ids=query.entity_ids,
            statuses=query.statuses,
        )
        grain = {Bucket.MINUTE: "minute", Bucket.HOUR: "hour"}.get(query.granularity, "day")
        grains = ["day", "hour"] if grain == "day" else [grain]
        use_rollups = self.use_rollups and rollups_answer(query, with_series=with_series)
        # Ungrouped and filtered to entities of one level: their own rollup rows answer (the
        # facts under an entity are those its rows sum), not every fact under them.
        filtered_level = (
            self._filtered_level(workspace, query, with_series)
            if self.use_rollups and not use_rollups and not within_level
            else None
        )
        use_rollups = use_rollups or filtered_level is not None
        read_level = query.level
        series_of: Callable[..., list[dict[str, Any]]]
        if use_rollups:
            scope_filtered = bool(query.statuses or query.connection_ids)
            if filtered_level is not None:
                read_level = filtered_level
            elif query.group_by is not GroupBy.ENTITY and not (scope_filtered or within_level):
                read_level = GroupLevel.WORKSPACE  # totals need no hierarchy: cheapest rows
            repository.serial_reads(self.session)
            source, zones = self._rollup_fact_levels(scope, grains)
            if within_level and query.level is GroupLevel.AD and not scope_filtered:
                # Every fact of an ad-level source is under its ad: the workspace's rows of
                # those sources are the ad rows' sum (a twentieth of the rows to read).
                source = repository.sources_at(source, query.level)
                zones = zones if source else set()
                read_level = GroupLevel.WORKSPACE
            # Day rows (daily facts', or hours summed per day: ``by_days``) are one per entity,
            # day, zone and source: one series point when one zone's days (or one entity's)
            # answer.
            days_aligned = all(spec.endswith((":day", ":hour")) for spec in source.values()) and (
                len(zones) <= 1 or query.group_by is GroupBy.ENTITY
            )
            totals_of, series_of = repository.rollup_group_totals, repository.rollup_series
        else:
            days_aligned = False
            repository.allow_fact_sorts(self.session)
            if self.use_rollups and "minute" not in grains:
                # Which levels answer, from the workspace's rollup rows (a few dozen) rather
                # than a DISTINCT over the range's facts (0.1-0.3 s at 140k facts); the
                # facts-only path (``use_rollups=False``) keeps asking the facts.
                source, _ = self._rollup_fact_levels(scope, grains)
            else:
                source = repository.fact_levels(self.session, scope, grains)
            totals_of, series_of = repository.group_totals, repository.series
            if within_level:
                series_of = functools.partial(repository.series, within_level=True)
        notes: list[str] = []
        level = query.level
        kwargs: dict[str, Any] = {
            "level": read_level,
            "group_by": query.group_by,
            "source": source,
            "grain": grain,
        }
        points: list[dict[str, Any]] | None = None
        acts = actions_query.view_for(
            self.session, scope, query, read_level, self.writes, series_only=series_only
        )
        target = currency.target_of(query.currency, workspace.reporting_currency)
        if target is not None and (query.actions or query.conversion):
            notes.append(
                f"action and conversion columns are per currency: the answer is not converted "
                f"to {target}"
            )
            target = None
        converted: currency.Conversion | None = None
        formatted: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
        if target is None and use_rollups and not series_only and acts.windows is None:
            # No raw sum is changed after the read (no conversion, no fixed attribution):
            # the database sums and formats the rows and their totals.
            formatted = repository.rollup_group_rows(self.session, scope, **kwargs)
            groups_raw = []
        elif target is not None:
            converted = self._convert(scope, query, target, series_of, kwargs, acts)
            groups_raw = repository.totals_of_series(
                self.session, converted.points, by_entity=query.group_by is GroupBy.ENTITY
            )
        elif series_only:
            groups_raw = []
        elif not use_rollups and self.use_rollups and query.limit is None and with_series:
            # Every group's series is wanted: one read of the facts gives the series, and
            # the totals are summed from it (a second read cost as much as the first).
            points = series_of(self.session, scope, bucket=query.granularity, **kwargs)
            groups_raw = repository.totals_of_series(
                self.session, points, by_entity=query.group_by is GroupBy.ENTITY
            )
        else:
            groups_raw = totals_of(self.session, scope, **kwargs)
        if converted is None:
            acts.adjust_raw(groups_raw)  # a fixed attribution's purchases, leads...
        shown = currency.rounded if converted is not None else dict
        entity_level = level.value if query.group_by is GroupBy.ENTITY else None
        if formatted is not None:
            groups = [_group_row(r, entity_level) for r in formatted[0]]
        else:
            groups = [
                _group_row(
                    metric_row(shown(r)) | {"grp": r["grp"], "name": r["name"]}, entity_level
                )
                for r in groups_raw
            ]
        if converted is not None:
            for g, r in zip(groups, groups_raw, strict=True):
                g.update(
                    converted.marks(r["currency"], converted.origins.get((r["grp"], r["currency"])))
                )
        acts.decorate_groups(groups)
        kinds: dict[str, str | None]
        if totals_kind is not None:
            kinds, total_kind = {}, totals_kind[0]
        else:
            kinds, total_kind = self._result_types(scope, query, source, groups)
        if query.statuses and query.group_by is GroupBy.ENTITY:
            # The ad sets behind the rows a status filter kept, not every ad set in view.
            total_kind = one_result_type(kinds.get(g["group"]) for g in groups)
        for g in groups:
            with_result_type(g, kinds.get(g["group"]))
        # Ties: a stable, known order.
        groups = ordered(
            groups,
            query.sort,
            query.descending,
            query.limit,
            lambda r: (r["group"], r["currency"]),
        )
        chosen: list[str] | None = None
        if query.limit is not None and query.group_by is not GroupBy.NONE:
            chosen = [g["group"] for g in groups]
        if use_rollups and query.granularity is Bucket.DAY and days_aligned:
            kwargs["exact"] = one_row_per_point(query, read_level, source)
        if converted is not None:
            points = self._converted_points(converted, chosen) if with_series else []
        elif points is None:
            points = (
                series_of(self.session, scope, bucket=query.granularity, groups=chosen, **kwargs)
                if with_series
                else []
            )
        if converted is None:
            acts.adjust_points(points, query.granularity)
        label_buckets(points, query.granularity, tz)
        if query.granularity is Bucket.DAY and query.group_by is GroupBy.ENTITY:
            one_day = all(w.start == w.end for w in cal.windows)  # per account zone
            self._add_reach(scope, query, points, groups, one_day=one_day)
        for p in points:
            with_result_type(p, kinds.get(p["group"]) if p["group"] else total_kind)
        if query.granularity is Bucket.DAY and query.group_by is GroupBy.ENTITY:
            for g in groups:  # results that are reach: the reach just found, if any
                if g["result_type"] is not None and g["result_type"] != MIXED:
                    with_result_type(g, g["result_type"])
        series = trusted_all(SeriesPoint, points) if with_series else []
        if formatted is not None:
            total_rows = [acts.total(_row(t)) for t in formatted[1]]  # by currency
        else:
            per_currency = _sum_rows(groups_raw, lambda r: r["currency"])
            total_rows = [
                acts.total(metric_row(shown(per_currency[c]))) for c in sorted(per_currency)
            ]
        for t in total_rows:
            with_result_type(t, total_kind)
            if converted is not None:
                t.update(
                    converted.marks(
                        t["currency"],
                        set().union(
                            *(
                                o
                                for (_, cur), o in converted.origins.items()
                                if cur == t["currency"]
                            )
                        ),
                    )
                )
        notes.extend(acts.notes())
        if MIXED in (total_kind, *kinds.values()):
            notes.append(
                'results: a row with result_type "mixed" sums ad sets that optimize for '
                "different results, so it has no results or cost per result (as in Ads "
                "Manager); group by ad set to see each one's"
            )
        reach_status = (
            self._add_range_reach(workspace, query, cal, groups, total_rows, notes)
            if with_reach
            else None
        )
        if reach_status == "fresh":  # results that are reach: the range's reach
            for row in (*groups, *total_rows):
                if row.get("result_type") not in (None, MIXED):
                    with_result_type(row, row["result_type"])
        totals = [MetricRow(**row) for row in total_rows]
        if converted is not None and (note := converted.note()):
            notes.append(note)
        elif len(totals) > 1:
            notes.append("amounts are in several currencies: totals are given per currency")
        if len(cal.zones) > 1:
            notes.append(
                "days are each ad account's own calendar days ("
                + ", ".join(cal.zones)
                + ")"
                + (f"; hours are shown in {tz}" if grain in ("hour", "minute") else "")
            )
        if len(cal.windows) > 1:
            notes.append(
                "the accounts' zones are on different dates now: "
                + "; ".join(
                    f"{', '.join(w.zones or ())}: {w.start.isoformat()} to {w.end.isoformat()}"
                    for w in cal.windows
                )
            )
        if grain == "hour" and any(p.conversions is None for p in series):
            notes.append(
                "conversions, leads, purchases, link clicks, video and results are null "
                "where the source has no hourly figure (Meta reports off-Meta conversions "
                "and video per day only)"
            )
        return MetricQueryResult(
            timezone=tz,
            granularity=query.granularity,
            level=level,
            group_by=query.group_by,
            start=cal.start,
            end=cal.end,
            preset=query.preset,
            ranges=[DayRange(**w.as_dict()) for w in cal.windows],
            account_timezones=list(cal.zones),
            week_start=workspace.week_start,
            source={"granularity": grain, "fact_level": source, "rollups": use_rollups},
            totals=totals,
            groups=[trusted(GroupRow, g) for g in groups],
            series=series,
            notes=notes,
            reach_status=reach_status,
            attribution=acts.label,
            attribution_mixed=acts.mixed,
            reporting_currency=target,
            missing_rates=[MissingRate(**m) for m in converted.missing_rates()]
            if converted
            else [],
            rate_sources=sorted(converted.sources) if converted else [],
        )

    def _convert(
        self,
        scope: FactScope,
        query: MetricQuery,
        target: str,
        series_of: Callable[..., list[dict[str, Any]]],
        kwargs: dict[str, Any],
        acts: actions_query.ActionsView,
    ) -> currency.Conversion:
        """Every group's figures per day (or per hour or minute for such buckets), converted
        at each day's rate (``metrics/currency.py``) and summed into the question's buckets."""
        hourly = query.granularity in (Bucket.HOUR, Bucket.MINUTE)
        fine_bucket = query.granularity if hourly else Bucket.DAY
        fine = series_of(self.session, scope, bucket=fine_bucket, **kwargs)
        acts.adjust_points(fine, fine_bucket)  # a fixed attribution's figures, per day
        span = currency.days_and_currencies(fine, hourly=hourly, tz=scope.timezone)
        rates = (
            fx.in_force(
                self.writes,  # rates just loaded count at once (the primary's)
                scope.workspace_id,
                start=span[0],
                end=span[1],
                currencies=[*span[2], target],
            )
            if span
            else {}
        )
        return currency.convert(
            fine,
            target=target,
            rates=rates,
            granularity=query.granularity,
            tz=scope.timezone,
            week_start=scope.week_start,
        )

    @staticmethod
    def _converted_points(
        converted: currency.Conversion, chosen: list[str] | None
    ) -> list[dict[str, Any]]:
        """The converted series as series points (the chosen groups' only, for a top-N)."""
        keep = set(chosen) if chosen is not None else None
        points = []
        for p in converted.points:
            if keep is not None and p["group"] not in keep:
                continue
            origins = converted.point_origins.get((p["bucket"], p["group"], p["currency"]))
            points.append(
                {
                    "bucket": p["bucket"],
                    "group": p["group"],
                    **metric_row(currency.rounded(p)),
                    **converted.marks(p["currency"], origins),
                }
            )
        return points

    def _result_types(
        self,
        scope: FactScope,
        query: MetricQuery,
        source: dict[str, str],
        groups: list[dict[str, Any]],
    ) -> tuple[dict[str, str | None], str | None]:
        """Each group's result type and the totals': one type shared by the ad sets it sums
        (those that delivered in the question's days, when they differ), else "mixed"."""
        if query.group_by is GroupBy.ENTITY and query.level is GroupLevel.AD:
            per_ad = repository.ad_result_types(
                self.session, scope.workspace_id, [g["group"] for g in groups]
            )
            return per_ad, one_result_type(per_ad.values())
        by = {
            GroupBy.ENTITY: query.level.value,
            GroupBy.PROVIDER: "provider",
            GroupBy.CONNECTION: "connection",
        }.get(query.group_by)
        if by is None:
            shared = repository.adset_result_kinds(self.session, scope)
            if len(shared) <= 1:
                return ({"all": shared[0]} if shared else {}), next(iter(shared), None)
        adsets = repository.adset_result_types(self.session, scope, by)
        if len({kind for _, _, kind in adsets}) > 1:
            # Types differ somewhere: count only the ad sets that delivered (an index probe
            # each; dashboards whose ad sets share a type never get here).
            live = repository.delivered_adsets(
                self.session, scope, source, [i for _, i, _ in adsets]
            )
            adsets = [a for a in adsets if a[1] in live]
        by_group: dict[str, list[str | None]] = {}
        for grp, _, kind in adsets:
            by_group.setdefault(grp or "all", []).append(kind)
        kinds = {grp: one_result_type(found) for grp, found in by_group.items()}
        return kinds, one_result_type(kind for _, _, kind in adsets)

    def _add_reach(
        self,
        scope: FactScope,
        query: MetricQuery,
        points: list[dict[str, Any]],
        groups: list[dict[str, Any]],
        *,
        one_day: bool,
    ) -> None:
        """Reach and frequency where Meta reported them: per entity and day at the grouped
        level; a group's total only when the range is one day (in each account's zone).
        Nothing is read when neither is asked: over several days with no line per entity
        (the dashboard's rows and one line over them), a month of 1,000 ads' daily reach was
        read for nothing (125 ms of the ad-level page's 450)."""
        if not one_day and not any(p.get("group") for p in points):
            return
        ids = sorted({g["group"] for g in groups})  # the points' groups: 80, not 2,400 points
        found = repository.daily_reach(self.session, scope, query.level, ids) if ids else {}
        if not found:
            return
        whole: dict[str, int] = {}  # a group's reach over the range: its one day's
        if one_day:
            whole = {grp: reach for (_, grp), reach in found.items()}
        for p in points:
            reach = found.get((p["bucket"], p["group"] or ""))
            if reach is not None:
                p["reach"], p["frequency"] = reach, share(p["impressions"], reach)
        for g in groups:
            reach = whole.get(g["group"])
            if reach is not None:
                g["reach"], g["frequency"] = reach, share(g["impressions"], reach)

    def _add_range_reach(
        self,
        workspace: Workspace,
        query: MetricQuery,
        cal: Calendar,
        groups: list[dict[str, Any]],
        totals: list[dict[str, Any]],
        notes: list[str],
    ) -> str | None:
        """Meta's reach and frequency over a range of several days (metrics/reach.py); a
        one-day range keeps the day's reach facts (``_add_reach``)."""
        if all(w.start == w.end for w in cal.windows):
            return "fresh" if any(g.get("reach") is not None for g in groups) else None
        if query.group_by not in (GroupBy.ENTITY, GroupBy.NONE):
            return None
        answer = reach.attach(
            self.session,
            workspace.id,
            windows=[((w.start, w.end), w.zones) for w in cal.windows],
            level=query.level.value,
            by_entity=query.group_by is GroupBy.ENTITY,
            groups=groups,
            totals=totals,
            connection_ids=query.connection_ids or None,
            today=self.clock().date(),
            entity_ids=query.entity_ids,
            statuses=bool(query.statuses),
            queue=self.writes,
        )
        notes.extend(answer.notes or ())
        return answer.status

    def latest(
        self, workspace: Workspace, *, hours: int, timezone: str | None = None
    ) -> LatestResult:
        check_timezone(timezone)
        zones = repository.account_zones(self.session, workspace, [])
        tz = timezone or (zones[0] if len(zones) == 1 else workspace.timezone)
        now = datetime.now(UTC)
        newest = repository.newest_fact_at(self.session, workspace.id)
        points: list[SeriesPoint] = []
        if newest is not None:
            scope = FactScope(
                workspace.id, newest - timedelta(hours=hours - 1), newest + timedelta(hours=1), tz
            )
            source, _ = repository.rollup_fact_levels(self.session, scope, ["hour"])
            rows = repository.rollup_series(
                self.session,
                scope,
                bucket=Bucket.HOUR,
                level=GroupLevel.WORKSPACE,
                group_by=GroupBy.NONE,
                source=source,
                grain="hour",
            )
            label_buckets(rows, Bucket.HOUR, tz)
            points = trusted_all(SeriesPoint, rows)
        fresh = []
        for f in connection_freshness(self.session, workspace_id=workspace.id):
            newest_end = f.newest_end
            age = int((now - newest_end).total_seconds() // 60) if newest_end else None
            fresh.append(
                Freshness(
                    connection_id=f.connection_id,
                    name=f.name,
                    status=f.status.value,
                    last_success_at=f.last_success_at.isoformat() if f.last_success_at else None,
                    newest_hour=f.newest_hour.astimezone(UTC).isoformat()
                    if f.newest_hour
                    else None,
                    age_minutes=age,
                    delayed=f.delayed(now),
                    state=f.state(now, DELAYED_AFTER).value,
                    no_delivery=f.no_delivery(now),
                    attention=(a.value if (a := f.attention(now)) else None),
                )
            )
        return LatestResult(timezone=tz, hours=points, freshness=fresh)
