"""What a report says: the e-mail (a text and an HTML part, names escaped) and the webhook's
JSON carry the dashboard's tiles and the top campaigns by spend, and every figure is the query
API's for the same periods (money per currency, counts over all). A failed send is recorded
and retried, and arrives once. Real receivers on 127.0.0.1 (an SMTP server and an HTTP one)."""

from __future__ import annotations

import email
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default
from html import escape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from metricx.models import Connection, ConnectionStatus, Entity, Level, ReportDelivery
from metricx.notifications import service as notifications
from metricx.notifications.schemas import ChannelCreate
from metricx.notifications.senders import DeliveryFailed
from metricx.reports import service
from metricx.reports.render import figure
from metricx.reports.schemas import ScheduleCreate
from metricx.runtime import Runtime
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.metrics.test_query import entity, fact, ingest, query
from tests.notifications.test_delivery import Receiver, receiver  # noqa: F401
from tests.notifications.test_destinations import SmtpReceiver, smtp  # noqa: F401
from tests.reports.test_schedule import LONG_AGO

NOW = datetime(2026, 5, 15, 10, 0, tzinfo=UTC)  # a Friday
WEEK, WEEK_BEFORE = ("2026-05-08", "2026-05-14"), ("2026-05-01", "2026-05-07")
DAY, DAY_BEFORE = ("2026-05-14", "2026-05-14"), ("2026-05-13", "2026-05-13")
TRICKY = '<b>Spring & "Sale"</b>'


def clock() -> datetime:
    return NOW


def account(db: Session, ws: KeyedWorkspace, currency: str, campaigns: list[str]) -> list[Entity]:
    """A UTC ad account in ``currency`` with the named campaigns (one ad each); their ads."""
    conn = Connection(
        workspace_id=ws.workspace.id,
        provider="meta",
        external_account_id=f"act_{currency}",
        name=f"Shop {currency}",
        currency=currency,
        timezone="UTC",
        status=ConnectionStatus.ACTIVE,
    )
    db.add(conn)
    db.flush()
    acct = entity(db, ws, Level.ACCOUNT, name=f"Shop {currency} account")
    ads = []
    for name in campaigns:
        camp = entity(db, ws, Level.CAMPAIGN, acct, name=name)
        ads.append(entity(db, ws, Level.AD, entity(db, ws, Level.ADSET, camp)))
    for e in db.scalars(select(Entity).where(Entity.workspace_id == ws.workspace.id)):
        if e.connection_id is None:
            e.connection_id = conn.id
    db.flush()
    return ads


def world(client: TestClient, db: Session) -> KeyedWorkspace:
    """Six USD campaigns spending 1..6 a day (more this week than the one before) and one EUR
    campaign with a name that needs escaping; conversions and purchase value for ROAS."""
    ws = make_keyed_workspace(db)
    usd = account(db, ws, "USD", [f"USD campaign {i}" for i in range(1, 7)])
    (eur,) = account(db, ws, "EUR", [TRICKY])
    records = []
    for back in range(14):
        day = datetime(2026, 5, 14, tzinfo=UTC) - timedelta(days=back)
        recent = back < 7
        for i, ad in enumerate(usd, 1):
            spend = Decimal(i) * (2 if recent else 1) + Decimal(back) / 10
            records.append(
                fact(
                    ad,
                    day,
                    "day",
                    spend=str(spend),
                    impressions=100 * i,
                    clicks=i + back,
                    conversions=i % 3,
                    purchase_value=str(spend * 3),
                )
            )
        records.append(
            fact(
                eur,
                day,
                "day",
                currency="EUR",
                spend="7.50",
                impressions=50,
                clicks=1,
                conversions=1 if recent else 2,
                purchase_value="20.00",
            )
        )
    ingest(client, ws, records)
    return ws


def email_channel(db: Session, runtime: Runtime, ws: KeyedWorkspace, port: int) -> uuid.UUID:
    body = ChannelCreate.model_validate(
        {
            "kind": "email",
            "name": "marketing",
            "email": {
                "host": "127.0.0.1",
                "port": port,
                "sender": "metricx@example.com",
                "recipients": ["team@example.com"],
                "security": "none",
            },
        }
    )
    return notifications.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=body,
    ).id


