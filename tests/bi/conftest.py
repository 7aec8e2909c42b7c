"""A database of its own with committed facts of two workspaces (BI roles connect on their own
connections, so the data cannot live in a rolled-back test transaction)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.db import make_sessionmaker, unit_of_work
from metricx.facts.breakdowns import BreakdownRow, write_breakdowns
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.migrate import upgrade
from tests.conftest import make_settings
from tests.factories import make_workspace
from tests.ingest.helpers import make_connection

METRICX = str(Path(sys.executable).parent / "metricx")
FIRST_DAY = date(2026, 11, 1)
DAYS = 3


@dataclass
class Seeded:
    url: str
    engine: Engine
    settings: Settings
    workspaces: list[uuid.UUID]  # two, each with an account, a campaign, an ad set, two ads

    def session(self) -> Session:
        return make_sessionmaker(self.engine)()


def ad_facts(prefix: str, day: date, scale: int, currency: str) -> list[FactInput]:
    parents = (f"{prefix}-adset", f"{prefix}-cmp", f"{prefix}-act")
    return [
        FactInput(
            granularity="day",
            external_entity_id=f"{prefix}-ad-{n}",
            provider="meta",
            level="ad",
            event_date=day,
            currency=currency,
            parents=parents,
            spend=Decimal("12.345678") * scale + n,
            impressions=1000 * scale + n,
            clicks=10 * scale + n,
            reach=900 * scale,
            conversions=Decimal("1.5") if n == 1 else None,
            purchase_value=Decimal("20.25") if n == 1 else None,
        )
        for n in (1, 2)
    ]


def seed_workspace(
    session: Session, settings: Settings, prefix: str, zone: str, currency: str, scale: int
) -> uuid.UUID:
    ws = make_workspace(session, timezone="UTC")
    conn = make_connection(session, ws.id, timezone=zone, currency=currency)
    records = [
        f
        for i in range(DAYS)
        for f in ad_facts(prefix, FIRST_DAY + timedelta(i), scale + i, currency)
    ]
    upsert_facts(
        session, settings=settings, workspace_id=ws.id, records=records, connection_id=conn.id
    )
    ads = session.execute(
        text("SELECT external_id FROM entities WHERE workspace_id = :ws AND level = 'ad'"),
        {"ws": ws.id},
    ).scalars()
    write_breakdowns(
        session,
        workspace_id=ws.id,
        connection_id=conn.id,
        provider="meta",
        breakdown="country",
        currency=currency,
        since=FIRST_DAY,
        until=FIRST_DAY,
        campaigns=None,
        rows=[
            BreakdownRow(
                ad,
                FIRST_DAY,
                country,
                "",
                Decimal(scale),
                scale * 100,
                scale,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            )
            for ad in ads
            for country in ("US", "IN")
        ],
        fetch_id=None,
    )
    session.execute(
        text(
            "INSERT INTO creatives (workspace_id, provider, external_id, connection_id,"
            " account_external_id, name, title) VALUES (:ws, 'meta', :c, :conn, :acct, :n, :t)"
        ),
        {
            "ws": ws.id,
            "c": f"{prefix}-creative",
            "conn": conn.id,
            "acct": conn.external_account_id,
            "n": f"{prefix} creative",
            "t": "Buy now",
        },
    )
    session.execute(
        text(
            "INSERT INTO ad_creatives (workspace_id, provider, ad_external_id,"
            " creative_external_id, connection_id) VALUES (:ws, 'meta', :a, :c, :conn)"
        ),
        {"ws": ws.id, "a": f"{prefix}-ad-1", "c": f"{prefix}-creative", "conn": conn.id},
    )
    session.execute(
        text(
            "UPDATE entities SET name = external_id || ' name',"
            " attribution_setting = CASE WHEN level = 'adset' THEN '1d_view,7d_click' END"
            " WHERE workspace_id = :ws"
        ),
        {"ws": ws.id},
    )
    return ws.id


def cli(seeded: Seeded, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`metricx ARGS` on the seeded database, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRICX_")}
    env["METRICX_DATABASE_URL"] = seeded.url
    return subprocess.run(
        [METRICX, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def seeded(fresh_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:  # type: ignore[no-untyped-def]
    url = fresh_database("bi")
    engine = create_engine(url)
    upgrade(engine)
    settings = make_settings(Path(tmp_path_factory.mktemp("bi")), url)
    with unit_of_work(make_sessionmaker(engine)) as s:
        one = seed_workspace(s, settings, "one", "America/Los_Angeles", "USD", 1)
        two = seed_workspace(s, settings, "two", "Asia/Kolkata", "INR", 7)
    yield Seeded(url, engine, settings, [one, two])
    engine.dispose()
