"""A workspace's ad creatives (synced with the entities) and their stored thumbnails."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from metricx.auth.dependencies import DbSession, RuntimeDep, WorkspaceReader
from metricx.creatives import repository, thumbnails
from metricx.errors import Forbidden, NotFound, Unauthorized, error_responses
from metricx.models import Creative

router = APIRouter(tags=["creatives"])
BASE = "/workspaces/{workspace_id}/creatives"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)
CreativeId = Annotated[str, Path(max_length=128, pattern=r"^[0-9A-Za-z_\-:]+$")]


class CreativeRead(BaseModel):
    id: str = Field(description="Meta's creative id.")
    connection_id: uuid.UUID | None
    account_id: str
    name: str | None
    status: str | None
    title: str | None
    body: str | None
    call_to_action: str | None
    link_url: str | None
    url_tags: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    object_type: str | None
    image_hash: str | None
    video_id: str | None
    media: dict[str, object] | None = Field(
        description="What act_X/adimages or act_X/advideos said of its image or video."
    )
    thumbnail_url: str | None = Field(
        description="metricx's copy of the thumbnail (this API); null: none stored."
    )
    thumbnail_error: str | None = Field(description="Why the last copy attempt failed.")
    removed: bool


class CreativeList(BaseModel):
    creatives: list[CreativeRead]


def read(row: Creative) -> CreativeRead:
    return CreativeRead(
        id=row.external_id,
        connection_id=row.connection_id,
        account_id=row.account_external_id,
        name=row.name,
        status=row.status,
        title=row.title,
        body=row.body,
        call_to_action=row.call_to_action,
        link_url=row.link_url,
        url_tags=row.url_tags,
        utm_source=row.utm_source,
        utm_medium=row.utm_medium,
        utm_campaign=row.utm_campaign,
        utm_content=row.utm_content,
        utm_term=row.utm_term,
        object_type=row.object_type,
        image_hash=row.image_hash,
        video_id=row.video_id,
        media=row.media,
        thumbnail_url=thumbnails.api_path(row.workspace_id, row.external_id, row.thumbnail_sha256),
        thumbnail_error=row.thumbnail_error,
        removed=row.removed_at is not None,
    )


@router.get(BASE, response_model=CreativeList, responses=ERRORS)
def list_creatives(
    access: WorkspaceReader,
    session: DbSession,
    connection_id: Annotated[uuid.UUID | None, Query()] = None,
) -> CreativeList:
    """The workspace's ad creatives: copy, call to action, link, url_tags and the UTM fields
    parsed from them (Meta's {{macros}} kept as written), image or video, thumbnail copy."""
    rows = repository.listing(session, access.workspace.id, connection_id)
    return CreativeList(creatives=[read(r) for r in rows])


@router.get(
    BASE + "/{creative_id}/thumbnail",
    responses={**ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}}}},
    response_class=Response,
)
def get_thumbnail(
    creative_id: CreativeId, access: WorkspaceReader, session: DbSession, runtime: RuntimeDep
) -> Response:
    """The creative's thumbnail as copied into metricx's data dir when it was synced (Meta's
    own URLs expire). 404 when the workspace has no such creative or no copy of it."""
    row = repository.get(session, access.workspace.id, creative_id)
    if row is None or not row.thumbnail_sha256:
        raise NotFound("no thumbnail for this creative")
    data = thumbnails.read(runtime.settings, row.thumbnail_sha256)
    if data is None:
        raise NotFound("the thumbnail copy is missing; the next sync copies it again")
    return Response(
        data,
        media_type=row.thumbnail_content_type or "application/octet-stream",
        headers={
            "Cache-Control": "private, max-age=86400",
            "ETag": f'"{row.thumbnail_sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
