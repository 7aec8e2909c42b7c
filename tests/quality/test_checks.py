"""Each validation rule on data made to trigger it, and silence on consistent data. Facts are
written through the ingest service (the one write path), except where noted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.models import Level
from tests.quality.helpers import (
    NOW,
    TODAY,
    _entity,
    build_account,
    fact,
    ingest,
    kinds,
    validate,
)


def day_start(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC)


def test_consistent_data_has_no_findings(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    result = validate(db, settings, acct)
    assert result.findings == []
    assert "level_totals" in result.checks and not result.skipped


def test_hourly_sum_off_from_daily_row_is_found(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    ad = acct.ads[0]
    ingest(
        db,
        settings,
        acct.connection,
        [fact(ad, "hour", day_start(2) + timedelta(hours=5), Decimal("99.5"), 5000, 40)],
    )
    [found] = validate(db, settings, acct).findings
    assert found.kind == "hourly_vs_daily" and found.entity_id == ad.id
    assert found.period_start == day_start(2) and found.period_end == day_start(1)
    impressions = found.numbers["impressions"]
    assert impressions["actual"] - impressions["expected"] == impressions["difference"] != 0
    assert ad.external_id in found.message and str(TODAY - timedelta(days=2)) in found.message


def test_ad_sums_against_meta_level_totals(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    day = TODAY - timedelta(days=3)
    acct.meta_overrides[("account", acct.account.external_id, day)] = {"spend": "1000.00"}
    acct.meta_overrides[("campaign", acct.campaign.external_id, day)] = {"clicks": "1"}
    result = validate(db, settings, acct)
    by_level = {f.level: f for f in result.findings}
    assert kinds(result) == ["level_total_mismatch", "level_total_mismatch"]
    account = by_level["account"]
    assert account.entity_id == acct.account.id and account.numbers["spend"]["expected"] == "1000"
    assert account.severity.value == "critical"
    assert by_level["campaign"].numbers["clicks"]["expected"] == 1


def test_facts_of_unknown_or_removed_entities(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    # A fact that claims the campaign level but points at an ad: the ingest service refuses
    # such a fact, so it can only come from outside it; a raw INSERT simulates that.
    db.execute(
        text(
            "INSERT INTO metric_facts (natural_key, event_at, workspace_id, entity_id, provider,"
            " level, granularity, spend, impressions, clicks, currency) VALUES (gen_random_uuid(),"
            " :at, :ws, :eid, 'meta', 'campaign', 'day', 3, 30, 1, 'USD')"
        ),
        {"at": day_start(4), "ws": acct.connection.workspace_id, "eid": acct.ads[1].id},
    )
    acct.ads[0].removed_at = day_start(3)  # Meta stopped returning it, yet facts follow
    db.flush()
    result = validate(db, settings, acct, meta=False)
    unknown = {f.numbers["reason"]: f for f in result.findings if f.kind == "unknown_entity_facts"}
    assert set(unknown) == {"level:campaign", "removed"}
    assert unknown["level:campaign"].entity_id == acct.ads[1].id
    # after the removal instant: 3 days of hours but the first, and 2 daily rows
    assert unknown["removed"].numbers["facts"] == 3 * 24 - 1 + 2


def test_orphans_and_moves_between_parents(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    assert validate(db, settings, acct).findings == []  # records the parents
    acct.adsets[1].parent_id = None
    acct.ads[1].parent_id = acct.adsets[1].id
    db.flush()
    result = validate(db, settings, acct, now=NOW + timedelta(minutes=5), meta=False)
    orphan = next(f for f in result.findings if f.kind == "orphaned_entity")
    assert orphan.entity_id == acct.adsets[1].id and "has no campaign" in orphan.message
    moved = next(f for f in result.findings if f.kind == "entity_moved")
    assert moved.entity_id == acct.ads[1].id
    assert moved.numbers == {
        "previous_parent": acct.adsets[0].external_id,
        "parent": acct.adsets[1].external_id,
    }


def test_missing_hours_and_new_ads_without_data(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    ad = acct.ads[0]
    db.execute(
        text(
            "DELETE FROM metric_facts WHERE entity_id = :e AND granularity = 'hour' "
            "AND event_at >= :a AND event_at < :b"
        ),
        {"e": ad.id, "a": day_start(1), "b": day_start(0)},
    )  # hourly rows lost (deleting is not writing a fact)
    newcomer = _entity(db, acct.connection, Level.AD, acct.adsets[0])
    newcomer.created_time = NOW - timedelta(hours=30)
    db.flush()
    result = validate(db, settings, acct, meta=False)
    missing = next(f for f in result.findings if f.kind == "missing_hours")
    assert missing.entity_id == ad.id and missing.period_start == day_start(1)
    assert missing.numbers["expected_hours"] == 24 and missing.numbers["hours_with_data"] == 0
    new = next(f for f in result.findings if f.kind == "new_entity_without_data")
    assert new.entity_id == newcomer.id and new.numbers["facts"] == 0
    assert kinds(result) == ["missing_hours", "new_entity_without_data"]


def test_spend_jump_and_impression_collapse(db: Session, settings: Settings) -> None:
    acct = build_account(db, settings)
    jumpy, quiet = acct.ads
    ingest(
        db,
        settings,
        acct.connection,
        [
            fact(jumpy, "day", day_start(2), Decimal("900"), 3000, 90),
            fact(quiet, "day", day_start(1), Decimal("1"), 20, 0),
        ],
    )
    result = validate(db, settings, acct, meta=False)
    found = {
        (f.kind, f.entity_id): f
        for f in result.findings
        if "jump" in f.kind or "collapse" in f.kind
    }
    assert set(found) == {
        ("spend_jump", jumpy.id),
        ("spend_collapse", quiet.id),
        ("impressions_collapse", quiet.id),
    }
    jump = found[("spend_jump", jumpy.id)]
    assert jump.numbers["actual"] == 900 and jump.numbers["expected"] < 200
    assert jump.period_start == day_start(2)


def test_clicks_over_impressions_and_spend_without_impressions(
    db: Session, settings: Settings
) -> None:
    acct = build_account(db, settings)
    ad = acct.ads[0]
    at = day_start(2) + timedelta(hours=3)
    ingest(
        db,
        settings,
        acct.connection,
        [
            fact(ad, "minute", at, Decimal(0), 5, 9),
            fact(ad, "minute", at + timedelta(minutes=1), Decimal("2.5"), 0, 0),
        ],
    )
    result = validate(db, settings, acct, meta=False)
    by_kind = {f.kind: f for f in result.findings}
    assert set(by_kind) == {"clicks_over_impressions", "spend_without_impressions"}
    assert by_kind["clicks_over_impressions"].numbers["clicks"] == 9
    assert by_kind["spend_without_impressions"].numbers["spend"] == "2.5"
