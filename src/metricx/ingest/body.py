"""Reading an ingest request body: gunzip on the fly, size caps, records in chunks.

The event loop only awaits the body's chunks as they arrive and hands the raw bytes to a
``BodyReader`` in a worker thread, which inflates, hashes, counts and splits them: a body that
is slow to take apart (a compression bomb, millions of blank lines) never stalls the other
requests. A JSON body (``{"records": [...]}``) is read whole, up to its cap. An NDJSON body
(one record per line) is read as a stream and handed on in chunks of lines, so memory stays
flat however long the stream is. Both are hashed as they are read (the Idempotency-Key check).

Body-level limits (the size caps, the expansion ratio of a gzip body, the blank lines of an
NDJSON body) refuse the whole request with 413; as the request is one transaction, nothing of
it is stored, even when earlier chunks were already written. Record-level limits (size,
nesting, array length: ``records.RecordLimits``) fail only the record past them.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from metricx.config import Settings
from metricx.errors import InvalidInput, MetricxError, PayloadTooLarge
from metricx.ingest.records import (
    NestedTooDeep,
    OversizeRecord,
    TooDeepRecord,
    loads_json,
    set_aside_deep_records,
)

NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines"}
)
STEP = 1024 * 1024  # decompressed bytes produced per step: a gzip bomb cannot balloon memory
HAND_OVER = 256 * 1024  # received bytes gathered before a trip to the worker thread
RATIO_FLOOR = 1024 * 1024  # inflated bytes below which any expansion ratio is fine
HEAD_BYTES = 4096  # the first bytes kept of an NDJSON line too large to keep
WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.strip() strips: a line of only these is blank


class UnsupportedMediaType(MetricxError):
    status_code = 415
    code = "unsupported_media_type"


def _human(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The body-level limits: bytes after gunzip, expansion of a gzip body, blank lines of an
    NDJSON body, and the size of one NDJSON line kept for parsing."""

    max_bytes: int
    max_ratio: int = 100
    max_blank_lines: int = 10_000
    max_record_bytes: int = 64 * 1024
    max_record_depth: int = 32  # a JSON body's record nested deeper is set aside, unparsed


