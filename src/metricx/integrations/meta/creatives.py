"""Meta's ad creatives, images and videos as creative records (issue 17).

A creative's copy is where Meta keeps it: top-level ``title`` / ``body`` / ``link_url`` /
``call_to_action_type`` when set, else in ``object_story_spec`` (``link_data``: name, message,
link, call_to_action; ``video_data``: title, message, call_to_action.value.link). Its image
joins ``act_X/adimages`` on ``image_hash`` = ``hash``, its video ``act_X/advideos`` on id.

``url_tags`` ("utm_source=facebook&utm_campaign={{campaign.name}}") become the five UTM
fields with ``parse_url_tags``, which never fails: see its docstring.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

from metricx.integrations.meta.entities import parse_meta_time

if TYPE_CHECKING:
    from metricx.integrations.meta.client import MetaAdsClient

CREATIVE_FIELDS = (
    "id",
    "name",
    "status",
    "title",
    "body",
    "call_to_action_type",
    "object_story_spec",
    "link_url",
    "url_tags",
    "thumbnail_url",
    "image_hash",
    "video_id",
    "object_type",
)
IMAGE_FIELDS = ("hash", "name", "width", "height", "permalink_url")
VIDEO_FIELDS = ("id", "title", "length", "picture")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
UTM_LIMIT = 500


def parse_url_tags(text: str | None) -> dict[str, str | None]:
    """The five UTM fields of a creative's ``url_tags``; None where absent or empty.

    Tolerant, as the strings come from people: a leading ``?`` or ``&`` is dropped; pairs
    split on ``&`` (``;`` too); a pair without ``=`` or with an empty key or value is skipped;
    keys match case-insensitively (``UTM_Medium``); the first occurrence of a key wins;
    ``+`` and valid percent escapes are decoded, invalid ones (``%ZZ``, a cut ``%E2%9C``) are
    kept or replaced rather than failing; Meta's dynamic macros (``{{ad.name}}``,
    ``{{site_source_name}}``) are kept as written, since Meta fills them in per click and a
    creative shared by several ads has no single value; values are cut at 500 characters."""
    out: dict[str, str | None] = dict.fromkeys(UTM_KEYS)
    if not text:
        return out
    body = str(text).strip()
    if "://" in body:  # a whole URL pasted in: its query
        try:
            body = urlsplit(body).query
        except ValueError:
            return out
    body = body.lstrip("?&")
    for part in body.replace(";", "&").split("&"):
        key, sep, raw = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in out or out[key] is not None:
            continue
        value = _decode(raw).strip()
        if value:
            out[key] = value[:UTM_LIMIT]
    return out


def _decode(raw: str) -> str:
    try:
        return unquote_plus(raw, errors="replace")
    except (ValueError, UnicodeError):  # pragma: no cover - unquote_plus replaces
        return raw


@dataclass(frozen=True)
class CreativeRecord:
    external_id: str
    account_external_id: str
    name: str | None
    status: str | None
    title: str | None
    body: str | None
    call_to_action: str | None
    link_url: str | None
    url_tags: str | None
    utm: dict[str, str | None]
    object_type: str | None
    image_hash: str | None
    video_id: str | None
    thumbnail_url: str | None
    created_time: datetime | None
    media: dict[str, Any] | None = None

    @property
    def thumbnail_source(self) -> str | None:
        """What the thumbnail shows (its image or video): a new one is fetched when it
        changes, not when Meta re-signs the URL."""
        if self.image_hash:
            return f"image:{self.image_hash}"
        if self.video_id:
            return f"video:{self.video_id}"
        if self.thumbnail_url:
            try:
                return "url:" + urlsplit(self.thumbnail_url).path[:190]
            except ValueError:
                return None
        return None


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    text = str(value)
    return text[:limit] if text else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def creative_record(row: Mapping[str, Any], account_external_id: str) -> CreativeRecord:
    spec = _mapping(row.get("object_story_spec"))
    link_data = _mapping(spec.get("link_data"))
    video_data = _mapping(spec.get("video_data"))
    story = link_data or video_data
    cta = _mapping(story.get("call_to_action"))
    cta_value = _mapping(cta.get("value"))
    url_tags = _text(row.get("url_tags"), 2000)
    return CreativeRecord(
        external_id=str(row["id"]),
        account_external_id=account_external_id,
        name=_text(row.get("name"), 500),
        status=_text(row.get("status"), 32),
        title=_text(row.get("title") or link_data.get("name") or video_data.get("title"), 1000),
        body=_text(row.get("body") or story.get("message"), 20000),
        call_to_action=_text(row.get("call_to_action_type") or cta.get("type"), 64),
        link_url=_text(row.get("link_url") or link_data.get("link") or cta_value.get("link"), 2000),
        url_tags=url_tags,
        utm=parse_url_tags(url_tags),
        object_type=_text(row.get("object_type"), 32),
        image_hash=_text(row.get("image_hash") or link_data.get("image_hash"), 128),
        video_id=_text(row.get("video_id") or video_data.get("video_id"), 128),
        thumbnail_url=_text(row.get("thumbnail_url"), 4000),
        created_time=parse_meta_time(row.get("created_time")),
    )


def with_media(
    rec: CreativeRecord,
    images: dict[str, dict[str, Any]],
    videos: dict[str, dict[str, Any]],
    pictures: dict[str, str] | None = None,
) -> CreativeRecord:
    """The creative with its image's or video's lasting details; a video creative Meta gives
    no ``thumbnail_url`` shows its video's ``picture`` (copied at once: it expires too)."""
    media: dict[str, Any] | None = None
    changes: dict[str, Any] = {}
    if rec.image_hash and rec.image_hash in images:
        media = {"kind": "image", **images[rec.image_hash]}
    elif rec.video_id and rec.video_id in videos:
        media = {"kind": "video", **videos[rec.video_id]}
    if rec.thumbnail_url is None and rec.video_id and (pictures or {}).get(rec.video_id):
        changes["thumbnail_url"] = (pictures or {})[rec.video_id]
    if media is not None:
        changes["media"] = media
    return CreativeRecord(**{**rec.__dict__, **changes}) if changes else rec


