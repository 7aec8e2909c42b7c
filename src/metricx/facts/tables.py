"""The fact store's two tables, their measure columns from the registry: ``metric_facts``
(one row per measured bucket of one entity) and ``metric_rollups`` (facts pre-summed at the
grains dashboards read). Both are written only by ``metricx.facts.writer`` and
``metricx.facts.rollups``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from metricx.facts import measures as registry
from metricx.models.base import (
    Base,
    Granularity,
    Level,
    Provider,
    created_at,
    tenant_fk,
    text_enum,
    updated_at,
)

MONEY = Numeric(18, 6)
COUNT = Numeric(18, 4)  # action counts: Meta reports them as decimal strings
_TYPES: dict[str, TypeEngine[Any]] = {
    registry.MONEY_SQL: MONEY,
    registry.COUNT_SQL: COUNT,
    registry.INT_SQL: BigInteger(),
}


def measure_column(measure: registry.Measure, *, nullable: bool) -> Column[object]:
    """The column of one registry measure (facts and rollups)."""
    return Column(
        measure.name,
        _TYPES[measure.sql_type],
        nullable=nullable,
        server_default=None if nullable else "0",
    )


class MetricFact(Base):
    """One measured bucket (minute, hour or day) of one entity, starting at ``event_at`` (UTC).

    Partitioned by month on ``event_at``. The primary key is the natural key, the partition
    key and the workspace (in every key, for distribution by workspace; last, so the ingest
    merge probes the key's index by natural key and time alone). The natural key is a uuid5
    of (workspace, provider, level, external id, granularity, UTC bucket start), computed by
    the fact writer (``metricx.ingest.keys.natural_key_for``), so the same fact from the same
    source is one row and no two workspaces, providers, levels or
    granularities can collide. Only the ingest service writes here.
    """

    __tablename__ = "metric_facts"
    __table_args__ = (
        PrimaryKeyConstraint("natural_key", "event_at", "workspace_id"),
        tenant_fk("metric_facts", "entity_id", "entities", "CASCADE"),
        Index("ix_metric_facts_entity_id_event_at", "entity_id", "event_at"),
        Index("ix_metric_facts_workspace_id_event_at", "workspace_id", "event_at"),
        Index("ix_metric_facts_provider_event_at", "provider", "event_at"),
        Index("ix_metric_facts_event_at_brin", "event_at", postgresql_using="brin"),
        # The day's reach of chosen entities (reach is never summed: it is read from the
        # entity's daily fact): without it, the read walked every hourly fact of the range.
        Index(
            "ix_metric_facts_daily_reach",
            "entity_id",
            "event_at",
            postgresql_where=text("granularity = 'day' AND reach IS NOT NULL"),
        ),
        CheckConstraint(
            "spend >= 0 AND impressions >= 0 AND clicks >= 0", name="measures_not_negative"
        ),
        {"postgresql_partition_by": "RANGE (event_at)"},
    )

    natural_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    level: Mapped[Level] = mapped_column(text_enum(Level, "level"))
    granularity: Mapped[Granularity] = mapped_column(text_enum(Granularity, "granularity"))
    currency: Mapped[str] = mapped_column(String(3))
    flags: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    import_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    fetch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    # ...and one column per registry measure (metricx.facts.measures), added below.


for _m in registry.all_measures():
    setattr(MetricFact, _m.name, measure_column(_m, nullable=_m.nullable))


ROLLUP_STORAGE = {
    "fillfactor": "70",
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_analyze_scale_factor": "0.02",
}


class MetricRollup(Base):
    """Facts pre-summed at the grains dashboards read: per workspace and per account,
    campaign and ad set, per fact bucket (hour or day, and their local weeks), currency, source
    fact level, provider (two providers' facts are never one row) and account time zone (so
    each account's facts keep their own calendar days).

    Maintained incrementally by the ingest merge (a revision adds its delta; nothing is
    recomputed). ``level = 'workspace'`` rows carry the workspace id as ``entity_id``.
    ``facts`` counts contributing facts and each reporting group's counter (``conversions_n``,
    ``video_n``, ...: ``registry.counters()``) those that reported any measure of the group,
    so a sum of "not reported" stays distinguishable from a reported zero.
    """

    __tablename__ = "metric_rollups"
    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace_id",
            "granularity",
            "level",
            "event_at",
            "entity_id",
            "currency",
            "fact_level",
            "provider",
            "zone",
        ),
        # The chosen entities' rows of a range (a top-N series): the primary key orders by
        # time first, so reading 20 ad sets' days of a quarter would scan all 400's.
        Index(
            "ix_metric_rollups_entity",
            "workspace_id",
            "level",
            "granularity",
            "entity_id",
            "event_at",
        ),
        # Every import adds to the same few rows (the workspace's and its parents' hours):
        # room on each page keeps those updates HOT (no new index entries), and vacuum comes
        # early. Without it, a workspace's 950 hour rows of a month took 17,600 buffer reads
        # under a steady ingest (bench/load.py).
        {"postgresql_with": ROLLUP_STORAGE},
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    granularity: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(16))
    event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    currency: Mapped[str] = mapped_column(String(3))
    fact_level: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    # The account's time zone and the bucket's local date in it: days, weeks and months are
    # each account's own calendar days (``day`` follows from ``event_at`` and ``zone``).
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    facts: Mapped[int] = mapped_column(Integer, server_default="0")
    conversions_n: Mapped[int] = mapped_column(Integer, server_default="0")
    # ...and the other reporting groups' counters and one column per rolled-up registry
    # measure (metricx.facts.measures), added below.


for _counter in registry.counters():
    if _counter != "conversions_n":
        _column = Column(_counter, Integer, nullable=False, server_default="0")
        setattr(MetricRollup, _counter, _column)
for _m in registry.rolled():
    setattr(MetricRollup, _m.name, measure_column(_m, nullable=False))


class ActionFact(Base):
    """One action type under one attribution window of one ad's local day (the ``action_facts``
    family): ``count`` from Meta's ``actions``, ``value`` from ``action_values`` (null where Meta
    sent none), ``window`` 'default' for the ad set's own setting (``attribution_setting``, the
    row's) or one of the requested windows. Daily grain only; an ad-day's rows are replaced as a
    whole by each write (``metricx.facts.actions``). Partitioned by month on ``day``.
    """

    __tablename__ = "action_facts"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "entity_id", "day", "action_type", "window"),
        tenant_fk("action_facts", "entity_id", "entities", "CASCADE"),
        Index("ix_action_facts_workspace_id_day", "workspace_id", "day"),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    day: Mapped[date] = mapped_column(Date)
    action_type: Mapped[str] = mapped_column(String(200))
    window: Mapped[str] = mapped_column(String(32))
    count: Mapped[Any] = mapped_column(COUNT, nullable=True)
    value: Mapped[Any] = mapped_column(MONEY, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    attribution_setting: Mapped[str | None] = mapped_column(String(64))
    fetch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_at: Mapped[datetime] = updated_at()


BREAKDOWN_MEASURES = (
    "spend",
    "impressions",
    "clicks",
    "link_clicks",
    "conversions",
    "leads",
    "purchases",
    "purchase_value",
    "results",
)
_BREAKDOWN_TYPES: dict[str, TypeEngine[Any]] = {
    "spend": MONEY,
    "purchase_value": MONEY,
    "impressions": BigInteger(),
    "clicks": BigInteger(),
    "link_clicks": BigInteger(),
}
_ALWAYS = ("spend", "impressions", "clicks")  # every breakdown row carries them


class BreakdownFact(Base):
    """One ad's local day under one value of one breakdown set (``age_gender``: key1 the age,
    key2 the gender; one-field sets leave key2 ''). Daily grain only; a null measure was not
    reported (Meta returns no off-Meta actions with Type 1 breakdowns such as region; no reach
    with breakdowns for a window that starts over 13 months back). Partitioned by month on
    ``day``. Written only by ``metricx.facts.breakdowns``."""

    __tablename__ = "breakdown_facts"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "breakdown", "entity_id", "day", "key1", "key2"),
        tenant_fk("breakdown_facts", "entity_id", "entities", "CASCADE"),
        CheckConstraint(
            "spend >= 0 AND impressions >= 0 AND clicks >= 0", name="measures_not_negative"
        ),
        # The days a daily pass re-reads for their reach (sync/plan.py, reach_revisits): only
        # rows Meta gave no reach, so it is empty unless a backfill reached past 13 months.
        Index(
            "ix_breakdown_facts_without_reach",
            "workspace_id",
            "breakdown",
            "day",
            postgresql_where=text("reach IS NULL AND impressions > 0"),
        ),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    breakdown: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    day: Mapped[date] = mapped_column(Date)
    key1: Mapped[str] = mapped_column(String(100))
    key2: Mapped[str] = mapped_column(String(100), server_default="")
    currency: Mapped[str] = mapped_column(String(3))
    reach: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fetch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_at: Mapped[datetime] = updated_at()


class BreakdownRollup(Base):
    """Breakdown facts summed per ad set, campaign or account (``level``), day (``span`` 1) or
    Monday-to-Sunday week (``span`` 7, ``day`` its Monday: a month's question reads its whole
    weeks, not their days), value and currency; rebuilt for the days, weeks and entities each
    write touched. ``facts`` counts the summed
    facts, ``link_n``/``conversions_n``/``results_n`` those that reported the group, so a sum
    of "not reported" reads null, not 0. Reach is never summed, so it has no column here."""

    __tablename__ = "breakdown_rollups"
    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace_id",
            "breakdown",
            "level",
            "span",
            "day",
            "entity_id",
            "key1",
            "key2",
            "currency",
        ),
        tenant_fk("breakdown_rollups", "entity_id", "entities", "CASCADE"),
        Index(
            "ix_breakdown_rollups_entity",
            "workspace_id",
            "breakdown",
            "level",
            "span",
            "entity_id",
            "day",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    breakdown: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    span: Mapped[int] = mapped_column(SmallInteger)  # 1: a day; 7: the week from its Monday
    day: Mapped[date] = mapped_column(Date)
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    key1: Mapped[str] = mapped_column(String(100))
    key2: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    facts: Mapped[int] = mapped_column(Integer, server_default="0")
    link_n: Mapped[int] = mapped_column(Integer, server_default="0")
    conversions_n: Mapped[int] = mapped_column(Integer, server_default="0")
    results_n: Mapped[int] = mapped_column(Integer, server_default="0")


for _name in BREAKDOWN_MEASURES:
    _type = _BREAKDOWN_TYPES.get(_name, COUNT)
    _nullable = _name not in _ALWAYS
    setattr(
        BreakdownFact,
        _name,
        Column(_name, _type, nullable=_nullable, server_default=None if _nullable else "0"),
    )
    setattr(BreakdownRollup, _name, Column(_name, _type, nullable=False, server_default="0"))
