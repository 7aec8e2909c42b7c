"""The CPU half of an ingest chunk: records of entities not cached yet wait for the writer,
and the last record of a fact wins even when an earlier one was finished later."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from metricx.ingest.chunk import AccountInfo, Chunk, KnownEntity, fill
from metricx.ingest.records import ParsedItem, parse_record
from metricx.ingest.repository import EntityRef
from metricx.ingest.timing import zone

WS = uuid.uuid4()
UTC_ACCOUNT = AccountInfo(zone("UTC"), "USD")
AT = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def _known(external_id: str) -> KnownEntity:
    ref = EntityRef(uuid.uuid4(), "meta", "ad", external_id, None)
    return KnownEntity(ref, f"{WS}|meta|ad|{external_id}|", str(ref.id), UTC_ACCOUNT)


def _cache(*known: KnownEntity) -> dict[object, KnownEntity]:
    cache: dict[object, KnownEntity] = {}
    for k in known:
        cache[k.ref.id] = k
        cache[(k.ref.provider, k.ref.level, k.ref.external_id)] = k
    return cache


def _item(index: int, external_id: str, spend: str) -> ParsedItem:
    raw = {
        "external_entity_id": external_id,
        "provider": "meta",
        "level": "ad",
        "granularity": "hour",
        "event_at": AT.isoformat(),
        "spend": spend,
        "currency": "USD",
    }
    return ParsedItem(index, parse_record(raw), None, raw)


def _fill(
    chunk: Chunk, items: list[ParsedItem], cache: dict[object, KnownEntity], final: bool
) -> None:
    fill(
        chunk,
        items,
        entities=cache,  # type: ignore[arg-type]
        connection=None,
        max_future=timedelta(hours=48),
        final=final,
    )


def test_a_record_of_an_uncached_entity_waits_for_the_writer() -> None:
    known = _known("a1")
    chunk = Chunk(received=2)
    _fill(chunk, [_item(0, "a1", "1.50"), _item(1, "new", "2.50")], _cache(known), final=False)
    assert [i.index for i in chunk.pending] == [1]
    assert [index for index, _, _ in chunk.rows.values()] == [0]

    new = _known("new")
    pending, chunk.pending = chunk.pending, []
    _fill(chunk, pending, _cache(known, new), final=True)
    lines = sorted(line for _, line, _ in chunk.rows.values())
    assert len(lines) == 2 and not chunk.pending and not chunk.refused
    assert any(f"\t{new.id_text}\tmeta\tad\thour\t2.50\t" in line for line in lines)


def test_an_earlier_record_finished_later_does_not_replace_the_later_one() -> None:
    # The writer added the entity to the cache while this chunk was being prepared: the
    # first record of the fact went pending, the second was prepared at once.
    known = _known("a1")
    chunk = Chunk(received=2)
    _fill(chunk, [_item(0, "a1", "1.00")], {}, final=False)
    _fill(chunk, [_item(1, "a1", "9.00")], _cache(known), final=False)
    pending, chunk.pending = chunk.pending, []
    _fill(chunk, pending, _cache(known), final=True)
    assert chunk.duplicates == 1
    [(index, line, _)] = chunk.rows.values()
    assert index == 1 and "\t9.00\t" in line


def test_an_entity_id_still_unknown_to_the_writer_is_refused() -> None:
    raw = {"entity_id": str(uuid.uuid4()), "granularity": "hour", "event_at": AT.isoformat()}
    item = ParsedItem(0, parse_record(raw), None, raw)
    chunk = Chunk(received=1)
    _fill(chunk, [item], {}, final=False)
    assert chunk.pending == [item]
    chunk.pending = []
    _fill(chunk, [item], {}, final=True)
    [(refused, error)] = chunk.refused
    assert refused is item and error.code == "not_found" and error.field == "entity_id"
    assert not chunk.rows
