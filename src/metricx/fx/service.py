"""Exchange rates: loading them (an operator's file, a workspace's API call, the periodic
fetch of a configured URL) and reading the ones in force for a workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import httpx
from sqlalchemy.orm import Session

from metricx.errors import InvalidInput
from metricx.fx import repository
from metricx.fx.formats import FormatError, Parsed, Rate, duplicates, parse_any
from metricx.fx.repository import StoredRate

MAX_FETCH_BYTES = 20 * 1024 * 1024  # the ECB's whole history as XML is about 7 MB


@dataclass(frozen=True)
class Loaded:
    rates: int  # rates read
    changed: int  # rows inserted or changed
    first_day: date | None
    last_day: date | None
    currencies: list[str]


class BadRates(InvalidInput):
    """A rate file with bad lines: nothing of it is stored."""


def problems(parsed: Parsed) -> list[str]:
    """Each bad line as "line N: why", and rates given twice with different values."""
    out = [f"line {n}: {why}" for n, why in parsed.errors]
    if parsed.error_count > len(parsed.errors):
        out.append(f"... and {parsed.error_count - len(parsed.errors)} more bad lines")
    out += [f"{c} on {d}: given twice with different rates" for d, c in duplicates(parsed.rates)]
    return out


def store(
    session: Session, rates: list[Rate], *, workspace_id: uuid.UUID | None, source: str
) -> Loaded:
    changed = repository.upsert(session, rates, workspace_id=workspace_id, source=source)
    session.flush()
    days = [r.day for r in rates]
    return Loaded(
        rates=len(rates),
        changed=changed,
        first_day=min(days) if days else None,
        last_day=max(days) if days else None,
        currencies=sorted({r.currency for r in rates}),
    )


def load_text(
    session: Session, content: str, *, workspace_id: uuid.UUID | None = None, source: str
) -> Loaded:
    """Store the rates of a file (ECB CSV or XML, or the long CSV): all of them, or none when
    any line is bad (``BadRates`` lists them with their line numbers)."""
    try:
        parsed = parse_any(content)
    except FormatError as exc:
        raise BadRates(str(exc), details={"lines": [str(exc)]}) from None
    bad = problems(parsed)
    if bad:
        raise BadRates(
            f"{len(bad)} bad line(s), nothing stored: " + "; ".join(bad[:5]),
            details={"lines": bad},
        )
    if not parsed.rates:
        raise BadRates("the file holds no rates", details={"lines": []})
    return store(session, parsed.rates, workspace_id=workspace_id, source=source)


def fetch_text(url: str, *, timeout: float) -> str:
    """The body at ``url`` (the operator's configured rate feed), at most 20 MB."""
    chunks: list[bytes] = []
    with (
        httpx.Client(timeout=timeout, follow_redirects=True) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_FETCH_BYTES:
                raise ValueError(f"the rate feed is larger than {MAX_FETCH_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8-sig")


def fetch_and_store(session: Session, url: str, *, timeout: float) -> Loaded:
    """The operator's rates from the configured feed (the ECB's XML or CSV)."""
    return load_text(session, fetch_text(url, timeout=timeout), source="fetch")


def in_force(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    start: date,
    end: date,
    currencies: list[str] | None = None,
) -> dict[tuple[date, str], StoredRate]:
    return repository.effective(session, workspace_id, start=start, end=end, currencies=currencies)


def version(session: Session, workspace_id: uuid.UUID, *, start: date, end: date) -> str:
    return repository.version(session, workspace_id, start=start, end=end)


def remove_own(
    session: Session, workspace_id: uuid.UUID, *, start: date, end: date, currency: str | None
) -> int:
    return repository.delete_own(session, workspace_id, start=start, end=end, currency=currency)
