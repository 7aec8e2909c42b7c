"""The fact as writers hand it in: ``FactInput``, with one attribute per registry measure.

``FactInput`` is built from the registry when this module loads (a slotted dataclass, as fast
to fill as a hand-written one): a measure declared in ``metricx.facts.measures`` is a field
here without an edit.
"""

from __future__ import annotations

import uuid
from dataclasses import field, make_dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from metricx.facts import measures as registry

Number = int | float | Decimal

# Bits of metric_facts.flags: suspicious but possible data, stored and flagged, not rejected.
FLAG_CLICKS_OVER_IMPRESSIONS = 1
FLAG_SPEND_WITHOUT_IMPRESSIONS = 2

_DOC = """A fact before the server resolves its entity, its UTC bucket and its natural key.

The entity: ``entity_id``, or ``external_entity_id`` + ``provider`` + ``level``.
The time: ``event_at`` (timezone-aware), or ``event_date`` + ``hour`` (+ ``minute``) as
wall-clock time in the account's time zone; on the repeated hour of a DST change, ``fold``
(0 = first occurrence, 1 = second) or ``utc_offset`` says which one.
The measures: one attribute per registry measure; a required one defaults to 0, a nullable
one to None (not reported).
``parents``: the external ids of the entity's ancestors, nearest first (an ad's ad set,
campaign and account), as the provider reported them with the fact. Only the sync sets it
(the API does not take it): an entity first seen in facts is filed under them at once, so
its facts count at every level before an entity sync lists it.
"""

_FIXED: list[tuple[str, Any, Any]] = [
    ("entity_id", uuid.UUID | None, None),
    ("external_entity_id", str | None, None),
    ("provider", str | None, None),
    ("level", str | None, None),
    ("event_at", datetime | None, None),
    ("event_date", date | None, None),
    ("hour", int | None, None),
    ("minute", int | None, None),
    ("fold", int | None, None),
    ("utc_offset", timedelta | None, None),
    ("currency", str | None, None),
]
# The fields a client may send, besides the measures (``parents`` is the sync's alone).
INPUT_FIELDS = ("granularity", *(name for name, _, _ in _FIXED))


def _measure_field(m: registry.Measure) -> tuple[str, Any, Any]:
    kind: Any = int if m.whole else Number
    if m.nullable:
        return (m.name, kind | None, field(default=None))
    return (m.name, kind, field(default=0))


if TYPE_CHECKING:

    class FactInput:
        granularity: str
        entity_id: uuid.UUID | None
        external_entity_id: str | None
        provider: str | None
        level: str | None
        event_at: datetime | None
        event_date: date | None
        hour: int | None
        minute: int | None
        fold: int | None
        utc_offset: timedelta | None
        currency: str | None
        parents: tuple[str, ...] | None
        __slots__: tuple[str, ...]

        def __init__(self, granularity: str, **fields: Any) -> None: ...
        def __getattr__(self, measure: str) -> Any: ...  # one per registry measure
        def __setattr__(self, name: str, value: Any) -> None: ...

else:
    FactInput = make_dataclass(
        "FactInput",
        [
            ("granularity", str),
            *((name, kind, field(default=default)) for name, kind, default in _FIXED),
            *(_measure_field(m) for m in registry.all_measures()),
            ("parents", tuple[str, ...] | None, field(default=None)),
        ],
        slots=True,
    )
    FactInput.__doc__ = _DOC
    FactInput.__module__ = __name__
