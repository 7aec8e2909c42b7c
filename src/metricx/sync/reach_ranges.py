"""Range reach in the sync and on demand: which ranges to ask Meta for, and storing its answer.

- Every metrics sync ends with a ``reach_ranges`` chunk: the standard ranges of the account
  (metrics/reach.py) that are not stored yet, and, in a backfill or the daily lookback pass,
  also those that end inside the daily lookback (Meta still revises them). Ranges that ended
  before it are final once stored. Hourly syncs between fetch only new ranges (a new day
  makes new ones), so most of them cost no call at all.
- Any other range the API or the dashboard asks for is fetched by the ``fetch_reach_range``
  job (queued by the query layer, one per connection and range).
One batch request asks Meta for every range and level at once (integrations/meta/range_reach.py).
A range's stored rows are replaced as a whole: an entity Meta no longer reports for it goes,
and the account's row is always written (reach 0 when it did not deliver), which marks the
range as fetched for every campaign and ad set of the account.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.connections.tokens import ClientFactory, default_client_factory, reveal
from metricx.db import unit_of_work
from metricx.integrations.meta.errors import MetaError, is_connection_lost
from metricx.integrations.meta.range_reach import RangeReachRow, fetch_range_reach
from metricx.logging import get_logger
from metricx.metrics.reach import META_HISTORY_DAYS, Range, standard_ranges
from metricx.models import Connection, ConnectionStatus, Token, Workspace
from metricx.runtime import Runtime

log = get_logger("metricx.sync")

_STORED = text(
    """
    SELECT r.since, r.until FROM reach_ranges r
    JOIN entities a ON a.id = r.entity_id
    WHERE r.workspace_id = :ws AND a.connection_id = :c AND a.level = 'account'
      AND r.since = ANY(CAST(:sinces AS date[])) AND r.until = ANY(CAST(:untils AS date[]))
    """
)


def ranges_due(
    session: Session,
    *,
    settings: Settings,
    connection: Connection,
    today: date,
    refresh: bool,
) -> list[Range]:
    """The standard ranges of ``connection`` to ask Meta for now (see the module's doc)."""
    workspace = session.get(Workspace, connection.workspace_id)
    week_start = workspace.week_start if workspace is not None else "monday"
    ranges = standard_ranges(today, week_start)
    params = {
        "ws": connection.workspace_id,
        "c": connection.id,
        "sinces": sorted({r[0] for r in ranges}),
        "untils": sorted({r[1] for r in ranges}),
    }
    have = {(r[0], r[1]) for r in session.execute(_STORED, params)}
    settled = today - timedelta(days=settings.sync_lookback_days_daily)
    return [r for r in ranges if r not in have or (refresh and r[1] >= settled)]


_ENTITIES = text(
    "SELECT id, level, external_id FROM entities WHERE workspace_id = :ws AND connection_id = :c"
    " AND level IN ('account', 'campaign', 'adset')"
)
_CLEAR = text(
    """
    DELETE FROM reach_ranges r USING entities e
    WHERE r.workspace_id = :ws AND e.id = r.entity_id AND e.connection_id = :c
      AND r.since = :since AND r.until = :until
    """
)
_UPSERT = text(
    """
    INSERT INTO reach_ranges (workspace_id, entity_id, since, until, level, reach, impressions,
                              fetched_at)
    VALUES (:ws, :entity, :since, :until, :level, :reach, :impressions, :at)
    ON CONFLICT (workspace_id, entity_id, since, until) DO UPDATE
    SET level = EXCLUDED.level, reach = EXCLUDED.reach, impressions = EXCLUDED.impressions,
        fetched_at = EXCLUDED.fetched_at
    """
)


def record_ranges(
    session: Session,
    *,
    connection: Connection,
    ranges: Sequence[Range],
    rows: Iterable[RangeReachRow],
    now: datetime,
) -> int:
    """Replace the stored reach of ``ranges`` for the connection's entities with Meta's rows
    (rows of entities the entity sync has not stored yet are skipped); the rows written."""
    ids = {
        (str(level), external): entity_id
        for entity_id, level, external in session.execute(
            _ENTITIES, {"ws": connection.workspace_id, "c": connection.id}
        )
    }
    account = next((e for (lvl, _), e in ids.items() if lvl == "account"), None)
    values: dict[tuple[uuid.UUID, Range], dict[str, object]] = {}
    for row in rows:
        entity_id = ids.get((row.level, row.external_id))
        if entity_id is None:
            continue
        span = (row.since, row.until)
        values[(entity_id, span)] = {
            "entity": entity_id,
            "since": row.since,
            "until": row.until,
            "level": row.level,
            "reach": row.reach,
            "impressions": row.impressions,
        }
    for since, until in ranges:
        if account is not None and (account, (since, until)) not in values:
            values[(account, (since, until))] = {
                "entity": account,
                "since": since,
                "until": until,
                "level": "account",
                "reach": 0,
                "impressions": 0,
            }
        session.execute(
            _CLEAR,
            {"ws": connection.workspace_id, "c": connection.id, "since": since, "until": until},
        )
    if values:
        session.execute(
            _UPSERT,
            [{**v, "ws": connection.workspace_id, "at": now} for v in values.values()],
        )
    session.flush()
    return len(values)


def run_range_fetch(
    runtime: Runtime,
    connection_id: uuid.UUID,
    span: Range,
    *,
    client_factory: ClientFactory = default_client_factory,
) -> int | None:
    """The on-demand job: Meta's reach of ``span`` for the connection's account, campaigns and
    ad sets, stored; None when the connection is gone or inactive, or the range is beyond
    Meta's history. A lost token ends quietly (the sync marks the connection); other Meta
    failures raise, so the queue retries."""
    with unit_of_work(runtime.sessions) as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.status is not ConnectionStatus.ACTIVE:
            return None
        if (datetime.now(UTC).date() - span[0]).days > META_HISTORY_DAYS:
            return None
        token = session.get(Token, connection.token_id) if connection.token_id else None
        if token is None:
            return None
        secret = reveal(runtime.cipher, token)
        account = connection.external_account_id
    client = client_factory(runtime.settings, secret)
    try:
        rows = list(
            fetch_range_reach(client, account, [span], page_size=runtime.settings.sync_page_size)
        )
    except MetaError as exc:
        if is_connection_lost(exc):
            log.warning(
                "range reach not fetched", connection_id=str(connection_id), error=exc.message
            )
            return None
        raise
    with unit_of_work(runtime.sessions) as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return None
        written = record_ranges(
            session, connection=connection, ranges=[span], rows=rows, now=datetime.now(UTC)
        )
    log.info(
        "range reach fetched",
        connection_id=str(connection_id),
        since=span[0].isoformat(),
        until=span[1].isoformat(),
        rows=written,
        calls=client.stats.calls,
    )
    return written
