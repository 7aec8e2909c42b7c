"""Ad creatives, images and videos (issue 17): wire shapes and the image CDN (the creatives
themselves are made in generator.py, `make_creative`).

Each account has a pool of creatives (about one per two ads); an ad draws its creative from
the pool with a hash draw no other number depends on, so creatives are shared across ad sets
and campaigns as real accounts share them. A creative has one image (`act_X/adimages`, joined
on `image_hash`) or one video (`act_X/advideos`). Classic ads keep their copy in
`object_story_spec` (`link_data` / `video_data`); image creatives also carry `title`, `body`
and `link_url` at the top level, video creatives do not (a reader must look in the spec).

`url_tags` come in the shapes found in the wild: plain UTMs, Meta's dynamic macros
(`{{campaign.name}}`, `{{ad.name}}`, `{{site_source_name}}`), none, and malformed strings
(empty pairs, keys without values, bad percent escapes, a leading `?`, repeated keys).

Images are served by the sandbox's CDN route `/_sandbox/cdn/<key>.png?oe=<hex expiry>&oh=
<signature>`: a real small PNG drawn from the key, signed like fbcdn URLs. A URL expires
THUMBNAIL_TTL after it was handed out (sandbox clock): then, or with a wrong signature, the
CDN answers 403 "URL signature expired" as fbcdn does.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from datetime import datetime, timedelta
from typing import Any

from metricx.sandbox.generator import Account, AdVideo, Creative, World

THUMBNAIL_TTL = timedelta(days=3)
THUMBNAIL_SIZE = 64  # pixels, square (Meta's default thumbnail is 64x64)

# ---- signed CDN URLs and the images behind them ----------------------------------------------


def _signature(seed: int, key: str, expires: int) -> str:
    secret = f"sandbox-cdn-{seed}".encode()
    return hmac.new(secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def signed_url(base_url: str, seed: int, key: str, now: datetime) -> str:
    expires = int((now + THUMBNAIL_TTL).timestamp())
    return f"{base_url}/_sandbox/cdn/{key}.png?oe={expires:x}&oh={_signature(seed, key, expires)}"


def check_signed(seed: int, key: str, oe: str, oh: str, now: datetime) -> str | None:
    """None when the URL is valid now, else why it is refused."""
    try:
        expires = int(oe, 16)
    except ValueError:
        return "Bad URL hash"
    if not hmac.compare_digest(_signature(seed, key, expires), oh):
        return "Bad URL hash"
    if now.timestamp() > expires:
        return "URL signature expired"
    return None


def png(key: str, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small, real PNG (RGB, diagonal stripes in two colours drawn from the key)."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16)
    a = ((h >> 0) & 0xFF, (h >> 8) & 0xFF, (h >> 16) & 0xFF)
    b = (255 - a[0], 255 - a[1], 255 - a[2])
    width = 4 + (h >> 24) % 12
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            rows.extend(a if ((x + y) // width) % 2 == 0 else b)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def known_key(world: World, key: str) -> bool:
    if key.startswith("v"):
        return key[1:] in world.videos_by_id
    if key.startswith("i"):
        return any(
            c.image is not None and c.image.hash == key[1:] for c in world.creatives_by_id.values()
        )
    return False


# ---- wire shapes ---------------------------------------------------------------------------


def creative_fields(c: Creative, base_url: str, now: datetime, seed: int) -> dict[str, Any]:
    from metricx.sandbox.objects import meta_time

    a = c.account
    thumb = signed_url(base_url, seed, c.thumbnail_key, now)
    cta = {"type": c.call_to_action_type, "value": {"link": c.link}}
    out: dict[str, Any] = {
        "id": c.id,
        "account_id": a.account_id,
        "name": c.name,
        "status": "ACTIVE",
        "call_to_action_type": c.call_to_action_type,
        "thumbnail_url": thumb,
        "thumbnail_id": c.thumbnail_key[1:],
        "object_type": "VIDEO" if c.video is not None else "SHARE",
        "effective_object_story_id": f"{a.page_id}_{c.id}",
        "created_time": meta_time(c.created, a),
    }
    if c.url_tags:
        out["url_tags"] = c.url_tags
    if c.video is not None:
        out["video_id"] = c.video.id
        out["object_story_spec"] = {
            "page_id": a.page_id,
            "video_data": {
                "video_id": c.video.id,
                "title": c.title,
                "message": c.body,
                "image_url": thumb,
                "call_to_action": cta,
            },
        }
    else:
        assert c.image is not None
        out.update(
            {
                "title": c.title,
                "body": c.body,
                "link_url": c.link,
                "image_hash": c.image.hash,
                "image_url": signed_url(base_url, seed, c.thumbnail_key, now),
            }
        )
        out["object_story_spec"] = {
            "page_id": a.page_id,
            "link_data": {
                "link": c.link,
                "message": c.body,
                "name": c.title,
                "image_hash": c.image.hash,
                "call_to_action": cta,
            },
        }
    return out


def image_fields(c: Creative, base_url: str, now: datetime, seed: int) -> dict[str, Any]:
    from metricx.sandbox.objects import meta_time

    img = c.image
    assert img is not None
    a = c.account
    url = signed_url(base_url, seed, c.thumbnail_key, now)
    return {
        "id": f"{a.account_id}:{img.hash}",
        "account_id": a.account_id,
        "hash": img.hash,
        "name": img.name,
        "url": url,
        "url_128": url,
        "permalink_url": f"{base_url}/_sandbox/permalink/{img.hash}",
        "width": img.width,
        "height": img.height,
        "original_width": img.width,
        "original_height": img.height,
        "status": "ACTIVE",
        "creatives": [c.id],
        "created_time": meta_time(img.created, a),
        "updated_time": meta_time(img.created, a),
    }


def video_fields(v: AdVideo, base_url: str, now: datetime, seed: int) -> dict[str, Any]:
    from metricx.sandbox.objects import meta_time

    a = v.account
    picture = signed_url(base_url, seed, f"v{v.id}", now)
    return {
        "id": v.id,
        "title": v.title,
        "description": "",
        "length": v.length,
        "picture": picture,
        "thumbnails": {
            "data": [
                {
                    "id": f"{v.id}1",
                    "uri": picture,
                    "width": THUMBNAIL_SIZE,
                    "height": THUMBNAIL_SIZE,
                    "scale": 1,
                    "is_preferred": True,
                }
            ]
        },
        "permalink_url": f"/{a.page_id}/videos/{v.id}/",
        "source": f"{base_url}/_sandbox/permalink/{v.id}.mp4",
        "status": {"video_status": "ready"},
        "created_time": meta_time(v.created, a),
        "updated_time": meta_time(v.created, a),
    }


def pick(full: dict[str, Any], fields: list[str], node_type: str) -> dict[str, Any]:
    """The requested fields (`id` always); unknown ones are error 100, known but unset ones
    are left out, as Graph does."""
    from metricx.sandbox import errors

    known = CREATIVE_FIELDS if node_type == "AdCreative" else None
    out: dict[str, Any] = {}
    for name in fields or ["id"]:
        if name in full:
            out[name] = full[name]
        elif known is None or name not in known:
            raise errors.unknown_field(name, node_type)
    out.setdefault("id", full["id"])
    return out


# Fields an AdCreative may lack (absent when unset: video creatives keep their copy in the spec).
CREATIVE_FIELDS = frozenset(
    {"title", "body", "link_url", "image_hash", "image_url", "video_id", "url_tags"}
)


def creatives_truth(account: Account) -> dict[str, Any]:
    """Every creative of the account with its raw copy and the ads that use it."""
    ads_of: dict[str, list[str]] = {}
    for ad in account.ads:
        if ad.creative is not None:
            ads_of.setdefault(ad.creative.id, []).append(ad.id)
    return {
        "account_id": account.id,
        "creatives": [
            {
                "id": c.id,
                "name": c.name,
                "title": c.title,
                "body": c.body,
                "call_to_action_type": c.call_to_action_type,
                "link_url": c.link,
                "url_tags": c.url_tags,
                "image_hash": c.image.hash if c.image is not None else None,
                "video_id": c.video.id if c.video is not None else None,
                "thumbnail_key": c.thumbnail_key,
                "thumbnail_png_sha256": hashlib.sha256(png(c.thumbnail_key)).hexdigest(),
                "ads": ads_of.get(c.id, []),
            }
            for c in account.creatives
        ],
    }