def _media_row(row: Mapping[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    # URLs Meta signs expire: only the lasting facts about the image or video are kept.
    return {
        k: row[k]
        for k in keep
        if k in row and k not in ("picture", "url") and isinstance(row[k], str | int | float)
    }


def iter_creative_rows(client: MetaAdsClient, account_id: str) -> Iterator[dict[str, Any]]:
    from metricx.integrations.meta.client import act_id

    return client.iter_edge(
        act_id(account_id), "adcreatives", CREATIVE_FIELDS, include_deleted=False
    )


def fetch_creative_records(client: MetaAdsClient, account_id: str) -> list[CreativeRecord]:
    """Every creative of the account with its image's or video's details, in three paged
    account-level calls (creatives, images, videos)."""
    from metricx.integrations.meta.client import act_id

    account = act_id(account_id)
    records = [creative_record(row, account) for row in iter_creative_rows(client, account_id)]
    images: dict[str, dict[str, Any]] = {}
    videos: dict[str, dict[str, Any]] = {}
    pictures: dict[str, str] = {}
    if any(r.image_hash for r in records):
        for row in client.iter_edge(account, "adimages", IMAGE_FIELDS, include_deleted=False):
            if row.get("hash"):
                images[str(row["hash"])] = _media_row(row, IMAGE_FIELDS)
    if any(r.video_id for r in records):
        for row in client.iter_edge(account, "advideos", VIDEO_FIELDS, include_deleted=False):
            if row.get("id"):
                videos[str(row["id"])] = _media_row(row, VIDEO_FIELDS)
                if isinstance(row.get("picture"), str) and row["picture"]:
                    pictures[str(row["id"])] = row["picture"][:4000]
    return [with_media(r, images, videos, pictures) for r in records]
