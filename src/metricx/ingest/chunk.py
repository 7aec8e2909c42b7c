"""One chunk of records made ready to write: each record checked, placed in UTC, keyed and
formatted as a staging row, or refused with its reason.

This is the CPU half of an ingest and touches no database: it runs in a worker thread while
the previous chunk is being written. It reads the import's entity cache; a record whose entity
the cache does not know yet is set aside (``pending``) for the writer, which looks the entity
up (or creates it) and then finishes the record with ``fill(..., final=True)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from metricx.facts.types import (
    FLAG_CLICKS_OVER_IMPRESSIONS,
    FLAG_SPEND_WITHOUT_IMPRESSIONS,
    FactInput,
)
from metricx.facts.writer import stage_line
from metricx.ingest.keys import natural_key_text, utc_stamp
from metricx.ingest.records import ParsedItem, RecordError, RecordRefused, check_measures
from metricx.ingest.repository import EntityRef, ExternalRef
from metricx.ingest.timing import bucket_start_utc


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """The time zone a record's local times are in, and the currency its account bills in."""

    tz: tzinfo
    currency: str | None


@dataclass(frozen=True, slots=True)
class KnownEntity:
    """An entity as the chunk stage needs it: its natural-key prefix
    (``workspace|provider|level|external_id|``), its id as text, and its account."""

    ref: EntityRef
    key_prefix: str
    id_text: str
    account: AccountInfo


# The import's entity cache: by entity id and by (provider, level, external id).
Entities = Mapping[uuid.UUID | ExternalRef, KnownEntity]


@dataclass
class Chunk:
    """A chunk ready for the writer. ``rows`` maps each natural key to (record index, staging
    line, flagged): the last record of a fact wins, the others count as ``duplicates``."""

    received: int
    rows: dict[str, tuple[int, str, bool]] = field(default_factory=dict)
    months: set[date] = field(default_factory=set)
    refused: list[tuple[ParsedItem, RecordError]] = field(default_factory=list)
    pending: list[ParsedItem] = field(default_factory=list)
    duplicates: int = 0


def _placed(
    fact: FactInput, tz: tzinfo, now: datetime, max_future: timedelta
) -> tuple[str, str, date]:
    """The fact's bucket start as its key stamp and its ISO text, and the month holding it."""
    utc = bucket_start_utc(fact, tz, now=now, max_future=max_future)
    return utc_stamp(utc), utc.isoformat(), date(utc.year, utc.month, 1)


def _lookup(fact: FactInput, entities: Entities) -> KnownEntity | None:
    if fact.entity_id is None:
        return entities.get((fact.provider, fact.level, fact.external_entity_id))  # type: ignore[arg-type]
    known = entities.get(fact.entity_id)
    if known is None:
        return None
    ref = known.ref
    for name, value in (
        ("provider", ref.provider),
        ("level", ref.level),
        ("external_entity_id", ref.external_id),
    ):
        given = getattr(fact, name)
        if given is not None and given != value:
            raise RecordRefused(RecordError(name, f"contradicts the entity's {value!r}"))
    return known


def fill(
    chunk: Chunk,
    items: Sequence[ParsedItem],
    *,
    entities: Entities,
    connection: AccountInfo | None,
    max_future: timedelta,
    final: bool,
) -> None:
    """Add ``items`` to ``chunk``. Unless ``final``, a record of an entity not in ``entities``
    goes to ``chunk.pending``; once final, it is refused as an unknown entity."""
    now = datetime.now(UTC)
    # Most records of a chunk share a few bucket starts: place each (time, zone) once.
    placed: dict[tuple[datetime, str, tzinfo], tuple[str, str, date]] = {}
    rows, months = chunk.rows, chunk.months
    for item in items:
        fact = item.fact
        try:
            if fact is None:
                assert item.error is not None
                raise RecordRefused(item.error)
            known = _lookup(fact, entities)
            if known is None:
                if not final:
                    chunk.pending.append(item)
                    continue
                raise RecordRefused(RecordError("entity_id", "unknown entity", "not_found"))
            account = connection or known.account
            if fact.event_at is not None:
                slot = (fact.event_at, fact.granularity, account.tz)
                at = placed.get(slot)
                if at is None:
                    at = placed[slot] = _placed(fact, account.tz, now, max_future)
            else:
                at = _placed(fact, account.tz, now, max_future)
            check_measures(fact)
            currency = fact.currency or account.currency
            if currency is None:
                raise RecordRefused(
                    RecordError("currency", "required: no connection gives this entity a currency")
                )
            if account.currency is not None and currency != account.currency:
                raise RecordRefused(
                    RecordError(
                        "currency", f"{currency} contradicts the ad account's {account.currency}"
                    )
                )
        except RecordRefused as refused:
            chunk.refused.append((item, refused.error))
            continue
        flags = 0
        if fact.clicks > fact.impressions:
            flags |= FLAG_CLICKS_OVER_IMPRESSIONS
        if fact.spend > 0 and fact.impressions == 0:
            flags |= FLAG_SPEND_WITHOUT_IMPRESSIONS
        stamp, iso, month = at
        ref = known.ref
        key = natural_key_text(known.key_prefix, fact.granularity, stamp)
        earlier = rows.get(key)
        if earlier is not None:
            chunk.duplicates += 1
            if earlier[0] > item.index:  # a pending record met a later one of the same fact
                continue
        months.add(month)
        rows[key] = (
            item.index,
            stage_line(key, iso, known.id_text, ref.provider, ref.level, fact, currency, flags),
            flags != 0,
        )