def webhook_channel(db: Session, runtime: Runtime, ws: KeyedWorkspace, url: str) -> uuid.UUID:
    body = ChannelCreate.model_validate({"kind": "webhook", "name": "ops", "webhook_url": url})
    return notifications.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=body,
    ).id


def scheduled(
    db: Session, ws: KeyedWorkspace, channel_id: uuid.UUID, weekday: str | None = None
) -> uuid.UUID:
    body = ScheduleCreate.model_validate(
        {
            "name": "Weekly review" if weekday else "Daily numbers",
            "channel_id": str(channel_id),
            "frequency": "weekly" if weekday else "daily",
            "weekday": weekday,
            "hour": 8,
        }
    )
    row = service.create_schedule(db, workspace_id=ws.workspace.id, created_by=None, body=body)
    row.created_at = LONG_AGO
    db.flush()
    return row.id


def hand_over_and_send(db: Session, runtime: Runtime) -> uuid.UUID:
    assert service.enqueue_due(db, now=NOW) == 1
    delivery = db.scalars(select(ReportDelivery).order_by(ReportDelivery.created_at)).all()[-1]
    outcome = service.deliver(
        db, settings=runtime.settings, cipher=runtime.cipher, delivery_id=delivery.id, clock=clock
    )
    assert outcome == "sent"
    return delivery.id


def api(client: TestClient, ws: KeyedWorkspace, period: tuple[str, str]) -> Any:
    return query(
        client,
        ws,
        start=period[0],
        end=period[1],
        level="campaign",
        group_by="entity",
        sort="spend",
    )


def combined(answer: Any, key: str) -> Decimal:
    return sum((Decimal(str(t[key])) for t in answer["totals"] if t[key] is not None), Decimal(0))


