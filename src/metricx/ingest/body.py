"""Reading an ingest request body: gunzip on the fly, size caps, records in chunks.

A JSON body (``{"records": [...]}``) is read whole, up to its cap. An NDJSON body (one record
per line) is read as a stream and handed on in chunks of lines, so memory stays flat however
long the stream is. Both are hashed as they are read (the Idempotency-Key check).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from metricx.errors import InvalidInput, MetricxError, PayloadTooLarge
from metricx.ingest.records import loads_json

NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines"}
)
MAX_LINE_BYTES = 1024 * 1024
STEP = 1024 * 1024  # decompressed bytes produced per step: a gzip bomb cannot balloon memory


class UnsupportedMediaType(MetricxError):
    status_code = 415
    code = "unsupported_media_type"


def _human(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


@dataclass
class IngestBody:
    request: Request
    ndjson: bool
    limit: int
    hasher: Any = field(default_factory=hashlib.sha256)

    @classmethod
    def of(cls, request: Request, *, json_limit: int, ndjson_limit: int, salt: str) -> IngestBody:
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
        body = cls(request, ndjson, ndjson_limit if ndjson else json_limit)
        body.hasher.update(salt.encode() + b"\n")
        declared = request.headers.get("content-length")
        if encoding != "gzip" and declared and declared.isdigit() and int(declared) > body.limit:
            raise body.too_large()
        return body

    def too_large(self) -> PayloadTooLarge:
        kind = "NDJSON" if self.ndjson else "JSON"
        hint = "" if self.ndjson else "; send larger loads as NDJSON (application/x-ndjson)"
        return PayloadTooLarge(
            f"{kind} request body over the limit of {self.limit} bytes ({_human(self.limit)})"
            f"{hint}",
            details={"limit_bytes": self.limit},
        )

    @property
    def gzip(self) -> bool:
        return self.request.headers.get("content-encoding", "").strip().lower() == "gzip"

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes, gunzipped, counted against the cap and hashed."""
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if self.gzip else None
        total = 0
        async for data in self.request.stream():
            for piece in _inflate(inflater, data):
                total += len(piece)
                if total > self.limit:
                    raise self.too_large()
                self.hasher.update(piece)
                yield piece
        if inflater is not None and not inflater.eof:
            raise InvalidInput("the gzip body ends early")

    async def drain(self) -> str:
        """Read (and hash) the whole body without keeping it; the hash."""
        async for _ in self.chunks():
            pass
        return str(self.hasher.hexdigest())

    async def records(self, chunk_size: int) -> AsyncIterator[tuple[int, list[Any]]]:
        """(index of the first record, records) in chunks: JSON values, or NDJSON lines."""
        if not self.ndjson:
            raw = b"".join([piece async for piece in self.chunks()])
            records = parse_envelope(raw)
            for start in range(0, len(records), chunk_size):
                yield start, records[start : start + chunk_size]
            return
        tail = b""
        lines: list[bytes] = []
        start = 0
        async for piece in self.chunks():
            parts = (tail + piece).split(b"\n")
            tail = parts.pop()
            if len(tail) > MAX_LINE_BYTES:
                raise InvalidInput(f"an NDJSON line is longer than {_human(MAX_LINE_BYTES)}")
            for line in parts:
                if line.strip():
                    lines.append(line)
            while len(lines) >= chunk_size:
                yield start, lines[:chunk_size]
                start += chunk_size
                lines = lines[chunk_size:]
        if tail.strip():
            lines.append(tail)
        if lines:
            yield start, lines

    def digest(self) -> str:
        return str(self.hasher.hexdigest())


def _inflate(inflater: Any, data: bytes) -> Iterator[bytes]:
    if inflater is None:
        if data:
            yield data
        return
    try:
        piece = inflater.decompress(data, STEP)
        while True:
            if piece:
                yield piece
            if not inflater.unconsumed_tail:
                return
            piece = inflater.decompress(inflater.unconsumed_tail, STEP)
    except zlib.error as exc:
        raise InvalidInput(f"the gzip body is corrupt: {exc}") from None


def parse_envelope(raw: bytes) -> list[Any]:
    try:
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
    return records
