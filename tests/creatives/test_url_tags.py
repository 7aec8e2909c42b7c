"""url_tags -> UTM fields: clean, Meta's macros, and malformed strings never fail."""

from __future__ import annotations

import pytest

from metricx.integrations.meta.creatives import creative_record, parse_url_tags

NONE = dict.fromkeys(("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"))


def test_plain_utms() -> None:
    got = parse_url_tags(
        "utm_source=fb&utm_medium=cpc&utm_campaign=spring_sale&utm_content=c_1"
        "&utm_term=running+shoes"
    )
    assert got == {
        "utm_source": "fb",
        "utm_medium": "cpc",
        "utm_campaign": "spring_sale",
        "utm_content": "c_1",
        "utm_term": "running shoes",
    }


def test_macros_are_kept_as_written() -> None:
    got = parse_url_tags(
        "utm_source=facebook&utm_medium=paid_social&utm_campaign={{campaign.name}}"
        "&utm_content={{ad.name}}&utm_id={{ad.id}}"
    )
    assert got["utm_campaign"] == "{{campaign.name}}" and got["utm_content"] == "{{ad.name}}"
    assert got["utm_term"] is None  # utm_id is no UTM field of ours


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, NONE),
        ("", NONE),
        ("&&&", NONE),
        ("=&=x&utm_source", NONE),
        ("utm_source=", NONE),
        ("utm_source=   ", NONE),
        (
            "utm_source=facebook&&utm_medium&=orphan&utm_campaign=50%off%ZZ"
            "&utm_content=%E2%9C%93%20check",
            {
                **NONE,
                "utm_source": "facebook",
                "utm_campaign": "50%off%ZZ",  # invalid escapes kept
                "utm_content": "\u2713 check",
            },
        ),
        (
            "?utm_source=Instagram&UTM_Medium=Paid%20Social&utm_campaign=summer%2Fsale"
            "&utm_source=dup",
            {
                **NONE,
                "utm_source": "Instagram",  # the first wins
                "utm_medium": "Paid Social",  # keys match whatever their case
                "utm_campaign": "summer/sale",
            },
        ),
        ("utm_source=a;utm_medium=b", {**NONE, "utm_source": "a", "utm_medium": "b"}),
        (
            "https://shop.example.com/x?utm_source=news&utm_term=a%20b#frag",
            {**NONE, "utm_source": "news", "utm_term": "a b"},
        ),
        ("utm_content=%E2%9C", {**NONE, "utm_content": "\ufffd"}),  # a cut UTF-8 sequence
        ("utm_source=a=b=c", {**NONE, "utm_source": "a=b=c"}),
        ("http://[::1", NONE),  # not even a URL
    ],
)
def test_malformed_input_gives_what_can_be_read(text: str | None, expected: dict) -> None:  # type: ignore[type-arg]
    assert parse_url_tags(text) == expected


def test_values_are_cut_at_500() -> None:
    assert parse_url_tags("utm_term=" + "x" * 900)["utm_term"] == "x" * 500


def test_copy_is_read_from_the_story_spec_when_not_on_top() -> None:
    rec = creative_record(
        {
            "id": "1",
            "url_tags": "utm_source=fb",
            "object_story_spec": {
                "video_data": {
                    "video_id": "77",
                    "title": "Watch",
                    "message": "Body",
                    "call_to_action": {"type": "WATCH_MORE", "value": {"link": "https://x.y/"}},
                }
            },
        },
        "act_1",
    )
    assert (rec.title, rec.body, rec.call_to_action, rec.link_url, rec.video_id) == (
        "Watch",
        "Body",
        "WATCH_MORE",
        "https://x.y/",
        "77",
    )
    assert rec.utm["utm_source"] == "fb" and rec.thumbnail_source == "video:77"
    odd = creative_record({"id": 2, "object_story_spec": "nonsense", "title": {"x": 1}}, "act_1")
    assert odd.title is None and odd.external_id == "2"
