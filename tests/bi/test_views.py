"""The bi views: every measure of the registry is a column, and the ad set, campaign and
account views hold exactly the sums of the ads' days beneath them."""

from __future__ import annotations

from sqlalchemy import text

from metricx.facts import measures as registry
from tests.bi.conftest import DAYS, Seeded

LEVELS = ("adset", "campaign", "account")


def columns(seeded: Seeded, view: str) -> list[str]:
    with seeded.session() as s:
        return list(s.execute(text(f"SELECT * FROM bi.{view} LIMIT 0")).keys())


def test_the_views_carry_every_measure(seeded: Seeded) -> None:
    """A new measure reaches the views by a migration that recreates them: this fails until
    it does."""
    assert set(registry.names()) <= set(columns(seeded, "ad_daily"))
    for level in LEVELS:
        cols = columns(seeded, f"{level}_daily")
        assert set(registry.names(registry.rolled())) <= set(cols), level
        assert {f"{level}_id", f"{level}_name", "currency", "timezone", "day"} <= set(cols)


def test_levels_sum_the_ads_beneath_them(seeded: Seeded) -> None:
    """Equal sums; a measure of a reporting group no ad reported (video here) is null, not 0,
    and one of a reported group is summed as the dashboard sums it (its gaps count 0)."""
    sums = ", ".join(f"coalesce(sum({m}), 0)" for m in registry.names(registry.rolled()))
    with seeded.session() as s:
        for level in LEVELS:
            ads = s.execute(
                text(
                    f"SELECT workspace_id, day, {level}_id, currency, {sums}, count(*)"
                    f" FROM bi.ad_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
                )
            ).all()
            rolled = s.execute(
                text(
                    f"SELECT workspace_id, day, {level}_id, currency, {sums}, sum(facts)"
                    f" FROM bi.{level}_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
                )
            ).all()
            assert len(ads) == 2 * DAYS
            assert rolled == ads, level
            unreported = s.execute(
                text(f"SELECT count(*) FROM bi.{level}_daily WHERE video_plays IS NOT NULL")
            ).scalar()
            assert unreported == 0
