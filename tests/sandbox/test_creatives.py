"""The sandbox's creatives, images and videos through the real SDK, its signed thumbnail
URLs (a real PNG; 403 once expired or tampered with), and metricx's thumbnail fetcher against
them (the egress guard lets the Graph API's own host through, and only image bytes in)."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adcreative import AdCreative

from metricx.config import Settings
from metricx.creatives.thumbnails import ThumbnailFetcher, ThumbnailRefused, store
from metricx.integrations.meta.creatives import CREATIVE_FIELDS
from tests.sandbox.conftest import Sandbox


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    # the image data inflates to one filter byte + RGB per row
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    assert len(zlib.decompress(data[start : start + length])) == height * (1 + 3 * width)
    return width, height


def test_creatives_are_consistent_with_ads_images_and_videos(sandbox: Sandbox) -> None:
    api = sandbox.api()
    account = sandbox.info()["accounts"][0]["id"]
    act = AdAccount(account, api=api)
    creatives = list(act.get_ad_creatives(fields=list(CREATIVE_FIELDS), params={"limit": 7}))
    truth = sandbox.http.get("/_sandbox/truth/creatives", params={"account_id": account}).json()
    assert [c["id"] for c in creatives] == [c["id"] for c in truth["creatives"]]  # all pages
    ads = list(act.get_ads(fields=["id", "creative"], params={"limit": 500}))
    used = {a["creative"]["id"] for a in ads}
    assert used <= {c["id"] for c in creatives}
    by_truth = {c["id"]: c for c in truth["creatives"]}
    assert {a["id"] for a in ads} <= {ad for c in truth["creatives"] for ad in c["ads"]}
    images = {i["hash"]: i for i in act.get_ad_images(fields=["hash", "url", "width"])}
    videos = {v["id"]: v for v in act.get_ad_videos(fields=["id", "picture", "length"])}
    for c in creatives:
        want = by_truth[c["id"]]
        spec = c["object_story_spec"]
        if want["video_id"]:
            assert c["video_id"] in videos and "title" not in c  # copy only in the spec
            assert spec["video_data"]["title"] == want["title"]
        else:
            assert c["image_hash"] in images and c["title"] == want["title"]
            assert spec["link_data"]["link"] == c["link_url"] == want["link_url"]
        # GET by id says the same
        one = AdCreative(c["id"], api=api).api_get(fields=["name", "call_to_action_type"])
        assert (one["name"], one["call_to_action_type"]) == (c["name"], c["call_to_action_type"])
    assert videos and images


def test_thumbnail_urls_serve_a_png_until_they_expire(sandbox: Sandbox) -> None:
    account = sandbox.info()["accounts"][1]["id"]
    page = sandbox.http.get(
        f"/v25.0/{account}/adcreatives",
        params={"access_token": sandbox.token, "fields": "thumbnail_url", "limit": 1},
    ).json()
    url = page["data"][0]["thumbnail_url"]
    path = url.removeprefix(sandbox.url)
    first = sandbox.http.get(path)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert png_size(first.content) == (64, 64)
    assert sandbox.http.get(path).content == first.content  # deterministic
    assert sandbox.http.get(path.replace("oh=", "oh=0")).status_code == 403
    assert sandbox.http.get(path.split("?")[0]).status_code == 403
    assert sandbox.http.get("/_sandbox/cdn/inothere.png").status_code == 404
    clock = sandbox.http.get("/_sandbox/clock").json()
    try:
        sandbox.http.post("/_sandbox/clock/advance", json={"days": 3, "seconds": 1})
        gone = sandbox.http.get(path)
        assert gone.status_code == 403 and gone.text == "URL signature expired"
    finally:
        sandbox.http.post("/_sandbox/clock", json={"now": clock["now"]})


def fetcher(tmp_path: Path, graph_url: str, **extra: object) -> ThumbnailFetcher:
    return ThumbnailFetcher(
        Settings(data_dir=tmp_path / "data", meta_graph_url=graph_url, **extra)  # type: ignore[arg-type]
    )


def test_the_fetcher_copies_images_from_the_graph_host_only(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    account = sandbox.info()["accounts"][0]["id"]
    url = sandbox.http.get(
        f"/v25.0/{account}/adcreatives",
        params={"access_token": sandbox.token, "fields": "thumbnail_url", "limit": 1},
    ).json()["data"][0]["thumbnail_url"]
    stored = fetcher(tmp_path, sandbox.url).fetch(url)
    data = (tmp_path / "data" / "thumbnails" / stored.sha256[:2] / stored.sha256).read_bytes()
    assert hashlib.sha256(data).hexdigest() == stored.sha256 and stored.content_type == "image/png"

    # Graph elsewhere: the sandbox's loopback address is no public destination
    with pytest.raises(ThumbnailRefused, match="loopback"):
        fetcher(tmp_path, "https://graph.facebook.com").fetch(url)
    host = urlsplit(sandbox.url).hostname
    allowed = fetcher(tmp_path, "https://graph.facebook.com", thumbnail_allowed_hosts=host)
    assert allowed.fetch(url).sha256 == stored.sha256
    # not an image: refused, nothing stored
    with pytest.raises(ThumbnailRefused, match="not an image type"):
        fetcher(tmp_path, sandbox.url).fetch(sandbox.url + "/_sandbox")
    with pytest.raises(ThumbnailRefused, match="403"):
        fetcher(tmp_path, sandbox.url).fetch(url.replace("oh=", "oh=0"))
    with pytest.raises(ThumbnailRefused, match="not http"):
        fetcher(tmp_path, sandbox.url).fetch("file:///etc/passwd")


def test_store_checks_type_bytes_and_size(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", thumbnail_max_bytes=2048)
    with pytest.raises(ThumbnailRefused, match="not an image type"):
        store(settings, b"<svg/>", "image/svg+xml")
    with pytest.raises(ThumbnailRefused, match="bytes are not image/png"):
        store(settings, b"<html>", "image/png")
    with pytest.raises(ThumbnailRefused, match="larger than 2048"):
        store(settings, b"\xff\xd8\xff" + b"0" * 3000, "image/jpeg")
    jpeg = store(settings, b"\xff\xd8\xff" + b"0" * 100, "image/jpg; charset=x")
    assert jpeg.content_type == "image/jpeg" and jpeg.size == 103
    assert store(settings, b"\xff\xd8\xff" + b"0" * 100, "image/jpeg") == jpeg  # stored once
    assert not list((tmp_path / "data" / "thumbnails").rglob(".part-*"))
