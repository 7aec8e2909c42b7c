"""Stored facts against the sandbox's ground truth (`/_sandbox/truth`).

The truth's `actions` / `action_values` are Meta's default attribution: each ad set's own
setting (7d_click_1d_view for most, 1d_click, 7d_click or 1d_click_1d_view for some), the
figure an insights row's `value` key carries and the sync stores."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from metricx.integrations.meta.actions import action_measures
from metricx.models import Connection
from metricx.runtime import Runtime
from tests.meta_sandbox import MetaSandbox

Key = tuple[str, str, int]  # entity external id, local date, local hour (-1 for a day)

AD_FACTS = text(
    """
    SELECT e.external_id, (f.event_at AT TIME ZONE :tz)::date AS day,
           extract(hour FROM f.event_at AT TIME ZONE :tz)::int AS hour,
           f.spend, f.impressions, f.clicks, f.reach, f.conversions, f.leads, f.purchases,
           f.purchase_value, e.objective
    FROM metric_facts f JOIN entities e ON e.id = f.entity_id
    WHERE e.connection_id = :cid AND f.level = 'ad' AND f.granularity = :g
    """
)
# Additive measures of a level, summed from ad facts up the hierarchy; reach from the level's
# own (reach-only) facts.
LEVEL_SUMS = text(
    """
    WITH ads AS (
      SELECT f.*, ad.parent_id AS adset_id, s.parent_id AS campaign_id, c.parent_id AS account_id
      FROM metric_facts f JOIN entities ad ON ad.id = f.entity_id
      JOIN entities s ON s.id = ad.parent_id JOIN entities c ON c.id = s.parent_id
      WHERE ad.connection_id = :cid AND f.level = 'ad' AND f.granularity = 'day'
    )
    SELECT g.external_id, (a.event_at AT TIME ZONE :tz)::date, sum(a.spend), sum(a.impressions),
           sum(a.clicks),
           (SELECT r.reach FROM metric_facts r WHERE r.entity_id = g.id AND r.level = :level
              AND r.granularity = 'day' AND r.event_at = a.event_at)
    FROM ads a JOIN entities g ON g.id = CASE :level WHEN 'adset' THEN a.adset_id
         WHEN 'campaign' THEN a.campaign_id ELSE a.account_id END
    GROUP BY g.id, g.external_id, a.event_at
    """
)


def truth_rows(
    box: MetaSandbox, account: str, level: str, granularity: str, since: date, until: date
) -> list[dict[str, Any]]:
    params = {
        "account_id": account,
        "level": level,
        "granularity": granularity,
        "since": since.isoformat(),
        "until": until.isoformat(),
    }
    response = box.http.get("/_sandbox/truth", params=params)
    response.raise_for_status()
    return list(response.json()["rows"])


def as_list(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"action_type": k, "value": str(v)} for k, v in values.items()]


def assert_matches_truth(
    runtime: Runtime, box: MetaSandbox, connection: Connection, since: date, until: date
) -> int:
    """Every ad's hourly and daily facts, and campaign/ad set/account daily figures, equal the
    truth over [since, until]; returns how many facts were compared."""
    compared = 0
    with runtime.engine.connect() as db:
        for gran in ("hour", "day"):
            stored: dict[Key, Any] = {}
            objectives: dict[str, str | None] = {}
            for row in db.execute(
                AD_FACTS, {"tz": connection.timezone, "cid": connection.id, "g": gran}
            ):
                if since <= row.day <= until:
                    hour = row.hour if gran == "hour" else -1
                    stored[(row.external_id, row.day.isoformat(), hour)] = row
                objectives[row.external_id] = row.objective
            expected: dict[Key, dict[str, Any]] = defaultdict(
                lambda: {"spend": Decimal(0), "impressions": 0, "clicks": 0}
            )
            rows = truth_rows(box, connection.external_account_id, "ad", gran, since, until)
            for t in rows:
                # Meta merges the repeated hour of a DST fall-back into one row (first hour)
                key = (t["entity_id"], t["date"], t["hour"] if gran == "hour" else -1)
                slot = expected[key]
                slot["spend"] += Decimal(t["spend"])
                slot["impressions"] += t["impressions"]
                slot["clicks"] += t["clicks"]
                slot["truth"] = t
            assert set(stored) == set(expected), (
                f"{gran}: missing {sorted(set(expected) - set(stored))[:5]}, "
                f"extra {sorted(set(stored) - set(expected))[:5]}"
            )
            for key, want in expected.items():
                got = stored[key]
                assert (got.spend, got.impressions, got.clicks) == (
                    want["spend"],
                    want["impressions"],
                    want["clicks"],
                ), key
                if gran == "hour":
                    assert got.reach is None and got.conversions is None, key
                    continue
                t = want["truth"]
                m = action_measures(
                    as_list(t["actions"]), as_list(t["action_values"]), objectives[key[0]]
                )
                assert got.reach == t["reach"], key
                assert (got.conversions, got.leads, got.purchases, got.purchase_value) == (
                    m.conversions,
                    m.leads,
                    m.purchases,
                    m.purchase_value,
                ), (key, tuple(got), t["actions"], t["action_values"])
            compared += len(expected)
        for level in ("adset", "campaign", "account"):
            stored_level = {
                (r[0], r[1].isoformat()): r
                for r in db.execute(
                    LEVEL_SUMS, {"tz": connection.timezone, "cid": connection.id, "level": level}
                )
                if since <= r[1] <= until
            }
            rows = truth_rows(box, connection.external_account_id, level, "day", since, until)
            assert {(t["entity_id"], t["date"]) for t in rows} == set(stored_level), level
            for t in rows:
                got = stored_level[(t["entity_id"], t["date"])]
                assert (got[2], got[3], got[4], got[5]) == (
                    Decimal(t["spend"]),
                    t["impressions"],
                    t["clicks"],
                    t["reach"],
                ), (level, t["entity_id"], t["date"])
                compared += 1
    return compared
