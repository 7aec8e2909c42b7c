"""Ad creatives of each ad account, synced with the entities (issue 17)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base, Provider, tenant_fk, text_enum, updated_at


class Creative(Base):
    """A Meta ad creative (``act_X/adcreatives``): its copy, call to action, link, url_tags
    parsed into UTM fields, and its image or video. Ads name theirs in ``ad_creatives``.

    The thumbnail is a copy in metricx's data dir (Meta's URLs expire), named by its SHA-256
    (``thumbnail_sha256``, see creatives/thumbnails.py); ``thumbnail_source`` is what it was
    copied from (the image hash or video id), so an unchanged one is not fetched again."""

    __tablename__ = "creatives"
    __table_args__ = (tenant_fk("creatives", "connection_id", "connections", "SET NULL"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    account_external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(1000))
    body: Mapped[str | None] = mapped_column(Text)
    call_to_action: Mapped[str | None] = mapped_column(String(64))
    link_url: Mapped[str | None] = mapped_column(String(2000))
    url_tags: Mapped[str | None] = mapped_column(String(2000))
    utm_source: Mapped[str | None] = mapped_column(String(500))
    utm_medium: Mapped[str | None] = mapped_column(String(500))
    utm_campaign: Mapped[str | None] = mapped_column(String(500))
    utm_content: Mapped[str | None] = mapped_column(String(500))
    utm_term: Mapped[str | None] = mapped_column(String(500))
    object_type: Mapped[str | None] = mapped_column(String(32))
    image_hash: Mapped[str | None] = mapped_column(String(128))
    video_id: Mapped[str | None] = mapped_column(String(128))
    # What act_X/adimages or act_X/advideos said of its image or video (size, title, length).
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    thumbnail_source: Mapped[str | None] = mapped_column(String(200))
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))
    thumbnail_content_type: Mapped[str | None] = mapped_column(String(64))
    thumbnail_bytes: Mapped[int | None] = mapped_column(Integer)
    thumbnail_error: Mapped[str | None] = mapped_column(String(300))
    created_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when Meta stopped returning it; it stays (its ads' facts still name it).
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = updated_at()


class AdCreative(Base):
    """Which creative an ad shows (its ``creative{id}``), as the last entity sync listed it:
    ads (``entities``, level ad) and creatives join on the workspace, provider and ids."""

    __tablename__ = "ad_creatives"
    __table_args__ = (tenant_fk("ad_creatives", "connection_id", "connections", "SET NULL"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"), primary_key=True)
    ad_external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    creative_external_id: Mapped[str] = mapped_column(String(128))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    updated_at: Mapped[datetime] = updated_at()