@dataclass
class BodyReader:
    """The worker-thread half of reading a body: ``push`` raw chunks as they arrive, then
    ``pull`` until it answers None; ``close`` at the end of the body, and ``pull`` again.
    ``pull`` answers (index of the first record, records) once a chunk of records is ready:
    NDJSON lines (bytes, or an ``OversizeRecord``) or a JSON body's values. Never shared by
    two threads at once: the async side awaits each ``pull`` before the next call."""

    limits: BodyLimits
    ndjson: bool
    gzip: bool
    chunk_size: int
    hasher: Any
    split: bool = True  # False: only hash and count (an Idempotency-Key retry)
    received: int = 0  # bytes as sent (compressed, for a gzip body)
    inflated: int = 0
    blank_lines: int = 0
    closed: bool = False
    _input: list[bytes] = field(default_factory=list)
    _inflater: Any = None
    _tail: bytes = b""
    _skipping: OversizeRecord | None = None  # the too-large line being skipped
    _lines: list[Any] = field(default_factory=list)
    _start: int = 0
    _parts: list[bytes] = field(default_factory=list)  # a JSON body, until it is whole
    _records: list[Any] | None = None
    _done: bool = False

    def __post_init__(self) -> None:
        if self.gzip:
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def push(self, data: bytes) -> None:
        self.received += len(data)
        self._input.append(data)

    @property
    def waiting(self) -> int:
        return sum(len(d) for d in self._input)

    def close(self) -> None:
        self.closed = True

    def pull(self) -> tuple[int, list[Any]] | None:
        while True:
            if self.ndjson and len(self._lines) >= self.chunk_size:
                return self._take(self.chunk_size)
            piece = self._next_piece()
            if piece is not None:
                self._take_in(piece)
                continue
            if not self.closed or self._done:
                return None
            return self._end()

    # -- inflating ---------------------------------------------------------------------------
    def _next_piece(self) -> bytes | None:
        """At most STEP bytes of the body as sent (gunzipped), or None when all are used."""
        inflater = self._inflater
        if inflater is None:
            return self._input.pop(0) if self._input else None
        try:
            while True:
                if inflater.unconsumed_tail:
                    piece = inflater.decompress(inflater.unconsumed_tail, STEP)
                elif self._input:
                    piece = inflater.decompress(self._input.pop(0), STEP)
                else:
                    return None
                if piece:
                    return bytes(piece)
        except zlib.error as exc:
            raise InvalidInput(f"the gzip body is corrupt: {exc}") from None

    def _take_in(self, piece: bytes) -> None:
        self.inflated += len(piece)
        limits = self.limits
        if self.inflated > limits.max_bytes:
            raise self.too_large()
        if (
            self.gzip
            and self.inflated > RATIO_FLOOR
            and self.inflated > limits.max_ratio * self.received
        ):
            raise PayloadTooLarge(
                f"the gzip body inflates more than {limits.max_ratio} times its size (over "
                f"{self.inflated} bytes from {self.received}): refused as a compression bomb",
                details={"limit": "expansion_ratio", "max_expansion_ratio": limits.max_ratio},
            )
        self.hasher.update(piece)
        if not self.split:
            return
        if not self.ndjson:
            self._parts.append(piece)
            return
        if self._skipping is not None:  # the rest of a line too large to keep
            end = piece.find(b"\n")
            skipped = self._skipping
            self._skipping = OversizeRecord(
                skipped.size + (end if end >= 0 else len(piece)), skipped.head
            )
            if end < 0:
                return
            self._lines.append(self._skipping)
            self._skipping, piece = None, piece[end + 1 :]
        data = self._tail + piece
        if not data.translate(None, WHITESPACE):  # blank lines only: count, never split
            self.blank_lines += data.count(b"\n")
            self._tail = data[data.rfind(b"\n") + 1 :]
        else:
            parts = data.split(b"\n")
            self._tail = parts.pop()
            kept = list(filter(None, map(bytes.strip, parts)))  # C speed, line by line
            self.blank_lines += len(parts) - len(kept)
            self._lines += kept
        if self.blank_lines > limits.max_blank_lines:
            raise PayloadTooLarge(
                f"the NDJSON body holds more than {limits.max_blank_lines} blank lines",
                details={"limit": "blank_lines", "max_blank_lines": limits.max_blank_lines},
            )
        if len(self._tail) > limits.max_record_bytes:
            self._skipping = OversizeRecord(len(self._tail), self._tail[:HEAD_BYTES])
            self._tail = b""

    def _take(self, n: int) -> tuple[int, list[Any]]:
        start, batch = self._start, self._lines[:n]
        self._lines = self._lines[n:]
        self._start += len(batch)
        return start, batch

    def _end(self) -> tuple[int, list[Any]] | None:
        """The body is all in: its last records (one chunk per call), then None."""
        if self._inflater is not None and not self._inflater.eof:
            raise InvalidInput("the gzip body ends early")
        if not self.split:
            self._done = True
            return None
        if not self.ndjson:
            if self._records is None:
                raw, self._parts = b"".join(self._parts), []
                self._records = parse_envelope(raw, self.limits.max_record_depth)
                self._lines = self._records
            if not self._lines:
                self._done = True
                return None
            return self._take(self.chunk_size)
        if self._skipping is not None:
            self._lines.append(self._skipping)
            self._skipping = None
        elif self._tail.strip():
            self._lines.append(self._tail)
        self._tail = b""
        if not self._lines:
            self._done = True
            return None
        return self._take(self.chunk_size)

    def too_large(self) -> PayloadTooLarge:
        limit = self.limits.max_bytes
        kind = "NDJSON" if self.ndjson else "JSON"
        hint = "" if self.ndjson else "; send larger loads as NDJSON (application/x-ndjson)"
        return PayloadTooLarge(
            f"{kind} request body over the limit of {limit} bytes ({_human(limit)}){hint}",
            details={"limit": "body_bytes", "limit_bytes": limit},
        )


