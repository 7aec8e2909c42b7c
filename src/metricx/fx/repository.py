"""All SQL of exchange rates. Operator rows have no workspace; every read for a workspace
takes its own rows and the operator's, its own first, and never another workspace's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.fx.formats import Rate

BATCH = 5000


@dataclass(frozen=True)
class StoredRate:
    day: date
    currency: str
    rate: Decimal
    source: str
    scope: str  # "workspace" (its own) or "operator"


def upsert(
    session: Session, rates: list[Rate], *, workspace_id: uuid.UUID | None, source: str
) -> int:
    """Store ``rates`` (a later rate for the same day and currency replaces the earlier);
    returns how many rows were inserted or changed (an identical rate touches nothing)."""
    if workspace_id is None:
        target = "(day, currency) WHERE workspace_id IS NULL"
    else:
        target = "(workspace_id, day, currency) WHERE workspace_id IS NOT NULL"
    changed = 0
    by_key = {(r.day, r.currency): r for r in rates}  # the last one given wins
    rows = list(by_key.values())
    for i in range(0, len(rows), BATCH):
        chunk = rows[i : i + BATCH]
        result = session.execute(
            text(
                f"""
                INSERT INTO fx_rates (workspace_id, day, currency, rate, source)
                SELECT CAST(:ws AS uuid), d, c, r, :source
                FROM unnest(CAST(:days AS date[]), CAST(:currencies AS text[]),
                            CAST(:rates AS numeric[])) AS t(d, c, r)
                ON CONFLICT {target} DO UPDATE
                   SET rate = excluded.rate, source = excluded.source, loaded_at = now()
                 WHERE fx_rates.rate IS DISTINCT FROM excluded.rate
                """
            ),
            {
                "ws": workspace_id,
                "source": source,
                "days": [r.day for r in chunk],
                "currencies": [r.currency for r in chunk],
                "rates": [r.rate for r in chunk],
            },
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def insert_missing(
    session: Session,
    rates: list[Rate],
    sources: list[str],
    *,
    workspace_id: uuid.UUID | None,
) -> int:
    """Store ``rates`` (each with its source) where the day and currency have no rate yet:
    a rate already there, published or carried, stays. Returns how many were inserted."""
    if not rates:
        return 0
    target = (
        "(day, currency) WHERE workspace_id IS NULL"
        if workspace_id is None
        else "(workspace_id, day, currency) WHERE workspace_id IS NOT NULL"
    )
    result = session.execute(
        text(
            f"""
            INSERT INTO fx_rates (workspace_id, day, currency, rate, source)
            SELECT CAST(:ws AS uuid), d, c, r, s
            FROM unnest(CAST(:days AS date[]), CAST(:currencies AS text[]),
                        CAST(:rates AS numeric[]), CAST(:sources AS text[])) AS t(d, c, r, s)
            ON CONFLICT {target} DO NOTHING
            """
        ),
        {
            "ws": workspace_id,
            "days": [r.day for r in rates],
            "currencies": [r.currency for r in rates],
            "rates": [r.rate for r in rates],
            "sources": sources,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


def effective(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    start: date,
    end: date,
    currencies: list[str] | None = None,
) -> dict[tuple[date, str], StoredRate]:
    """The rate in force for the workspace per (day, currency) in [start, end]: its own where
    it has one, else the operator's."""
    only = "AND currency = ANY(:currencies)" if currencies is not None else ""
    rows = session.execute(
        text(
            f"""
            SELECT DISTINCT ON (day, currency) day, currency, rate, source,
                   CASE WHEN workspace_id IS NULL THEN 'operator' ELSE 'workspace' END
            FROM fx_rates
            WHERE (workspace_id = :ws OR workspace_id IS NULL)
              AND day BETWEEN :start AND :end {only}
            ORDER BY day, currency, workspace_id NULLS LAST
            """
        ),
        {"ws": workspace_id, "start": start, "end": end, "currencies": currencies or []},
    )
    return {(r[0], r[1]): StoredRate(r[0], r[1], r[2], r[3], r[4]) for r in rows}


def delete_own(
    session: Session, workspace_id: uuid.UUID, *, start: date, end: date, currency: str | None
) -> int:
    """Remove the workspace's own rates in [start, end] (one currency's, or all)."""
    result = session.execute(
        text(
            "DELETE FROM fx_rates WHERE workspace_id = :ws AND day BETWEEN :start AND :end"
            " AND (CAST(:currency AS text) IS NULL OR currency = :currency)"
        ),
        {"ws": workspace_id, "start": start, "end": end, "currency": currency},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def version(session: Session, workspace_id: uuid.UUID, *, start: date, end: date) -> str:
    """Changes whenever a rate the workspace reads in [start, end] is added, changed or
    removed (the query cache's key)."""
    row = session.execute(
        text(
            "SELECT count(*), max(loaded_at), coalesce(sum(id), 0) FROM fx_rates"
            " WHERE (workspace_id = :ws OR workspace_id IS NULL)"
            " AND day BETWEEN :start AND :end"
        ),
        {"ws": workspace_id, "start": start, "end": end},
    ).one()
    return f"{row[0]}:{row[1]}:{row[2]}"
