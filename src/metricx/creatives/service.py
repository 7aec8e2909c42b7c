"""Creative sync: what the entity sync brings of an account's creatives, and storing it.

``pull_creatives`` asks Meta (creatives, images, videos: paged, through the client's rate
governor and retries) and copies new thumbnails into the data dir; it touches no database.
``record_creatives`` writes the rows in the caller's transaction. A thumbnail that cannot be
copied (refused host, not an image, too large, expired URL) does not fail the sync: the
creative keeps its previous copy, if any, and says why in ``thumbnail_error``.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.creatives import repository
from metricx.creatives.thumbnails import (
    THREADS,
    StoredThumbnail,
    ThumbnailFetcher,
    ThumbnailRefused,
    path_for,
)
from metricx.integrations.meta.creatives import CreativeRecord, fetch_creative_records
from metricx.logging import get_logger
from metricx.models import Connection, Creative, Provider

if TYPE_CHECKING:
    from metricx.integrations.meta.client import MetaAdsClient

log = get_logger("metricx.creatives")
# external_id -> (thumbnail_source, thumbnail_sha256) as stored
Have = dict[str, tuple[str | None, str | None]]


@dataclass
class CreativePull:
    records: list[CreativeRecord]
    stored: dict[str, StoredThumbnail] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def pull_creatives(
    client: MetaAdsClient, account_id: str, settings: Settings, have: Have | None = None
) -> CreativePull:
    """The account's creatives, and a copy of each thumbnail not yet stored (a new image or
    video, or a copy gone from the data dir)."""
    pull = CreativePull(records=fetch_creative_records(client, account_id))
    known = have or {}
    wanted: dict[str, str] = {}  # external id -> URL, one download per distinct source
    for rec in pull.records:
        source, sha = known.get(rec.external_id, (None, None))
        if not rec.thumbnail_url:
            continue
        if sha and source == rec.thumbnail_source and path_for(settings, sha).exists():
            continue
        wanted[rec.external_id] = rec.thumbnail_url

    def one(item: tuple[str, str]) -> tuple[str, StoredThumbnail | str]:
        try:
            return item[0], fetcher.fetch(item[1])
        except ThumbnailRefused as exc:
            return item[0], str(exc)[:300]

    with ThumbnailFetcher(settings) as fetcher, ThreadPoolExecutor(THREADS) as pool:
        for ext, got in pool.map(one, wanted.items()):
            if isinstance(got, StoredThumbnail):
                pull.stored[ext] = got
            else:
                pull.failed[ext] = got
    if pull.failed:
        log.warning(
            "thumbnails not copied",
            account_id=account_id,
            count=len(pull.failed),
            first=next(iter(pull.failed.values())),
        )
    return pull


def _row(connection: Connection, rec: CreativeRecord, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": connection.workspace_id,
        "provider": Provider.META,
        "external_id": rec.external_id,
        "connection_id": connection.id,
        "account_external_id": rec.account_external_id,
        "name": rec.name,
        "status": rec.status,
        "title": rec.title,
        "body": rec.body,
        "call_to_action": rec.call_to_action,
        "link_url": rec.link_url,
        "url_tags": rec.url_tags,
        **rec.utm,
        "object_type": rec.object_type,
        "image_hash": rec.image_hash,
        "video_id": rec.video_id,
        "media": rec.media,
        "created_time": rec.created_time,
        "removed_at": None,
        "updated_at": now,
    }


def record_creatives(
    session: Session,
    *,
    connection: Connection,
    pull: CreativePull | None,
    now: datetime,
    ads: dict[str, str] | None = None,
) -> int:
    """Store the pull's creatives (and thumbnails), and each ad's creative (``ads``: ad id ->
    creative id); creatives Meta stopped listing are marked removed. Returns how many were
    listed."""
    if pull is None:
        return 0
    repository.store_ad_links(session, connection, ads or {}, now)
    repository.upsert(session, [_row(connection, rec, now) for rec in pull.records])
    key = (Creative.workspace_id == connection.workspace_id, Creative.provider == Provider.META)
    for rec in pull.records:
        stored = pull.stored.get(rec.external_id)
        if stored is not None:
            values: dict[str, Any] = {
                "thumbnail_source": rec.thumbnail_source,
                "thumbnail_sha256": stored.sha256,
                "thumbnail_content_type": stored.content_type,
                "thumbnail_bytes": stored.size,
                "thumbnail_error": None,
            }
        elif rec.external_id in pull.failed:
            values = {"thumbnail_error": pull.failed[rec.external_id]}
        else:
            continue
        session.execute(
            update(Creative).where(*key, Creative.external_id == rec.external_id).values(values)
        )
    repository.mark_removed(session, connection, {r.external_id for r in pull.records}, now)
    return len(pull.records)


def have_of(session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID) -> Have:
    return repository.thumbnail_state(session, workspace_id, connection_id)
