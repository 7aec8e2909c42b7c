"""A creative's media: its image's or video's lasting details, and a video creative that Meta
sends without a thumbnail_url gets its video's picture instead (real payload shapes)."""

from __future__ import annotations

from metricx.integrations.meta.creatives import creative_record, with_media

VIDEO_ROW = {
    "id": "120210000000001",
    "name": "Spring video",
    "object_type": "VIDEO",
    "video_id": "998877",
    "object_story_spec": {"video_data": {"video_id": "998877", "title": "Spring"}},
}
PICTURE = "https://scontent.example/v/t15/998877_n.jpg?stp=dst-jpg&_nc_sig=abc&oe=65F0"


def test_a_video_creative_without_a_thumbnail_shows_its_video_picture() -> None:
    rec = creative_record(VIDEO_ROW, "act_1")
    assert rec.thumbnail_url is None
    videos = {"998877": {"id": "998877", "title": "Spring", "length": 15.2}}
    got = with_media(rec, {}, videos, {"998877": PICTURE})
    assert got.thumbnail_url == PICTURE
    assert got.media == {"kind": "video", "id": "998877", "title": "Spring", "length": 15.2}


def test_a_thumbnail_meta_sent_is_kept_and_no_picture_changes_nothing() -> None:
    own = creative_record({**VIDEO_ROW, "thumbnail_url": "https://x.example/t.png"}, "act_1")
    assert with_media(own, {}, {}, {"998877": PICTURE}).thumbnail_url == "https://x.example/t.png"
    bare = creative_record(VIDEO_ROW, "act_1")
    assert with_media(bare, {}, {}, {}) is bare
