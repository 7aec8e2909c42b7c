"""The measure registry: every number a metric fact carries, declared once.

Everything that handles measures reads this list: the fact and rollup tables (their columns),
the ingest parser and its limits, the COPY rows and the merge statement, the rollups, the query
layer's sums, the API schemas (ingest records, query rows), CSV, the Parquet archive and the
dashboard's labels. Adding an additive measure is one ``Measure`` here plus one migration that
adds its column to ``metric_facts`` and ``metric_rollups``; nothing else changes.

Kinds of measure:
- required (``nullable=False``): always known, 0 when a source does not send it (spend,
  impressions, clicks).
- reported (``nullable=True``, additive): null means "the source did not report it", which is
  not 0. Each belongs to a named *reporting group* (measures a source reports together): the
  rollups count, per group, the facts that reported any of its measures (``<group>_n``), so a
  sum of "not reported" stays null while a reported zero is 0. Groups: ``conversions`` (Meta's
  action figures: conversions, leads, purchases, purchase value; counter ``conversions_n``),
  ``engagement`` (link clicks, outbound clicks, landing page views, post engagement),
  ``video`` (plays, ThruPlays, watched percentages, watch time: Meta reports video by the day
  only, so hourly facts leave it null) and ``results`` (the ad set's optimization result).
  A new group is one more counter column on ``metric_rollups``.
- non-additive (``additive=False``): kept on facts, never summed nor rolled up (reach: people,
  deduplicated by Meta per range).

``declare`` adds a measure at start-up, before any other metricx module is imported (the
registry is read once, when those modules build their SQL and schemas); a test uses it to prove
that one declaration is all a new measure needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    MONEY = "money"  # in the account's currency
    COUNT = "count"  # events or people


class Format(StrEnum):
    """How a value is written in the API and on the dashboard."""

    MONEY = "money"  # decimal text, to the cent when it has no finer part
    INTEGER = "integer"  # a whole number
    DECIMAL = "decimal"  # decimal text (Meta reports action counts as decimals)


ALL_GRAINS = frozenset({"minute", "hour", "day"})
DAY_GRAIN = frozenset({"day"})
CONVERSIONS = "conversions"  # the first reporting group; its counter is conversions_n


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    label: str
    unit: Unit
    whole: bool  # bigint (a whole number) or numeric
    sql_type: str  # the column type in metric_facts and metric_rollups
    limit: int  # values are below this (what the column holds)
    nullable: bool = False
    additive: bool = True
    # The fact granularities Meta reports it at (a source may send it at any).
    meta_grains: frozenset[str] = ALL_GRAINS
    description: str = ""
    # The reporting group of a reported measure (see above); "" for the others.
    group: str = ""

    def __post_init__(self) -> None:
        if self.nullable and self.additive and not self.group:
            # A reported measure declared without a group joins the first one, as before
            # groups had names.
            object.__setattr__(self, "group", CONVERSIONS)

    @property
    def format(self) -> Format:
        if self.unit is Unit.MONEY:
            return Format.MONEY
        return Format.INTEGER if self.whole else Format.DECIMAL


MONEY_SQL = "numeric(18,6)"
COUNT_SQL = "numeric(18,4)"  # action counts: Meta reports them as decimal strings
INT_SQL = "bigint"
MONEY_LIMIT = 10**12
COUNT_LIMIT = 10**14
INT_LIMIT = 2**63


def money(
    name: str, label: str, *, nullable: bool = False, description: str = "", group: str = ""
) -> Measure:
    return Measure(
        name,
        label,
        Unit.MONEY,
        False,
        MONEY_SQL,
        MONEY_LIMIT,
        nullable,
        description=description,
        group=group,
    )


def count(
    name: str,
    label: str,
    *,
    nullable: bool = False,
    meta_grains: frozenset[str] = ALL_GRAINS,
    description: str = "",
    group: str = "",
) -> Measure:
    """A decimal count (Meta's action figures)."""
    return Measure(
        name,
        label,
        Unit.COUNT,
        False,
        COUNT_SQL,
        COUNT_LIMIT,
        nullable,
        meta_grains=meta_grains,
        description=description,
        group=group,
    )


def whole(
    name: str,
    label: str,
    *,
    nullable: bool = False,
    additive: bool = True,
    meta_grains: frozenset[str] = ALL_GRAINS,
    description: str = "",
    group: str = "",
) -> Measure:
    return Measure(
        name,
        label,
        Unit.COUNT,
        True,
        INT_SQL,
        INT_LIMIT,
        nullable,
        additive,
        meta_grains,
        description,
        group,
    )


_DAY = DAY_GRAIN
_ENGAGEMENT = "engagement"
_VIDEO = "video"


def _video(name: str, label: str, description: str = "") -> Measure:
    return count(
        name, label, nullable=True, meta_grains=_DAY, description=description, group=_VIDEO
    )


_REGISTRY: list[Measure] = [
    money("spend", "Spend", description="Amount spent, in the account's currency."),
    whole("impressions", "Impressions"),
    whole("clicks", "Clicks (all)", description="Meta's 'Clicks (all)'."),
    whole(
        "reach",
        "Reach",
        nullable=True,
        additive=False,
        meta_grains=_DAY,
        description="People reached in the fact's bucket; never summed (Meta deduplicates).",
    ),
    count("conversions", "Conversions", nullable=True),
    count("leads", "Leads", nullable=True),
    count("purchases", "Purchases", nullable=True),
    money("purchase_value", "Purchase value", nullable=True),
    whole(
        "link_clicks",
        "Link clicks",
        nullable=True,
        meta_grains=_DAY,
        description="Clicks on the ad's links (Meta's inline_link_clicks).",
        group=_ENGAGEMENT,
    ),
    count(
        "outbound_clicks",
        "Outbound clicks",
        nullable=True,
        meta_grains=_DAY,
        description="Clicks that took people off Meta's technologies.",
        group=_ENGAGEMENT,
    ),
    count(
        "landing_page_views",
        "Landing page views",
        nullable=True,
        meta_grains=_DAY,
        group=_ENGAGEMENT,
    ),
    count("post_engagement", "Post engagement", nullable=True, meta_grains=_DAY, group=_ENGAGEMENT),
    _video("video_plays", "3-second video plays", "Plays of at least 3 seconds (video_view)."),
    _video("thruplays", "ThruPlays", "Plays to the end, or of at least 15 seconds."),
    _video("video_p25", "Video plays at 25%"),
    _video("video_p50", "Video plays at 50%"),
    _video("video_p75", "Video plays at 75%"),
    _video("video_p95", "Video plays at 95%"),
    _video("video_p100", "Video plays at 100%"),
    _video(
        "video_watch_seconds",
        "Video watch time (s)",
        "Average play time times plays, summed: average play time is this over video plays.",
    ),
    count(
        "results",
        "Results",
        nullable=True,
        meta_grains=_DAY,
        description="The ad set's optimization result under its own attribution setting.",
        group="results",
    ),
]


def declare(measure: Measure) -> None:
    """Add ``measure`` to the registry. Only at start-up, before other metricx modules load."""
    if any(m.name == measure.name for m in _REGISTRY):
        raise ValueError(f"measure {measure.name!r} is already declared")
    _REGISTRY.append(measure)


def all_measures() -> tuple[Measure, ...]:
    """Every measure a fact carries, in column order."""
    return tuple(_REGISTRY)


def by_name() -> dict[str, Measure]:
    return {m.name: m for m in _REGISTRY}


def names(measures: tuple[Measure, ...] | None = None) -> tuple[str, ...]:
    return tuple(m.name for m in (all_measures() if measures is None else measures))


def rolled() -> tuple[Measure, ...]:
    """The measures summed into the rollups (every additive one), in column order."""
    return tuple(m for m in _REGISTRY if m.additive)


def reported() -> tuple[Measure, ...]:
    """Additive measures a source may leave unreported (null): every reporting group's."""
    return tuple(m for m in _REGISTRY if m.additive and m.nullable)


def groups() -> dict[str, tuple[Measure, ...]]:
    """The reporting groups, in the order their first measure is declared."""
    out: dict[str, list[Measure]] = {}
    for m in reported():
        out.setdefault(m.group, []).append(m)
    return {g: tuple(ms) for g, ms in out.items()}


def counter(group: str) -> str:
    """The rollups' column counting the facts that reported any measure of ``group``."""
    return f"{group}_n"


def counters() -> tuple[str, ...]:
    return tuple(counter(g) for g in groups())
