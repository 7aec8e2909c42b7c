"""One metric fact as the ingest service takes it, and its parsing from a JSON object.

``parse_record`` turns a client's JSON object into a ``FactInput`` (types only: numbers,
enums, dates). ``check_measures`` holds the rules every fact obeys whoever sends it (the HTTP
API or the Meta sync): finite, non-negative, within the columns' range.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

import orjson

from metricx.facts import measures as registry
from metricx.facts.types import INPUT_FIELDS, FactInput, Number
from metricx.ingest.currencies import is_known_currency
from metricx.models.base import Granularity, Level, Provider

MEASURES = registry.names()
WHOLE = frozenset(m.name for m in registry.all_measures() if m.whole)
# What each measure's column holds: values are below these.
LIMITS: dict[str, Number] = {m.name: m.limit for m in registry.all_measures()}
FIELDS = frozenset({*INPUT_FIELDS, *MEASURES})
PROVIDERS = frozenset(p.value for p in Provider)
LEVELS = frozenset(lv.value for lv in Level)
GRANULARITIES = frozenset(g.value for g in Granularity)


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record was refused: ``code`` is ``not_found`` for an unknown entity (the
    record-level 404), ``invalid`` otherwise."""

    field: str
    reason: str
    code: str = "invalid"

    def as_dict(self, index: int) -> dict[str, Any]:
        return {"index": index, "field": self.field, "reason": self.reason, "code": self.code}


class RecordRefused(Exception):
    def __init__(self, error: RecordError) -> None:
        super().__init__(error.reason)
        self.error = error


def _fail(field: str, reason: str) -> RecordRefused:
    return RecordRefused(RecordError(field, reason))


def _text(raw: dict[str, Any], field: str, max_len: int) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "must be a non-empty string")
    if storable_text(value) != value:
        raise _fail(field, "must be valid text (no NUL character, no lone surrogate)")
    if len(value) > max_len:
        raise _fail(field, f"longer than {max_len} characters")
    return value


def _choice(raw: dict[str, Any], field: str, allowed: frozenset[str]) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:  # a list or object is unhashable
        raise _fail(field, f"must be one of {', '.join(sorted(allowed))}")
    return str(value)


def _small_int(raw: dict[str, Any], field: str, lo: int, hi: int) -> int | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(field, f"must be a whole number from {lo} to {hi}")
    return value


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _number(field: str, value: Any, whole: bool) -> Number:
    if value.__class__ is str and not whole:  # money as Meta sends it: one Decimal, no detour
        try:
            number = Decimal(value)  # strips surrounding whitespace itself
        except InvalidOperation:
            raise _fail(field, "must be a number") from None
        if number.is_finite() and abs(number) < LIMITS[field]:
            return number
        value = number  # out of range: the checks below say how
    if isinstance(value, bool):
        raise _fail(field, "must be a number")
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise _fail(field, "must be a number") from None
    if isinstance(value, float | Decimal):
        if not _finite(value):
            raise _fail(field, "must be a finite number (not NaN or infinity)")
        # Refuse absurd magnitudes before int(): "1e999999" would take minutes of CPU.
        if abs(float(value)) >= float(LIMITS[field]):
            raise _fail(field, f"too large (must be below {LIMITS[field]:.0e})")
        if whole:
            if value != int(value):
                raise _fail(field, "must be a whole number")
            return int(value)
        return value
    if isinstance(value, int):
        return value
    raise _fail(field, "must be a number")


def parse_offset(value: Any) -> timedelta:
    if not isinstance(value, str) or len(value) not in (5, 6) or value[0] not in "+-":
        raise _fail("utc_offset", "must look like +05:30 or -0400")
    digits = value[1:].replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        raise _fail("utc_offset", "must look like +05:30 or -0400")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return -delta if value[0] == "-" else delta


