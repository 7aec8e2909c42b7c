"""Exchange rates: loading them (an operator's file, a workspace's API call, the periodic
fetch of a configured URL) and reading the ones in force for a workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

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


def carried(rates: list[Rate], days: int, until: date) -> list[tuple[Rate, str]]:
    """Each published rate carried to the ``days`` days after it that have no rate of their
    own in ``rates`` (up to ``until``), with the source that says so."""
    out: list[tuple[Rate, str]] = []
    if days <= 0:
        return out
    by_currency: dict[str, dict[date, Rate]] = {}
    for r in rates:
        by_currency.setdefault(r.currency, {})[r.day] = r
    for published in by_currency.values():
        for day in sorted(published):
            rate = published[day]
            for n in range(1, days + 1):
                later = day + timedelta(days=n)
                if later in published or later > until:
                    break
                out.append((Rate(later, rate.currency, rate.rate), f"carried from {day}"))
    return out


def store(
    session: Session,
    rates: list[Rate],
    *,
    workspace_id: uuid.UUID | None,
    source: str,
    carry_days: int = 0,
    today: date | None = None,
) -> Loaded:
    """Store ``rates``; with ``carry_days``, the days after each one that have none get it
    too, marked as carried (a rate published for such a day later replaces it)."""
    changed = repository.upsert(session, rates, workspace_id=workspace_id, source=source)
    filled = carried(rates, carry_days, today or date.today())
    changed += repository.insert_missing(
        session,
        [r for r, _ in filled],
        [f"{source} ({why})"[:40] for _, why in filled],
        workspace_id=workspace_id,
    )
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
    session: Session,
    content: str,
    *,
    workspace_id: uuid.UUID | None = None,
    source: str,
    carry_days: int = 0,
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
    return store(
        session, parsed.rates, workspace_id=workspace_id, source=source, carry_days=carry_days
    )


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


def fetch_and_store(session: Session, url: str, *, timeout: float, carry_days: int = 0) -> Loaded:
    """The operator's rates from the configured feed (the ECB's XML or CSV); ``carry_days``:
    ``METRICX_FX_CARRY_FORWARD_DAYS``."""
    return load_text(
        session, fetch_text(url, timeout=timeout), source="fetch", carry_days=carry_days
    )


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
