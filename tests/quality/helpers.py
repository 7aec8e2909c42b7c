"""A small clean account built through the ingest service: account -> campaign -> ad set ->
two ads, hourly facts that add up to daily facts over ``DAYS`` complete days, and Meta's level
totals computed from them (what a consistent Meta would report)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.integrations.meta.insights_rows import LevelTotalsRow, parse_totals_row
from metricx.models import Connection, Entity, Level, Provider
from metricx.quality.service import ValidationResult, validate_connection
from tests.factories import make_workspace
from tests.ingest.helpers import make_connection

DAYS = 21
NOW = datetime.now(UTC).replace(minute=20, second=0, microsecond=0)
TODAY = NOW.date()


def hourly(ad_index: int, day: date, hour: int) -> tuple[Decimal, int, int]:
    impressions = 100 + 10 * ad_index + (day.toordinal() * 7 + hour * 3) % 11
    return Decimal(impressions) / 20, impressions, impressions // 25


@dataclass
class Account:
    connection: Connection
    account: Entity
    campaign: Entity
    adsets: list[Entity]
    ads: list[Entity]
    meta_overrides: dict[tuple[str, str, date], dict[str, Any]] = field(default_factory=dict)
    through_today: bool = False

    def days(self) -> list[date]:
        first_after = -1 if self.through_today else 0  # days back: range() stops before it
        return [TODAY - timedelta(days=i) for i in range(DAYS, first_after, -1)]

    def meta_totals(self, level: str, since: date, until: date) -> Iterable[LevelTotalsRow]:
        """Daily totals of ``level`` as a consistent Meta reports them (plus overrides), read
        by Meta's row parser from the rows Meta would send."""
        for row in self.meta_rows(level, since, until):
            yield parse_totals_row(row, level)

    def meta_rows(self, level: str, since: date, until: date) -> Iterable[dict[str, Any]]:
        adsets = {s.id: s.external_id for s in self.adsets}
        for day in self.days():
            if not since <= day <= until:
                continue
            groups: dict[str, list[int]] = {}
            for i, ad in enumerate(self.ads):
                key = {
                    "account": self.account.external_id,
                    "campaign": self.campaign.external_id,
                }.get(level) or adsets[ad.parent_id]  # type: ignore[index]
                groups.setdefault(key, []).append(i)
            for key, idx in groups.items():
                sums = [hourly(i, day, h) for i in idx for h in range(24)]
                ext = key.removeprefix("act_") if level == "account" else key
                row: dict[str, Any] = {
                    f"{level}_id": ext,
                    "date_start": day.isoformat(),
                    "spend": str(sum(s[0] for s in sums)),
                    "impressions": str(sum(s[1] for s in sums)),
                    "clicks": str(sum(s[2] for s in sums)),
                }
                row.update(self.meta_overrides.get((level, key, day), {}))
                yield row


def _entity(db: Session, conn: Connection, level: Level, parent: Entity | None) -> Entity:
    row = Entity(
        workspace_id=conn.workspace_id,
        connection_id=conn.id,
        provider=Provider.META,
        level=level,
        external_id=conn.external_account_id if level is Level.ACCOUNT else uuid.uuid4().hex[:12],
        parent_id=parent.id if parent else None,
        name=f"{level.value}",
        status="ACTIVE",
        effective_status="ACTIVE",
        created_time=NOW - timedelta(days=60),
    )
    db.add(row)
    db.flush()
    return row


def build_account(
    db: Session, settings: Settings, ads: int = 2, through_today: bool = False
) -> Account:
    """The account's facts cover the ``DAYS`` complete days before ``TODAY``, and ``TODAY``
    too with ``through_today``: for a test whose validation reads the real clock, which is a
    day past ``TODAY`` when the suite has run across midnight since this module was imported."""
    ws = make_workspace(db)
    conn = make_connection(db, ws.id)
    conn.last_success_at = NOW
    account = _entity(db, conn, Level.ACCOUNT, None)
    campaign = _entity(db, conn, Level.CAMPAIGN, account)
    adsets = [_entity(db, conn, Level.ADSET, campaign) for _ in range(2)]
    ad_rows = [_entity(db, conn, Level.AD, adsets[0]) for _ in range(ads)]
    acct = Account(conn, account, campaign, adsets, ad_rows, through_today=through_today)
    records = []
    for i, ad in enumerate(ad_rows):
        for day in acct.days():
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            sums = [hourly(i, day, h) for h in range(24)]
            for h, (spend, impressions, clicks) in enumerate(sums):
                records.append(
                    fact(ad, "hour", start + timedelta(hours=h), spend, impressions, clicks)
                )
            records.append(
                fact(
                    ad,
                    "day",
                    start,
                    sum((s[0] for s in sums), Decimal(0)),
                    sum(s[1] for s in sums),
                    sum(s[2] for s in sums),
                )
            )
    ingest(db, settings, conn, records)
    return acct


def fact(
    entity: Entity, granularity: str, at: datetime, spend: Decimal, impressions: int, clicks: int
) -> FactInput:
    return FactInput(
        granularity=granularity,
        entity_id=entity.id,
        event_at=at,
        currency="USD",
        spend=spend,
        impressions=impressions,
        clicks=clicks,
    )


def ingest(db: Session, settings: Settings, conn: Connection, records: list[FactInput]) -> None:
    result = upsert_facts(db, settings=settings, workspace_id=conn.workspace_id, records=records)
    assert not result.failed, result


def validate(
    db: Session, settings: Settings, acct: Account, now: datetime = NOW, meta: bool = True
) -> ValidationResult:
    return validate_connection(
        db,
        settings=settings,
        connection=acct.connection,
        meta=acct.meta_totals if meta else None,
        now=now,
    )


def kinds(result: ValidationResult) -> list[str]:
    return sorted(f.kind for f in result.findings)
