"""The query layer's questions and answers."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, create_model

from metricx.facts import measures as registry
from metricx.metrics.calendar import Preset

M = TypeVar("M", bound=BaseModel)


class Bucket(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class GroupBy(StrEnum):
    NONE = "none"
    ENTITY = "entity"
    PROVIDER = "provider"
    CONNECTION = "connection"
    CREATIVE = "creative"


class SeriesOf(StrEnum):
    """Which series an answer carries: one per group (the default), one line over the
    groups (per currency: what a chart of the whole selection draws), or none."""

    GROUP = "group"
    TOTAL = "total"
    NONE = "none"


class GroupLevel(StrEnum):
    WORKSPACE = "workspace"
    ACCOUNT = "account"
    CAMPAIGN = "campaign"
    ADSET = "adset"
    AD = "ad"


# The summed registry measures (every additive one), in the API's order.
BASE_MEASURES = registry.names(registry.rolled())
DERIVED_METRICS = (
    "ctr",
    "cpc",
    "cpm",
    "cpa",
    "roas",
    "conversion_rate",
    "cost_per_lead",
    "ctr_link",
    "cpc_link",
    "cost_per_thruplay",
    "avg_play_time",
    "cost_per_result",
)
# A row's result type when it sums ad sets that optimize for different results.
MIXED = "mixed"
SORTABLE = (*BASE_MEASURES, *DERIVED_METRICS, "name")


class MetricQuery(BaseModel):
    """A question to the query layer: days (``start`` and ``end``, inclusive, or a
    ``preset``) are each ad account's own calendar days; ``timezone`` shows hour and minute
    buckets."""

    start: date | None = None
    end: date | None = None
    preset: Preset | None = None
    granularity: Bucket = Bucket.DAY
    timezone: str | None = Field(
        default=None,
        description="IANA zone hour and minute buckets are shown in: the accounts' zone when "
        "they share one, else the workspace's. Days are always each account's own.",
    )
    level: GroupLevel = GroupLevel.CAMPAIGN
    group_by: GroupBy = GroupBy.NONE
    connection_ids: list[uuid.UUID] = Field(default_factory=list)
    providers: list[str] = Field(default_factory=list)
    entity_ids: list[uuid.UUID] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=list)
    sort: str = "spend"
    descending: bool = True
    limit: int | None = Field(default=None, ge=1, le=1000)
    series: SeriesOf = SeriesOf.GROUP
    # Action figures (metrics/actions_query.py): None = Meta's default attribution.
    attribution: list[str] | None = None
    actions: list[str] = Field(default_factory=list)
    conversion: str | None = None
    # The reporting currency (metrics/currency.py): None = the workspace's; "native" = none.
    currency: str | None = None
    # A breakdown set's name (metrics/by_breakdown.py): rows per value of it.
    breakdown: str | None = None


class ActionColumn(BaseModel):
    """One action type's figures in a row, under the answer's attribution."""

    name: str = Field(description="A custom conversion's name, else the action type.")
    count: str | None = Field(description="Actions (decimal text).")
    value: str | None = Field(description="Their value (action_values); null: none reported.")
    cost_per: str | None = Field(description="Spend / count.")


class ConversionColumn(BaseModel):
    """A workspace conversion's figures in a row, under the answer's attribution."""

    name: str
    count: str | None
    value: str | None = Field(description="Per its value source; null for 'none'.")
    cost_per: str | None = Field(description="Spend / count.")
    roas: float | None = Field(description="Value / spend.")


class _RowBase(BaseModel):
    currency: str


def _row_measure(m: registry.Measure) -> tuple[Any, Any]:
    kind: Any = int | None if m.whole else str | None
    text = f"{m.label}" + (" (decimal text)" if not m.whole else "")
    return (kind, Field(default=None, description=text))


if TYPE_CHECKING:

    class _RowMeasures(_RowBase):
        def __getattr__(self, measure: str) -> Any: ...  # one field per summed measure

else:
    _RowMeasures = create_model(
        "_RowMeasures",
        __base__=_RowBase,
        **{m.name: _row_measure(m) for m in registry.rolled()},
    )


class MetricRow(_RowMeasures):
    """Summed base measures (money as decimal strings) and the ratios derived from them.

    A measure is null where the source has no such figure (Meta gives no off-Meta
    conversions per hour); a ratio is null where its denominator is zero or null."""

    ctr: float | None = None
    cpc: str | None = None
    cpm: str | None = None
    cpa: str | None = None
    roas: float | None = None
    conversion_rate: float | None = None
    cost_per_lead: str | None = None
    ctr_link: float | None = Field(default=None, description="Link clicks / impressions.")
    cpc_link: str | None = Field(default=None, description="Spend / link clicks.")
    cost_per_thruplay: str | None = None
    avg_play_time: float | None = Field(
        default=None,
        description="Average video play time in seconds: watch seconds / 3-second plays "
        "(a weighted average, never an average of averages).",
    )
    cost_per_result: str | None = None
    result_type: str | None = Field(
        default=None,
        description="What `results` counts, from the ad sets' optimization goals (Meta's "
        'result indicator: "actions:offsite_conversion.fb_pixel_purchase", "reach", ...); '
        '"mixed" where the row sums ad sets optimizing for different results: `results` and '
        "`cost_per_result` are null then, as in Ads Manager.",
    )
    reach: int | None = Field(
        default=None,
        description="People reached, as Meta reports it: only in day buckets of entities "
        "grouped at a level Meta reported reach for (reach does not add up across days, "
        "ads or levels, so it is never summed), and in their totals for a one-day range.",
    )
    frequency: float | None = Field(default=None, description="Impressions / reach.")
    actions: dict[str, ActionColumn] | None = Field(
        default=None, description="With actions=: a column per action type asked."
    )
    conversion: ConversionColumn | None = Field(
        default=None, description="With conversion=: the workspace conversion's figures."
    )
    attribution_mixed: bool | None = Field(
        default=None,
        description="Under the default attribution: the row's conversions come from ad sets "
        "with different attribution settings (Meta does not aggregate those).",
    )
    converted: bool | None = Field(
        default=None,
        description="With a reporting currency: the row's amounts include amounts converted "
        "from another currency, each day at that day's rate.",
    )
    original_currencies: list[str] | None = Field(
        default=None,
        description="With a reporting currency: the currencies the row's amounts were in.",
    )


class SeriesPoint(MetricRow):
    bucket: str = Field(description="Bucket start: local date, or an instant with offset.")
    bucket_utc: str | None = Field(default=None, description="Hour/minute buckets: UTC start.")
    group: str | None = None


class GroupRow(MetricRow):
    group: str
    name: str | None = None
    level: str | None = None
    title: str | None = Field(
        default=None, description="group_by=creative: the creative's title (its headline)."
    )
    thumbnail_url: str | None = Field(
        default=None,
        description="group_by=creative: metricx's stored copy of the creative's thumbnail.",
    )
    breakdown: dict[str, str] | None = Field(
        default=None,
        description="With breakdown=: the row's value of each breakdown field, "
        'e.g. {"age": "18-24", "gender": "female"}.',
    )


class DayRange(BaseModel):
    start: date
    end: date
    timezones: list[str] = Field(
        description="The account zones these dates are for; empty: every account in view."
    )


class MetricQueryResult(BaseModel):
    timezone: str = Field(description="The zone hour and minute buckets are shown in.")
    granularity: Bucket
    level: GroupLevel
    group_by: GroupBy
    start: date = Field(description="The first day any account's range covers.")
    end: date = Field(description="The last day any account's range covers.")
    preset: Preset | None = None
    ranges: list[DayRange] = Field(
        default_factory=list,
        description="The days per account zone: one range unless a preset falls on "
        "different dates in the accounts' zones (around midnight).",
    )
    account_timezones: list[str] = Field(
        default_factory=list,
        description="The zones of the ad accounts in view: each one's days are its own.",
    )
    week_start: str = "monday"
    source: dict[str, Any] = Field(
        description="Which facts answered: granularity used and fact level per provider."
    )
    totals: list[MetricRow]
    groups: list[GroupRow]
    series: list[SeriesPoint]
    notes: list[str] = Field(default_factory=list)
    reach_status: str | None = Field(
        default=None,
        description="Reach and frequency over the range, which Meta deduplicates (never a sum "
        "of days): fresh (Meta's figure for the range is shown), pending (being fetched from "
        "Meta: ask again shortly), unavailable (Meta has none: ads over several days, hours, "
        "over 37 months back); null when the question shows no reach.",
    )
    attribution: str = Field(
        default="default",
        description="default (each ad set's own setting) or the windows summed, e.g. "
        "1d_view,7d_click.",
    )
    attribution_mixed: bool = Field(
        default=False,
        description="Under the default attribution, some total mixes attribution settings.",
    )
    reporting_currency: str | None = Field(
        default=None,
        description="The currency amounts were converted to (the question's `currency`, else "
        "the workspace's reporting currency); null: per currency, never added up.",
    )
    missing_rates: list[MissingRate] = Field(
        default_factory=list,
        description="Currencies and days without an exchange rate: their amounts are not "
        "converted (they stay in rows of their own currency), so the reporting currency's "
        "total is incomplete.",
    )
    rate_sources: list[str] = Field(
        default_factory=list,
        description="Where the rates used came from: scope:source, e.g. operator:file, "
        "operator:fetch, workspace:api.",
    )
    breakdown: str | None = Field(
        default=None, description="The breakdown set the rows are split by, if any."
    )
    breakdown_fields: list[str] = Field(
        default_factory=list, description="Its fields, the keys of each row's breakdown."
    )
    reconciliation: list[Reconciliation] = Field(
        default_factory=list,
        description="With a breakdown: per currency, spend, impressions and clicks summed over "
        "the breakdown values against the unbroken total.",
    )


class Reconciliation(BaseModel):
    """One measure of one currency: the breakdown values' sum against the unbroken total."""

    currency: str
    measure: str
    breakdown_total: str
    total: str
    difference: str = Field(description="breakdown_total - total.")
    relative: float | None = Field(description="difference / total; null when total is 0.")
    within_tolerance: bool = Field(
        description="|relative| at most METRICX_BREAKDOWN_TOLERANCE (Meta's breakdown values "
        "are estimates)."
    )


