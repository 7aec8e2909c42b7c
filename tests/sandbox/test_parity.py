"""Issue 16's data through the real SDK: ad set goals and attribution settings, custom
conversions, per-window actions, video and click fields, Meta's aggregation rules, and every
level reconciled with its ads and with /_sandbox/truth."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.exceptions import FacebookRequestError

from metricx.sandbox.config import SandboxConfig
from tests.sandbox.conftest import ALL_STATUSES, Sandbox, start_sandbox

START = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
WINDOWS = ["1d_click", "7d_click", "28d_click", "1d_view", "1d_ev"]
SINCE, UNTIL = "2026-03-10", "2026-03-19"
RANGE = {"since": SINCE, "until": UNTIL}
EVERY_STATUS = {"field": "{level}.effective_status", "operator": "IN", "value": ALL_STATUSES}
VIDEO_COUNTS = {
    "video_play_actions": "video_starts",
    "video_thruplay_watched_actions": "thruplays",
    "video_p25_watched_actions": "video_p25",
    "video_p50_watched_actions": "video_p50",
    "video_p75_watched_actions": "video_p75",
    "video_p95_watched_actions": "video_p95",
    "video_p100_watched_actions": "video_p100",
}
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    """Eight campaigns per account (sales, leads, traffic, conversions, awareness, app, lead
    generation, engagement), three ad sets each."""
    config = SandboxConfig(
        seed=16,
        accounts=2,
        campaigns=8,
        adsets_per_campaign=3,
        ads_per_adset=2,
        days=20,
        tier="standard",
        clock=START,
        frozen_clock=True,
    )
    box, stop = start_sandbox(config)
    yield box
    box.http.close()
    stop()


def _settings(box: Sandbox, act: str) -> dict[str, Any]:
    resp = box.http.get("/_sandbox/truth/settings", params={"account_id": act})
    resp.raise_for_status()
    return dict(resp.json())


def _truth(box: Sandbox, act: str, level: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = box.truth(account_id=act, level=level, granularity="day", since=SINCE, until=UNTIL)
    return {(r["entity_id"], r["date"]): r for r in rows["rows"]}


def _insights(box: Sandbox, act: str, level: str, fields: list[str], **extra: Any) -> list[Any]:
    params: dict[str, Any] = {
        "level": level,
        "time_range": RANGE,
        "time_increment": 1,
        "limit": 200,
        **extra,
    }
    if level != "account":
        params["filtering"] = [{**EVERY_STATUS, "field": f"{level}.effective_status"}]
    rows = AdAccount(act, api=box.api()).get_insights(fields=fields, params=params)
    return [dict(r) for r in rows]


def _stat(row: dict[str, Any], field: str, action_type: str = "video_view") -> int:
    for el in row.get(field, []):
        if el["action_type"] == action_type:
            return int(el["value"])
    return 0


def test_ad_sets_carry_goal_promoted_object_and_attribution_spec(world: Sandbox) -> None:
    for acc in world.info()["accounts"]:
        act = acc["id"]
        adsets = list(
            AdAccount(act, api=world.api()).get_ad_sets(
                fields=["campaign_id", "optimization_goal", "promoted_object", "attribution_spec"],
                params={"effective_status": ALL_STATUSES, "limit": 7},
            )
        )
        truth = {s["id"]: s for s in _settings(world, act)["adsets"]}
        assert {s["id"] for s in adsets} == set(truth)
        goals, settings = defaultdict(set), defaultdict(set)
        for s in adsets:
            t = truth[s["id"]]
            assert s["optimization_goal"] == t["optimization_goal"]
            assert dict(s.get("promoted_object") or {}) == t["promoted_object"]
            spec = [dict(x) for x in s["attribution_spec"]]
            assert spec == t["attribution_spec"]
            tokens = [
                f"{x['window_days']}d_{'click' if x['event_type'] == 'CLICK_THROUGH' else 'view'}"
                for x in spec
            ]
            assert "_".join(tokens) == t["attribution_setting"]
            goals[s["campaign_id"]].add(s["optimization_goal"])
            settings[s["campaign_id"]].add(t["attribution_setting"])
        assert any(len(g) > 1 for g in goals.values()), "some campaign mixes goals"
        assert any(len(a) > 1 for a in settings.values()), "some campaign mixes settings"
        assert any(len(a) == 1 for a in settings.values())
        assert {"7d_click_1d_view", "1d_click"} <= set().union(*settings.values())


def test_custom_conversions_edge_pages_and_their_actions_fire(world: Sandbox) -> None:
    act = world.info()["accounts"][0]["id"]
    fields = [
        "id",
        "name",
        "custom_event_type",
        "rule",
        "account_id",
        "is_archived",
        "is_unavailable",
        "creation_time",
        "default_conversion_value",
    ]
    listed = [
        dict(c)
        for c in AdAccount(act, api=world.api()).get_custom_conversions(
            fields=fields, params={"limit": 1}
        )
    ]
    truth = _settings(world, act)
    assert 2 <= len(listed) <= 4
    assert [(c["id"], c["name"]) for c in listed] == [
        (c["id"], c["name"]) for c in truth["custom_conversions"]
    ]
    assert all(c["account_id"] == act.removeprefix("act_") for c in listed)
    assert all(isinstance(c["rule"], str) and c["custom_event_type"] for c in listed)
    firing = {s["id"]: s["custom_conversion_id"] for s in truth["adsets"]}
    assert any(firing.values())
    rows = _insights(world, act, "ad", ["adset_id", "actions"], action_attribution_windows=WINDOWS)
    seen: set[str] = set()
    for row in rows:
        custom = {
            a["action_type"].removeprefix("offsite_conversion.custom.")
            for a in row.get("actions", [])
            if a["action_type"].startswith("offsite_conversion.custom.")
        }
        assert custom <= {firing[row["adset_id"]]}
        seen |= custom
    assert seen, "custom conversions fired somewhere"
    assert seen <= {c["id"] for c in listed}


def test_ad_actions_carry_each_window_and_value_follows_the_ad_sets_setting(
    world: Sandbox,
) -> None:
    act = world.info()["accounts"][1]["id"]
    fields = ["ad_id", "attribution_setting", "actions", "action_values"]
    rows = _insights(world, act, "ad", fields, action_attribution_windows=WINDOWS)
    truth = _truth(world, act, "ad")
    settings = {s["id"]: s for s in _settings(world, act)["adsets"]}
    assert rows and len(rows) == len(truth)
    by_setting: dict[str, int] = defaultdict(int)
    for row in rows:
        t = truth[(row["ad_id"], row["date_start"])]
        assert row["attribution_setting"] == t["attribution_setting"]
        setting = row["attribution_setting"]
        for field, key in (
            ("actions", "action_windows"),
            ("action_values", "action_value_windows"),
        ):
            got = {a["action_type"]: a for a in row.get(field, [])}
            assert set(got) == set(t[key])
            for action_type, el in got.items():
                want = t[key][action_type]
                number = Decimal if field == "action_values" else int
                assert {w: number(el[w]) for w in WINDOWS if w in el} == {
                    w: number(want[w]) for w in WINDOWS if w in want
                }
                assert number(el["value"]) == number(want["value"])
                # the setting's windows ("7d_click_1d_view" -> 7d_click + 1d_view) add up to value
                parts = setting.split("_")
                chosen = ["_".join(parts[i : i + 2]) for i in range(0, len(parts), 2)]
                assert number(el["value"]) == sum(number(el.get(w, 0)) for w in chosen), el
                if "28d_click" in el:
                    assert (
                        number(el["1d_click"]) <= number(el["7d_click"]) <= number(el["28d_click"])
                    )
        by_setting[setting] += 1
    assert len(by_setting) >= 2
    assert {t["attribution_setting"] for t in truth.values()} <= {
        s["attribution_setting"] for s in settings.values()
    }


def test_levels_mixing_settings_omit_action_figures_unless_windows_are_asked(
    world: Sandbox,
) -> None:
    act = world.info()["accounts"][0]["id"]
    fields = ["campaign_id", "attribution_setting", "actions", "action_values", "spend"]
    plain = _insights(world, act, "campaign", fields)
    windowed = _insights(world, act, "campaign", fields, action_attribution_windows=WINDOWS)
    truth = _truth(world, act, "campaign")
    mixed = [r for r in plain if r["attribution_setting"] == "mixed"]
    assert mixed, "a campaign mixes attribution settings on some day"
    for row in plain:
        t = truth[(row["campaign_id"], row["date_start"])]
        assert (row["attribution_setting"] == "mixed") == t["actions_withheld"]
        if t["actions_withheld"]:
            assert "actions" not in row and "action_values" not in row
        else:
            assert {a["action_type"]: int(a["value"]) for a in row["actions"]} == t["actions"]
    by_key = {(r["campaign_id"], r["date_start"]): r for r in windowed}
    for row in mixed:
        again = by_key[(row["campaign_id"], row["date_start"])]
        t = truth[(row["campaign_id"], row["date_start"])]
        assert {a["action_type"]: int(a["7d_click"]) for a in again["actions"]} == {
            k: w["7d_click"] for k, w in t["action_windows"].items() if "7d_click" in w
        }


def test_video_fields_are_refused_with_hourly_breakdowns(world: Sandbox) -> None:
    act = world.info()["accounts"][0]["id"]
    account = AdAccount(act, api=world.api())
    with pytest.raises(FacebookRequestError) as caught:
        list(
            account.get_insights(
                fields=["ad_id", "video_thruplay_watched_actions"],
                params={"level": "ad", "time_range": RANGE, "breakdowns": [HOURLY]},
            )
        )
    assert caught.value.api_error_code() == 100
    hourly = list(
        account.get_insights(
            fields=["ad_id", "impressions", "outbound_clicks"],
            params={"level": "ad", "time_range": RANGE, "breakdowns": [HOURLY], "limit": 500},
        )
    )
    assert hourly
    with pytest.raises(FacebookRequestError) as unknown:
        list(account.get_insights(fields=["video_p33_watched_actions"], params={}))
    assert unknown.value.api_error_code() == 100


ADDITIVE = ["inline_link_clicks", "outbound_clicks", *VIDEO_COUNTS]


def _measures(row: dict[str, Any]) -> dict[str, int]:
    out = {
        "inline_link_clicks": int(row.get("inline_link_clicks", 0)),
        "outbound_clicks": _stat(row, "outbound_clicks", "outbound_click"),
    }
    out.update({f: _stat(row, f) for f in VIDEO_COUNTS})
    for a in row.get("actions", []):
        out[f"action:{a['action_type']}"] = int(a["value"])
        for w in WINDOWS:
            if w in a:
                out[f"action:{a['action_type']}:{w}"] = int(a[w])
    return out


@pytest.mark.parametrize("level", ["adset", "campaign", "account"])
def test_every_level_equals_the_sum_of_its_ads_and_the_truth(world: Sandbox, level: str) -> None:
    fields = [
        "ad_id",
        "adset_id",
        "campaign_id",
        "account_id",
        "spend",
        "reach",
        "actions",
        "results",
        "video_avg_time_watched_actions",
        *ADDITIVE,
    ]
    for acc in world.info()["accounts"]:
        act = acc["id"]
        ads = _insights(world, act, "ad", fields, action_attribution_windows=WINDOWS)
        rows = _insights(world, act, level, fields[1:], action_attribution_windows=WINDOWS)
        id_key = f"{level}_id"
        summed: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for ad in ads:
            parent = ad[id_key] if level != "account" else act
            for k, n in _measures(ad).items():
                summed[(parent, ad["date_start"])][k] += n
        truth = _truth(world, act, level)
        assert len(rows) == len(truth) == len(summed)
        for row in rows:
            entity = act if level == "account" else row[id_key]
            key = (entity, row["date_start"])
            got = _measures(row)
            assert {k: n for k, n in got.items() if n} == {
                k: n for k, n in summed[key].items() if n
            }, key
            t = truth[key]
            assert got["inline_link_clicks"] == t["link_clicks"]
            assert got["outbound_clicks"] == t["outbound_clicks"]
            assert got.get("action:landing_page_view", 0) == t["landing_page_views"]
            assert got.get("action:post_engagement", 0) == t["post_engagement"]
            msg = "action:onsite_conversion.messaging_conversation_started_7d"
            assert got.get(msg, 0) == t["messaging_conversations"]
            if t["video_plays"] is None:
                assert not any(got[f] for f in VIDEO_COUNTS)
            else:
                assert got.get("action:video_view", 0) == t["video_plays"]
                assert {f: got[f] for f in VIDEO_COUNTS} == {
                    f: t[k] for f, k in VIDEO_COUNTS.items()
                }
                assert _stat(row, "video_avg_time_watched_actions") == t["video_avg_time"]
            results = row.get("results")
            if t["result_type"] == "mixed":
                assert results is None
            elif t["results"]:
                assert results[0]["indicator"] == t["result_type"]
                default = [
                    v for v in results[0]["values"] if v["attribution_windows"] == ["default"]
                ]
                assert int(default[0]["value"]) == t["results"]


def test_truth_knows_results_watch_time_and_every_window(world: Sandbox) -> None:
    act = world.info()["accounts"][0]["id"]
    adsets = {s["id"]: s for s in _settings(world, act)["adsets"]}
    ads = world.truth(account_id=act, level="ad", granularity="day", since=SINCE, until=UNTIL)
    ad_parent = {
        a["id"]: a["adset_id"]
        for a in AdAccount(act, api=world.api()).get_ads(
            fields=["adset_id"], params={"effective_status": ALL_STATUSES, "limit": 100}
        )
    }
    per_adset: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in ads["rows"]:
        adset = adsets[ad_parent[t["entity_id"]]]
        assert t["result_type"] == adset["result_type"]
        if adset["result_type"].startswith("actions:"):
            assert t["results"] == t["actions"].get(adset["result_type"][8:], 0)
        slot = per_adset[(adset["id"], t["date"])]
        slot["watch"] += t["video_watch_seconds"] or 0
        slot["plays"] += t["video_plays"] or 0
        for action_type, windows in t["action_windows"].items():
            for w, n in windows.items():
                slot[f"{action_type}:{w}"] += n
    for t in _truth(world, act, "adset").values():
        slot = per_adset[(t["entity_id"], t["date"])]
        assert (t["video_watch_seconds"] or 0) == slot["watch"]
        windows = {
            f"{a}:{w}": n for a, ws in t["action_windows"].items() for w, n in ws.items() if n
        }
        assert windows == {k: n for k, n in slot.items() if n and k not in ("watch", "plays")}


def test_range_reach_is_meta_s_reach_for_exactly_that_range(world: Sandbox) -> None:
    act = world.info()["accounts"][1]["id"]
    account = AdAccount(act, api=world.api())
    for level in ("account", "campaign", "adset"):
        rows = account.get_insights(
            fields=[f"{level}_id" if level != "account" else "account_id", "reach", "impressions"],
            params={
                "level": level,
                "time_range": {"since": "2026-03-02", "until": "2026-03-15"},
                "time_increment": "all_days",
                "filtering": []
                if level == "account"
                else [{**EVERY_STATUS, "field": f"{level}.effective_status"}],
                "limit": 100,
            },
        )
        got = {
            (act if level == "account" else r[f"{level}_id"]): (
                int(r["reach"]),
                int(r["impressions"]),
            )
            for r in rows
        }
        truth = world.http.get(
            "/_sandbox/truth/reach",
            params={
                "account_id": act,
                "level": level,
                "since": "2026-03-02",
                "until": "2026-03-15",
            },
        ).json()["rows"]
        assert got and got == {t["entity_id"]: (t["reach"], t["impressions"]) for t in truth}
