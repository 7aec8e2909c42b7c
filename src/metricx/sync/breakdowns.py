"""The sync's breakdown chunks (issue 17): which sets a connection syncs, and a chunk's rows
parked on disk between Meta and the write.

A connection syncs its own choice of sets (``connections.breakdown_sets``: None means
``DEFAULT_SETS``, an empty list none); ``METRICX_SYNC_BREAKDOWNS=false`` turns the breakdown
chunks off for every connection. Each set is one chunk per daily window (backfill and gap
fill: ``sync_chunk_days_daily``; the daily lookback pass: the daily lookback, and up to
``sync_breakdown_reach_jobs`` older windows stored without reach: plan.reach_revisits),
fetched through a report job (integrations/meta/fetcher.py) and written through
``metricx.facts.breakdowns.write_breakdowns``, which makes the chunk's scope (the connection's
ads, or the campaigns of a split chunk, over its days) exactly Meta's rows and refreshes the
ad set, campaign and account sums in the same transaction as the chunk's checkpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any, cast

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.facts.breakdowns import BreakdownRow, BreakdownWrite, sets_of, write_breakdowns
from metricx.models import Connection
from metricx.sync.checkpoints import ChunkState
from metricx.sync.spool import FactSpool

PROVIDER = "meta"


def sets_for(settings: Settings, connection: Connection) -> tuple[str, ...]:
    """The breakdown sets a sync of ``connection`` fetches (none when turned off)."""
    if not settings.sync_breakdowns:
        return ()
    return sets_of(connection.breakdown_sets)


class BreakdownSpool:
    """A breakdown chunk's rows, parked on disk like the facts (sync/spool.py)."""

    def __init__(self) -> None:
        self._spool = FactSpool()

    @property
    def count(self) -> int:
        return self._spool.count

    def extend(self, rows: Iterable[BreakdownRow]) -> None:
        self._spool.extend(cast(Any, row) for row in rows)

    def __iter__(self) -> Iterator[BreakdownRow]:
        return cast(Iterator[BreakdownRow], iter(self._spool))

    def close(self) -> None:
        self._spool.close()


def record_breakdowns(
    session: Session,
    *,
    connection: Connection,
    fetch_id: uuid.UUID,
    item: ChunkState,
    spool: BreakdownSpool,
) -> BreakdownWrite:
    """Write one breakdown chunk's rows (its scope made exactly them)."""
    assert item.breakdown is not None and item.since is not None and item.until is not None
    return write_breakdowns(
        session,
        workspace_id=connection.workspace_id,
        connection_id=connection.id,
        provider=PROVIDER,
        breakdown=item.breakdown,
        currency=connection.currency,
        since=item.since,
        until=item.until,
        campaigns=item.campaigns,
        rows=spool,
        fetch_id=fetch_id,
    )