class MissingRate(BaseModel):
    currency: str
    day: date


class Freshness(BaseModel):
    connection_id: uuid.UUID
    name: str
    status: str
    last_success_at: str | None
    newest_hour: str | None = Field(description="UTC start of the newest hour with data.")
    age_minutes: int | None = Field(description="Minutes since the end of that hour.")
    delayed: bool = Field(
        description="Behind for over 3 hours while expected to deliver: no successful sync "
        "and no new hour for that long, or Meta access lost."
    )
    state: str = Field(
        default="fresh",
        description="fresh; stale (behind, syncs need a look); blocked (behind, Meta access "
        "lost: reconnect); idle (paused, disconnected or disabled: nothing expected).",
    )
    no_delivery: bool = Field(
        default=False,
        description="Current (its syncs succeed) but no new hour for over 3 hours: the "
        "account delivered nothing new (paused campaigns, spent budget), not a delay.",
    )
    attention: str | None = Field(
        default=None,
        description="What the connection needs from a person, whatever its data's age: "
        "reauth (Meta's token revoked, invalid or expired: reconnect), paused (resume), "
        "failing (its syncs fail), disconnected; null: nothing.",
    )


class ReadState(BaseModel):
    """Which server answered the reads: the primary, or the read replica and its lag."""

    read_from: str = Field(description="primary or replica")
    replica_lag_seconds: float | None = Field(
        default=None, description="How far the replica is behind; null without one."
    )
    replica_reachable: bool | None = Field(
        default=None, description="Whether the replica answered; null without one."
    )


class LatestResult(BaseModel):
    timezone: str
    hours: list[SeriesPoint]
    freshness: list[Freshness]
    reads: ReadState | None = None


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """A model from values the query layer made itself, already in the model's types, with a
    value for every field: no validation and none of ``model_construct``'s per-field work
    (dashboards build thousands of series points per answer)."""
    return trusted_all(cls, [values])[0]


def trusted_all(cls: type[M], rows: list[dict[str, Any]]) -> list[M]:
    """``trusted`` for many rows (a series): the per-class work done once."""
    fields = _all_fields(cls)
    new, setattr_ = cls.__new__, object.__setattr__
    models = []
    for values in rows:
        model = new(cls)
        setattr_(model, "__dict__", values)
        setattr_(model, "__pydantic_fields_set__", fields)
        setattr_(model, "__pydantic_extra__", None)
        setattr_(model, "__pydantic_private__", None)
        models.append(model)
    return models


_FIELDS: dict[type[BaseModel], frozenset[str]] = {}


def _all_fields(cls: type[BaseModel]) -> frozenset[str]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = frozenset(cls.model_fields)
    return found