def parse_record(raw: Any) -> FactInput:
    """A client's JSON object as a ``FactInput``; raises ``RecordRefused`` on the first problem."""
    if not isinstance(raw, dict):
        raise _fail("record", "must be a JSON object")
    unknown = raw.keys() - FIELDS
    if unknown:
        name = sorted(unknown)[0]
        if name == "natural_key":
            raise _fail(name, "is computed by the server; do not send it")
        raise _fail(name, "unknown field")
    granularity = _choice(raw, "granularity", GRANULARITIES)
    if granularity is None:
        raise _fail("granularity", "required: minute, hour or day")
    fact = FactInput(granularity)
    entity_id = raw.get("entity_id")
    if entity_id is not None:
        try:
            fact.entity_id = uuid.UUID(str(entity_id))
        except ValueError:
            raise _fail("entity_id", "must be a UUID") from None
    fact.external_entity_id = _text(raw, "external_entity_id", 128)
    fact.provider = _choice(raw, "provider", PROVIDERS)
    fact.level = _choice(raw, "level", LEVELS)
    if fact.entity_id is None:
        for field in ("external_entity_id", "provider", "level"):
            if raw.get(field) is None:
                raise _fail(field, "required when entity_id is not given")
    event_at = raw.get("event_at")
    if event_at is not None:
        if not isinstance(event_at, str):
            raise _fail("event_at", "must be an ISO 8601 date-time string with a UTC offset")
        try:
            parsed = datetime.fromisoformat(event_at)
        except ValueError:
            raise _fail("event_at", "not an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            raise _fail("event_at", "naive date-time: add a UTC offset (Z, +00:00, +05:30...)")
        fact.event_at = parsed
    event_date = raw.get("event_date")
    if event_date is not None:
        if event_at is not None:
            raise _fail("event_date", "send event_at or event_date + hour, not both")
        try:
            fact.event_date = date.fromisoformat(str(event_date))
        except ValueError:
            raise _fail("event_date", "must be a date (YYYY-MM-DD)") from None
    elif event_at is None:
        raise _fail("event_at", "required (or event_date + hour)")
    if event_date is not None or "hour" in raw or "minute" in raw or "fold" in raw:
        fact.hour = _small_int(raw, "hour", 0, 23)
        fact.minute = _small_int(raw, "minute", 0, 59)
        fact.fold = _small_int(raw, "fold", 0, 1)
    if raw.get("utc_offset") is not None:
        fact.utc_offset = parse_offset(raw["utc_offset"])
    currency = raw.get("currency")
    if currency is not None:
        if not isinstance(currency, str) or not is_known_currency(currency.upper()):
            raise _fail("currency", f"unknown currency {currency!r} (an ISO 4217 code)")
        fact.currency = currency.upper()
    for field in MEASURES:
        value = raw.get(field)
        if value is None:
            continue
        if type(value) is int:  # the common case first: no call, no conversion
            setattr(fact, field, value)
        else:
            setattr(fact, field, _number(field, value, field in WHOLE))
    return fact


_LIMITED = tuple((field, LIMITS[field]) for field in MEASURES)


def check_measures(fact: FactInput) -> None:
    """The rules of every fact's numbers, whoever sends it."""
    for field, limit in _LIMITED:
        value = getattr(fact, field)
        if value is None:
            continue
        if type(value) is not int and not _finite(value):
            raise _fail(field, "must be a finite number (not NaN or infinity)")
        if value < 0:
            raise _fail(field, "must not be negative")
        if value >= limit:
            raise _fail(field, f"too large (must be below {limit:.0e})")


@dataclass(slots=True)
class ParsedItem:
    """One record of a batch after parsing: its index in the request, and a fact or an error.
    ``raw`` is what the client sent (kept for the dead-letter store)."""

    index: int
    fact: FactInput | None
    error: RecordError | None
    raw: Any


class NestedTooDeep(ValueError):
    """JSON text nested deeper than the parsers go (orjson: 1,024 levels)."""


def loads_json(raw: bytes) -> Any:
    """orjson's speed; the standard parser's leniency for NaN/Infinity literals, so such a
    number is refused as a bad measure of its record, not as a broken body."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson stops at 1024 levels; the fallback would recurse
            raise NestedTooDeep("JSON nested too deeply (over 1024 levels)") from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise NestedTooDeep("JSON nested too deeply") from None


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """What one record may be: its size in bytes, the items of any array (or members of any
    object) in it, and how deep its objects and arrays nest. A record past them fails alone."""

    max_bytes: int = 64 * 1024
    max_items: int = 1000
    max_depth: int = 32

    @classmethod
    def of(cls, settings: Any) -> RecordLimits:
        return cls(
            settings.ingest_max_record_bytes,
            settings.ingest_max_array_items,
            settings.ingest_max_depth,
        )

    def too_large(self) -> str:
        return f"larger than {self.max_bytes} bytes"

    def too_deep(self) -> str:
        return f"nested deeper than {self.max_depth} levels"

    def too_long(self, kind: str) -> str:
        return f"an {kind} of more than {self.max_items} items"


@dataclass(frozen=True, slots=True)
class OversizeRecord:
    """An NDJSON line too large to keep: its size and its first bytes (for the dead letter);
    the rest was skipped as it streamed by."""

    size: int
    head: bytes


@dataclass(frozen=True, slots=True)
class RecordHead:
    """All the dead letter keeps of a record refused for its size or shape: its beginning as
    text, and its size in bytes when known."""

    text: str
    size: int | None = None


# A JSON string (escapes skipped; an unterminated one runs to the end), or a bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")


def nests_deeper(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests objects/arrays deeper than ``limit``, read from its
    bytes before parsing (brackets inside strings do not count); never recurses."""
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case: no scan at all
        return False
    depth = 0
    for token in _TOKENS.finditer(raw):
        char = raw[token.start()]
        if char in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif char != 0x22:  # a closing bracket (0x22 is a string's quote)
            depth -= 1
    return False


@dataclass(frozen=True, slots=True)
class TooDeepRecord:
    """A record of a JSON body set aside unparsed because it nests deeper than the record
    limit (``set_aside_deep_records``): its size and its first bytes (for the dead letter)."""

    size: int
    head: bytes


def set_aside_deep_records(raw: bytes, limit: int) -> tuple[bytes, dict[str, TooDeepRecord]]:
    """``raw`` (a JSON body ``{"records": [...]}`` too deep to parse whole) with every item of
    a list directly under the top object that nests deeper than ``limit`` replaced by a
    placeholder string, and those placeholders -> the records they stand for. The good
    records parse as usual; each deep one fails alone. Reads the bytes once, never recurses;
    a placeholder holds a random token, so no record a client sends can pass for one."""
    token = uuid.uuid4().hex
    placeholders: dict[str, TooDeepRecord] = {}
    out: list[bytes] = []
    done = 0  # raw[:done] is in out already
    stack: list[int] = []
    item_start = -1  # where the item being measured begins (-1: none)
    item_depth = 0
    for match in _TOKENS.finditer(raw):
        char = raw[match.start()]
        if char == 0x22:  # a string (brackets inside it do not count)
            continue
        if char in _OPENERS:
            stack.append(char)
            if len(stack) == 3 and stack[0] == 0x7B and stack[1] == 0x5B:
                item_start, item_depth = match.start(), 1
            elif item_start >= 0:
                item_depth = max(item_depth, len(stack) - 2)
            continue
        if not stack:
            break  # a stray closer: the parser will say what is wrong
        stack.pop()
        if len(stack) == 2 and item_start >= 0:
            if item_depth > limit:
                end = match.end()
                name = f"metricx-set-aside-{token}-{len(placeholders)}"
                placeholders[name] = TooDeepRecord(end - item_start, raw[item_start:][:4096])
                out += [raw[done:item_start], b'"', name.encode(), b'"']
                done = end
            item_start = -1
    if not placeholders:
        return raw, {}
    out.append(raw[done:])
    return b"".join(out), placeholders


def shape_problem(value: Any, limits: RecordLimits) -> str | None:
    """Why a parsed record breaks ``limits`` (depth, items, approximate size), or None.
    Walks with its own stack: a hostile nesting cannot reach Python's recursion limit."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    size = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limits.max_depth:
                return limits.too_deep()
            if len(node) > limits.max_items:
                return limits.too_long("object" if isinstance(node, dict) else "array")
            if isinstance(node, dict):
                size += 2 + sum(len(k) + 4 for k in node)
                stack.extend((v, depth + 1) for v in node.values())
            else:
                size += 2 + len(node)
                stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            size += len(node) + 2
        else:
            size += 8
        if size > limits.max_bytes:
            return limits.too_large()
    return None


_SCALARS = (str, int, float, bool, type(None))


def _flat(raw: Any) -> bool:
    return isinstance(raw, dict) and all(isinstance(v, _SCALARS) for v in raw.values())


HEAD_CHARS = 4096  # the most of a refused record's beginning ever kept


def _refused_line(index: int, reason: str, head: bytes, size: int) -> ParsedItem:
    text = head[:HEAD_CHARS].decode("utf-8", "replace")
    return ParsedItem(index, None, RecordError("record", reason), RecordHead(text, size))


def parse_items(
    raws: Sequence[Any], start: int, limits: RecordLimits | None = None
) -> list[ParsedItem]:
    """Parse a chunk of records (JSON values, or NDJSON lines as bytes). Pure CPU, no database:
    it runs in a worker thread while the previous chunk is being written. A record past
    ``limits`` fails alone, with a reason; its payload is then only its beginning."""
    limits = limits or RecordLimits()
    items: list[ParsedItem] = []
    for offset, raw in enumerate(raws):
        index = start + offset
        if isinstance(raw, OversizeRecord):
            items.append(_refused_line(index, limits.too_large(), raw.head, raw.size))
            continue
        if isinstance(raw, TooDeepRecord):
            items.append(_refused_line(index, limits.too_deep(), raw.head, raw.size))
            continue
        if isinstance(raw, bytes):
            if len(raw) > limits.max_bytes:
                items.append(_refused_line(index, limits.too_large(), raw, len(raw)))
                continue
            if nests_deeper(raw, limits.max_depth):
                items.append(_refused_line(index, limits.too_deep(), raw, len(raw)))
                continue
            try:
                raw = loads_json(raw)
            except ValueError as exc:
                text = raw[:2000].decode("utf-8", "replace")
                items.append(
                    ParsedItem(index, None, RecordError("record", f"invalid JSON: {exc}"), text)
                )
                continue
        if not _flat(raw):
            problem = shape_problem(raw, limits)
            if problem is not None:
                head = RecordHead(bounded_json(raw, HEAD_CHARS))
                items.append(ParsedItem(index, None, RecordError("record", problem), head))
                continue
        try:
            items.append(ParsedItem(index, parse_record(raw), None, raw))
        except RecordRefused as refused:
            items.append(ParsedItem(index, None, refused.error, raw))
    return items


def bounded_json(value: Any, limit: int) -> str:
    """The first ``limit`` characters of ``value`` as JSON text, written without recursion and
    stopping once the limit is reached (an 8-million-item array costs no more than a short
    one). Each item takes at least one character, so at most ``limit`` items are queued."""
    out: list[str] = []
    size = 0
    stack: list[tuple[bool, Any]] = [(False, value)]  # (is literal text, value or text)
    while stack and size < limit:
        literal, node = stack.pop()
        if literal:
            piece = node
        elif isinstance(node, dict | list | tuple):
            is_dict = isinstance(node, dict)
            piece = "{" if is_dict else "["
            stack.append((True, "}" if is_dict else "]"))
            first = list(islice(node.items() if isinstance(node, dict) else node, limit))
            for i in range(len(first) - 1, -1, -1):
                if is_dict:
                    key, item = first[i]
                    stack.append((False, item))
                    stack.append((True, json.dumps(storable_text(str(key))[:limit]) + ": "))
                else:
                    stack.append((False, first[i]))
                if i:
                    stack.append((True, ", "))
        elif isinstance(node, str):
            piece = json.dumps(storable_text(node[:limit]), ensure_ascii=False)
        else:
            try:
                piece = json.dumps(jsonable(node))
            except (TypeError, ValueError):
                piece = json.dumps(str(node)[:limit])
        out.append(piece)
        size += len(piece)
    return "".join(out)[:limit]


def storable_text(text: str) -> str:
    """``text`` as PostgreSQL text accepts it: no NUL, no lone surrogate (each becomes U+FFFD)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def jsonable(value: Any) -> Any:
    """``value`` as JSONB accepts it: non-finite floats become strings ("NaN", "Infinity"),
    text loses what PostgreSQL cannot store (NUL, lone surrogates)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else str(value).replace("inf", "Infinity").replace("nan", "NaN")
        )
    if isinstance(value, dict):
        return {storable_text(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | uuid.UUID | timedelta):
        return str(value) if not isinstance(value, datetime | date) else value.isoformat()
    return value


def fact_payload(fact: FactInput) -> dict[str, Any]:
    """A ``FactInput`` (from the sync) as the JSON record the API would take."""
    out: dict[str, Any] = {}
    for name in FactInput.__slots__:
        value = getattr(fact, name)
        if value is None or name not in FIELDS:  # a replay goes through the API's parser
            continue
        if name == "utc_offset":
            minutes = int(value.total_seconds() // 60)
            value = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        out[name] = jsonable(value)
    return out