def top_per_currency(answer: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for currency in sorted({g["currency"] for g in answer["groups"]}):
        mine = [g for g in answer["groups"] if g["currency"] == currency]
        mine.sort(key=lambda g: Decimal(g["spend"]), reverse=True)
        out += mine[:5]
    return out


def parts(raw: str) -> tuple[EmailMessage, str, str]:
    message = email.message_from_string(raw, policy=default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    return message, plain.get_content(), rich.get_content()


def test_the_weekly_email_carries_the_query_apis_figures(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    smtp: SmtpReceiver,  # noqa: F811
) -> None:
    ws = world(client, db)
    scheduled(db, ws, email_channel(db, runtime, ws, smtp.server_address[1]), weekday="friday")
    hand_over_and_send(db, runtime)
    [raw] = smtp.messages
    message, plain, rich = parts(raw)
    assert "Weekly review" in message["Subject"] and "8 May 2026" in message["Subject"]
    now, before = api(client, ws, WEEK), api(client, ws, WEEK_BEFORE)
    earlier = {t["currency"]: t for t in before["totals"]}
    assert {t["currency"] for t in now["totals"]} == {"EUR", "USD"}
    for t in now["totals"]:  # money and ROAS per currency
        c = t["currency"]
        spend = figure(t["spend"], "money", c)
        assert f"Spend ({c}): {spend}  " in plain
        assert f"(before: {figure(earlier[c]['spend'], 'money', c)})" in plain
        assert f"ROAS ({c}): {figure(t['roas'], 'multiple')}" in plain
        assert spend in rich
    for key, label in (
        ("impressions", "Impressions"),
        ("clicks", "Clicks (all)"),
        ("conversions", "Conversions"),
    ):
        assert f"{label}: {figure(combined(now, key), 'count')}  " in plain
        assert f"(before: {figure(combined(before, key), 'count')})" in plain
    ctr = float(combined(now, "clicks")) / float(combined(now, "impressions"))
    assert f"CTR: {figure(ctr, 'percent')}" in plain
    top = top_per_currency(now)
    assert [g["name"] for g in top] == [TRICKY, *(f"USD campaign {i}" for i in (6, 5, 4, 3, 2))]
    for i, g in enumerate(top, 1):
        assert (
            f"{i}. {g['name']} (Shop {g['currency']} account): spend "
            + figure(g["spend"], "money", g["currency"])
            in plain
        )
        assert f"CPA {figure(g['cpa'], 'money', g['currency'])}" in plain
    assert "USD campaign 1" not in plain  # the sixth USD campaign is not in the top 5
    # Names are escaped in the HTML part; the text part has them as they are.
    assert TRICKY not in rich and "&lt;b&gt;Spring &amp; &quot;Sale&quot;&lt;/b&gt;" in rich
    base_url = runtime.settings.base_url.rstrip("/")
    link = f"/w/{ws.workspace.id}?range=custom&start=2026-05-08&end=2026-05-14"
    assert link in plain and f'href="{base_url}{escape(link)}"' in rich


def test_the_webhook_payload_is_the_query_apis_figures_as_data(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    ws = world(client, db)
    schedule_id = scheduled(db, ws, webhook_channel(db, runtime, ws, receiver.url))
    hand_over_and_send(db, runtime)
    [message] = receiver.received
    assert message["event"] == "report" and "Daily numbers" in message["text"]
    report = message["report"]
    assert report["period"] == {"start": DAY[0], "end": DAY[1]}
    assert report["previous_period"] == {"start": DAY_BEFORE[0], "end": DAY_BEFORE[1]}
    assert report["frequency"] == "daily" and report["workspace_id"] == str(ws.workspace.id)
    now, before = api(client, ws, DAY), api(client, ws, DAY_BEFORE)
    tiles = {(t["metric"], t["currency"]): t for t in report["tiles"]}
    assert set(tiles) == {
        ("spend", "EUR"),
        ("spend", "USD"),
        ("roas", "EUR"),
        ("roas", "USD"),
        ("impressions", None),
        ("clicks", None),
        ("ctr", None),
        ("conversions", None),
    }
    earlier = {t["currency"]: t for t in before["totals"]}
    for t in now["totals"]:
        for key in ("spend", "roas"):
            tile = tiles[(key, t["currency"])]
            assert tile["value"] == t[key] and tile["previous"] == earlier[t["currency"]][key]
        cur, prev = Decimal(t["spend"]), Decimal(earlier[t["currency"]]["spend"])
        assert tiles[("spend", t["currency"])]["change"] == pytest.approx(
            float((cur - prev) / prev)
        )
    for key in ("impressions", "clicks", "conversions"):
        assert Decimal(str(tiles[(key, None)]["value"])) == combined(now, key)
        assert Decimal(str(tiles[(key, None)]["previous"])) == combined(before, key)
    top = top_per_currency(now)
    assert [c["id"] for c in report["top_campaigns"]] == [g["group"] for g in top]
    for c, g in zip(report["top_campaigns"], top, strict=True):
        assert (c["name"], c["currency"], c["spend"], c["conversions"], c["roas"], c["cpa"]) == (
            g["name"],
            g["currency"],
            g["spend"],
            g["conversions"],
            g["roas"],
            g["cpa"],
        )
        assert c["account"] == f"Shop {g['currency']} account"
    assert report["dashboard_url"].endswith(
        f"/w/{ws.workspace.id}?range=custom&start=2026-05-14&end=2026-05-14"
    )
    listed = client.get(f"/api/v1/workspaces/{ws.workspace.id}/reports", headers=ws.headers)
    [row] = listed.json()["reports"]
    assert row["id"] == str(schedule_id)
    assert row["last_delivery"]["period_start"] == DAY[0] and row["last_delivery"]["sent_at"]


def test_a_failed_send_is_recorded_retried_and_arrives_once(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    ws = world(client, db)
    scheduled(db, ws, webhook_channel(db, runtime, ws, receiver.url))
    assert service.enqueue_due(db, now=NOW) == 1
    delivery = db.scalars(select(ReportDelivery)).one()
    receiver.fail_next = 1

    def send() -> str:
        return service.deliver(
            db,
            settings=runtime.settings,
            cipher=runtime.cipher,
            delivery_id=delivery.id,
            clock=clock,
        )

    with pytest.raises(DeliveryFailed, match="503"):
        send()  # Procrastinate retries a job that raised
    assert (delivery.attempts, delivery.last_error, delivery.sent_at) == (
        1,
        "webhook answered 503",
        None,
    )
    listed = client.get(f"/api/v1/workspaces/{ws.workspace.id}/reports", headers=ws.headers)
    last = listed.json()["reports"][0]["last_delivery"]
    assert last["attempts"] == 1 and last["last_error"] == "webhook answered 503"
    assert receiver.url not in listed.text  # no secret in what is recorded
    assert send() == "sent"
    assert send() == "already_sent"  # the job run again sends nothing
    assert service.enqueue_due(db, now=NOW + timedelta(minutes=5)) == 0
    assert len(receiver.received) == 1 and receiver.requests == 2
    assert (delivery.attempts, delivery.last_error) == (2, None) and delivery.sent_at


def test_sends_stop_after_the_last_attempt(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    runtime.settings.notification_max_attempts = 2
    ws = make_keyed_workspace(db)
    scheduled(db, ws, webhook_channel(db, runtime, ws, receiver.url))
    service.enqueue_due(db, now=NOW)
    delivery = db.scalars(select(ReportDelivery)).one()
    receiver.fail_next = 5
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(
                service.deliver(
                    db,
                    settings=runtime.settings,
                    cipher=runtime.cipher,
                    delivery_id=delivery.id,
                    clock=clock,
                )
            )
        except DeliveryFailed:
            outcomes.append("retry")
    assert outcomes == ["retry", "gave_up", "gave_up"]
    assert delivery.attempts == 2 and receiver.requests == 2


def test_an_empty_workspace_reports_no_figures(
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    ws = make_keyed_workspace(db)
    scheduled(db, ws, webhook_channel(db, runtime, ws, receiver.url))
    hand_over_and_send(db, runtime)
    report = receiver.received[0]["report"]
    assert report["top_campaigns"] == []
    assert {t["metric"] for t in report["tiles"]} == {"impressions", "clicks", "ctr", "conversions"}
    assert "No campaign spent in this period." in receiver.received[0]["text"]


def test_dates_of_the_period_are_each_accounts_own(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    """A New York workspace's "yesterday" is read on each account's own calendar, as the
    dashboard reads a date: the Berlin account's 13 May, not New York's hours of it."""
    ws = make_keyed_workspace(db, timezone="America/New_York")
    (ad,) = account(db, ws, "EUR", ["Berlin campaign"])
    conn = db.scalars(select(Connection).where(Connection.workspace_id == ws.workspace.id)).one()
    conn.timezone = "Europe/Berlin"
    db.flush()
    berlin_13_may = datetime(2026, 5, 12, 22, tzinfo=UTC)  # 00:00 in Berlin
    # Berlin's 13 May, and the first two hours of its 14 May (still 13 May in New York).
    hours = [berlin_13_may + timedelta(hours=h) for h in range(26)]
    ingest(client, ws, [fact(ad, at, currency="EUR") for at in hours])
    scheduled(db, ws, webhook_channel(db, runtime, ws, receiver.url))
    hand_over_and_send(db, runtime)  # 06:00 in New York: 14 May's 08:00 report, of 13 May
    report = receiver.received[0]["report"]
    assert report["period"] == {"start": "2026-05-13", "end": "2026-05-13"}
    spend = {t["currency"]: t["value"] for t in report["tiles"] if t["metric"] == "spend"}
    assert spend == {"EUR": "24.00"}
    answer = query(client, ws, start="2026-05-13", end="2026-05-13")
    assert answer["totals"][0]["spend"] == "24.00"


def test_a_reporting_currency_converts_the_report_as_the_dashboard(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    """With a workspace currency the tiles and campaigns are the query API's converted
    figures (each day at its rate), and the report says so."""
    from metricx.fx.formats import Rate
    from metricx.fx.service import store

    ws = world(client, db)
    rates = [Rate(date(2026, 5, d), "USD", Decimal("1.25")) for d in (13, 14)]
    store(db, rates, workspace_id=None, source="file")
    ws.workspace.reporting_currency = "EUR"
    db.flush()
    scheduled(db, ws, webhook_channel(db, runtime, ws, receiver.url))
    hand_over_and_send(db, runtime)
    report = receiver.received[0]["report"]
    now = api(client, ws, DAY)
    assert [t["currency"] for t in now["totals"]] == ["EUR"]
    spend = [t for t in report["tiles"] if t["metric"] == "spend"]
    assert [(t["currency"], t["value"]) for t in spend] == [("EUR", now["totals"][0]["spend"])]
    assert {c["currency"] for c in report["top_campaigns"]} == {"EUR"}
    assert any("converted to EUR" in n for n in report["notes"])