@dataclass
class IngestBody:
    request: Request
    ndjson: bool
    limits: BodyLimits
    hasher: Any = field(default_factory=hashlib.sha256)

    @classmethod
    def of(cls, request: Request, *, settings: Settings, salt: str) -> IngestBody:
        media = request.headers.get("content-type", "application/json").split(";")[0].strip()
        ndjson = media.lower() in NDJSON_TYPES
        if not ndjson and media.lower() not in ("application/json", ""):
            raise UnsupportedMediaType(
                f'send application/json ({{"records": [...]}}) or application/x-ndjson, '
                f"not {media!r}"
            )
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            raise UnsupportedMediaType(f"Content-Encoding {encoding!r}: only gzip is accepted")
        limits = BodyLimits(
            settings.ingest_max_ndjson_bytes if ndjson else settings.ingest_max_json_bytes,
            settings.ingest_max_expansion_ratio,
            settings.ingest_max_blank_lines,
            settings.ingest_max_record_bytes,
            settings.ingest_max_depth,
        )
        body = cls(request, ndjson, limits)
        body.hasher.update(salt.encode() + b"\n")
        declared = request.headers.get("content-length")
        too_long = declared is not None and declared.isdigit() and int(declared) > limits.max_bytes
        if encoding != "gzip" and too_long:
            raise body.reader(1).too_large()
        return body

    @property
    def gzip(self) -> bool:
        return self.request.headers.get("content-encoding", "").strip().lower() == "gzip"

    def reader(self, chunk_size: int, *, split: bool = True) -> BodyReader:
        return BodyReader(self.limits, self.ndjson, self.gzip, chunk_size, self.hasher, split)

    async def _read(self, reader: BodyReader) -> AsyncIterator[tuple[int, list[Any]]]:
        """The event loop's part: await the chunks, hand them to ``reader`` in a thread."""
        async for data in self.request.stream():
            if not data:
                continue
            reader.push(data)
            if reader.waiting < HAND_OVER:
                continue
            while (batch := await run_in_threadpool(reader.pull)) is not None:
                yield batch
        reader.close()
        while (batch := await run_in_threadpool(reader.pull)) is not None:
            yield batch

    async def drain(self) -> str:
        """Read (and hash) the whole body without keeping it; the hash."""
        async for _ in self._read(self.reader(1, split=False)):
            pass
        return str(self.hasher.hexdigest())

    async def records(self, chunk_size: int) -> AsyncIterator[tuple[int, list[Any]]]:
        """(index of the first record, records) in chunks: JSON values, or NDJSON lines."""
        async for batch in self._read(self.reader(chunk_size)):
            yield batch

    def digest(self) -> str:
        return str(self.hasher.hexdigest())


def parse_envelope(raw: bytes, max_record_depth: int = 32) -> list[Any]:
    """The records of a JSON body. A record nested too deep for the parser is set aside
    (``TooDeepRecord``) so that it fails alone and the others are parsed and stored."""
    set_aside: dict[str, TooDeepRecord] = {}
    try:
        try:
            body = loads_json(raw)
        except NestedTooDeep:
            raw, set_aside = set_aside_deep_records(raw, max_record_depth)
            if not set_aside:
                raise
            body = loads_json(raw)
    except ValueError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc}", details=[{"field": "body", "reason": str(exc)}]
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise InvalidInput(
            'the body must be a JSON object {"records": [...]}',
            details=[{"field": "records", "reason": "required, a list"}],
        )
    extra = sorted(set(body) - {"records"})
    if extra:
        raise InvalidInput(
            f"unknown field {extra[0]!r} in the body",
            details=[{"field": extra[0], "reason": "unknown field"}],
        )
    records: list[Any] = body["records"]
    if set_aside:
        records = [set_aside.get(r, r) if isinstance(r, str) else r for r in records]
    return records
