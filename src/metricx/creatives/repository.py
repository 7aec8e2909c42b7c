"""Creatives in the database: store a sync's creatives, read them for the API and pages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metricx.models import AdCreative, Connection, Creative, Entity, Provider

BATCH = 500


def thumbnail_state(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> dict[str, tuple[str | None, str | None]]:
    """external_id -> (thumbnail_source, thumbnail_sha256) of the connection's creatives."""
    rows = session.execute(
        select(Creative.external_id, Creative.thumbnail_source, Creative.thumbnail_sha256).where(
            Creative.workspace_id == workspace_id,
            Creative.provider == Provider.META,
            Creative.connection_id == connection_id,
        )
    )
    return {ext: (source, sha) for ext, source, sha in rows}


def upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        chunk = list(rows[start : start + BATCH])
        base = insert(Creative).values(chunk)
        keys = {"workspace_id", "provider", "external_id"}
        stmt = base.on_conflict_do_update(
            index_elements=[Creative.workspace_id, Creative.provider, Creative.external_id],
            set_={k: base.excluded[k] for k in chunk[0] if k not in keys},
        )
        session.execute(stmt)


def mark_removed(session: Session, connection: Connection, keep: set[str], now: datetime) -> int:
    """Creatives of the connection Meta no longer lists get ``removed_at``."""
    listed = session.execute(
        select(Creative.external_id).where(
            Creative.workspace_id == connection.workspace_id,
            Creative.connection_id == connection.id,
            Creative.removed_at.is_(None),
        )
    ).scalars()
    gone = [ext for ext in listed if ext not in keep]
    for start in range(0, len(gone), BATCH):
        session.execute(
            update(Creative)
            .where(
                Creative.workspace_id == connection.workspace_id,
                Creative.provider == Provider.META,
                Creative.external_id.in_(gone[start : start + BATCH]),
            )
            .values(removed_at=now, updated_at=now)
        )
    return len(gone)


def get(session: Session, workspace_id: uuid.UUID, external_id: str) -> Creative | None:
    return session.get(Creative, (workspace_id, Provider.META, external_id))


def listing(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID | None = None
) -> list[Creative]:
    query = select(Creative).where(Creative.workspace_id == workspace_id)
    if connection_id is not None:
        query = query.where(Creative.connection_id == connection_id)
    return list(session.scalars(query.order_by(Creative.external_id)))


def by_ids(
    session: Session, workspace_id: uuid.UUID, external_ids: Sequence[str]
) -> dict[str, Creative]:
    if not external_ids:
        return {}
    rows = session.scalars(
        select(Creative).where(
            Creative.workspace_id == workspace_id,
            Creative.provider == Provider.META,
            Creative.external_id.in_(list(external_ids)),
        )
    )
    return {r.external_id: r for r in rows}


def store_ad_links(
    session: Session, connection: Connection, links: dict[str, str], now: datetime
) -> None:
    """Each listed ad's creative; the connection's ads no longer listed lose theirs."""
    rows = [
        {
            "workspace_id": connection.workspace_id,
            "provider": Provider.META,
            "ad_external_id": ad,
            "creative_external_id": creative,
            "connection_id": connection.id,
            "updated_at": now,
        }
        for ad, creative in links.items()
    ]
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        base = insert(AdCreative).values(chunk)
        session.execute(
            base.on_conflict_do_update(
                index_elements=[
                    AdCreative.workspace_id,
                    AdCreative.provider,
                    AdCreative.ad_external_id,
                ],
                set_={
                    k: base.excluded[k]
                    for k in ("creative_external_id", "connection_id", "updated_at")
                },
            )
        )
    stale = [
        ad
        for ad in session.execute(
            select(AdCreative.ad_external_id).where(
                AdCreative.workspace_id == connection.workspace_id,
                AdCreative.connection_id == connection.id,
            )
        ).scalars()
        if ad not in links
    ]
    for start in range(0, len(stale), BATCH):
        session.execute(
            delete(AdCreative).where(
                AdCreative.workspace_id == connection.workspace_id,
                AdCreative.provider == Provider.META,
                AdCreative.ad_external_id.in_(stale[start : start + BATCH]),
            )
        )


def creatives_of_ads(
    session: Session, workspace_id: uuid.UUID, ad_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Ad entity id -> its creative's external id (ads without one are left out)."""
    if not ad_ids:
        return {}
    rows = session.execute(
        select(Entity.id, AdCreative.creative_external_id)
        .join(
            AdCreative,
            (AdCreative.workspace_id == Entity.workspace_id)
            & (AdCreative.provider == Entity.provider)
            & (AdCreative.ad_external_id == Entity.external_id),
        )
        .where(
            Entity.workspace_id == workspace_id,
            Entity.level == "ad",
            Entity.id.in_(list(ad_ids)),
        )
    )
    return {eid: ext for eid, ext in rows}


def referenced_thumbnails(session: Session) -> set[str]:
    """Every thumbnail copy some creative of any workspace names (copies are shared)."""
    found = session.scalars(
        select(Creative.thumbnail_sha256).where(Creative.thumbnail_sha256.is_not(None)).distinct()
    )
    return {sha for sha in found if sha}
