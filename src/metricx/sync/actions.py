"""The sync's action facts and custom conversions: what the daily ad rows and the entity sync
bring besides metric facts and entities.

A daily chunk's action figures wait in their own spool file next to the facts' (sync/spool.py)
and are written right after the chunk's facts, in the same transaction, through
``facts.actions`` (each fetched ad-day's action rows replaced as a whole). The custom
conversions an entity sync fetched are stored with its entities.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, cast

from sqlalchemy.orm import Session

from metricx.conversions.service import store_custom_conversions
from metricx.facts.actions import ActionWrite, AdDayFigures, write_action_facts
from metricx.integrations.meta.action_rows import (
    AdDayActions,
    CustomConversionRecord,
    fetch_custom_conversions,
)
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.insights_rows import AdInsightsRow
from metricx.models import Connection
from metricx.sync.spool import FactSpool

PROVIDER = "meta"


class ActionSpool:
    """A chunk's ad-days of action figures, parked on disk like its facts."""

    def __init__(self) -> None:
        self._spool = FactSpool()

    @property
    def count(self) -> int:
        return self._spool.count

    def tap(self, rows: Iterable[tuple[AdInsightsRow, AdDayActions]]) -> Iterator[AdInsightsRow]:
        """Keep each row's action figures; pass the row on (to become its fact)."""
        for row, actions in rows:
            self._spool.extend([cast(Any, to_figures(actions))])
            yield row

    def __iter__(self) -> Iterator[AdDayFigures]:
        return cast(Iterator[AdDayFigures], iter(self._spool))

    def close(self) -> None:
        self._spool.close()


def to_figures(actions: AdDayActions) -> AdDayFigures:
    return AdDayFigures(
        external_id=actions.ad_id,
        day=actions.day,
        attribution_setting=actions.attribution_setting,
        figures=tuple((f.action_type, f.window, f.count, f.value) for f in actions.figures),
    )


def record_actions(
    session: Session,
    *,
    connection: Connection,
    fetch_id: uuid.UUID | None,
    spool: ActionSpool,
) -> ActionWrite:
    """Write a chunk's action facts (after its metric facts: the ads exist by then)."""
    return write_action_facts(
        session,
        workspace_id=connection.workspace_id,
        provider=PROVIDER,
        currency=connection.currency,
        fetch_id=fetch_id,
        ad_days=spool,
    )


def pull_custom_conversions(client: MetaAdsClient, account_id: str) -> list[CustomConversionRecord]:
    """The account's custom conversions (one paged call, with the entity sync's)."""
    return list(fetch_custom_conversions(client, account_id))


def record_custom_conversions(
    session: Session,
    *,
    connection: Connection,
    records: list[CustomConversionRecord] | None,
    now: datetime,
) -> int:
    if not records:
        return 0
    return store_custom_conversions(session, connection=connection, records=records, now=now)
