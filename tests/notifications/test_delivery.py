"""Notifications: a webhook receiver on loopback gets exactly one message per alert and one
per resolve; a failed send is retried and then arrives once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from metricx.alerts import service as alerts
from metricx.models import NotificationChannel, NotificationDelivery
from metricx.notifications import service
from metricx.notifications.senders import DeliveryFailed
from metricx.runtime import Runtime
from metricx.worker.queue import build_queue
from tests.factories import make_keyed_workspace


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.requests = 0
        self.hosts: list[str] = []
        self.redirect_to: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                outer.hosts.append(self.headers["Host"])
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", outer.redirect_to)
                elif outer.fail_next:
                    outer.fail_next -= 1
                    self.send_response(503)
                else:
                    outer.received.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def deferred_jobs(db: Session) -> list[str]:
    rows = db.execute(
        text(
            "SELECT j.args->>'delivery_id' FROM procrastinate_jobs j "
            "JOIN notification_deliveries d ON d.id::text = j.args->>'delivery_id' "
            "WHERE j.task_name = :t ORDER BY j.id"
        ),
        {"t": service.SEND_TASK},
    )
    return [r[0] for r in rows]


def run_jobs(db: Session, runtime: Runtime, ids: list[str]) -> None:
    import uuid

    for delivery_id in ids:
        service.deliver(
            db, settings=runtime.settings, cipher=runtime.cipher, delivery_id=uuid.UUID(delivery_id)
        )


def test_one_message_per_alert_and_per_resolve(
    client: TestClient, db: Session, runtime: Runtime, receiver: Receiver
) -> None:
    ws = make_keyed_workspace(db)
    made = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/notification-channels",
        json={"kind": "webhook", "name": "ops", "webhook_url": receiver.url},
        headers=ws.headers,
    )
    assert made.status_code == 201, made.text
    assert "webhook_url" not in made.text and receiver.url not in made.text
    channel = db.get(NotificationChannel, made.json()["id"])
    assert channel is not None and receiver.url.encode() not in (channel.secret_enc or b"")

    for _ in range(3):  # the same condition seen three times: one alert, one message
        alerts.raise_alert(db, workspace_id=ws.workspace.id, kind="stale_data", message="old")
    service.dispatch(db)
    service.dispatch(db)
    run_jobs(db, runtime, deferred_jobs(db))
    run_jobs(db, runtime, deferred_jobs(db))  # a job run twice sends once
    assert [m["event"] for m in receiver.received] == ["raised"]
    assert receiver.received[0]["alert"]["kind"] == "stale_data"
    assert "old" in receiver.received[0]["text"]

    alerts.resolve_alert(db, workspace_id=ws.workspace.id, kind="stale_data")
    service.dispatch(db)
    service.dispatch(db)
    run_jobs(db, runtime, deferred_jobs(db))
    assert [m["event"] for m in receiver.received] == ["raised", "resolved"]


def test_a_failed_send_is_retried_and_arrives_once(
    db: Session, runtime: Runtime, receiver: Receiver
) -> None:
    from metricx.notifications.schemas import ChannelCreate

    ws = make_keyed_workspace(db)
    service.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=ChannelCreate(kind="webhook", name="ops", webhook_url=receiver.url),  # type: ignore[arg-type]
    )
    alerts.raise_alert(db, workspace_id=ws.workspace.id, kind="sync_failures", message="down")
    service.dispatch(db)
    [job] = deferred_jobs(db)
    receiver.fail_next = 1
    with pytest.raises(DeliveryFailed, match="503"):
        run_jobs(db, runtime, [job])  # Procrastinate retries a job that raised
    assert receiver.received == []
    run_jobs(db, runtime, [job])
    assert [m["event"] for m in receiver.received] == ["raised"]
    delivery = db.scalars(select(NotificationDelivery)).one()
    assert delivery.attempts == 2 and delivery.sent_at is not None and delivery.last_error is None


def test_alerts_of_a_workspace_without_channels_are_not_replayed_later(
    db: Session, runtime: Runtime, receiver: Receiver
) -> None:
    from metricx.notifications.schemas import ChannelCreate

    ws = make_keyed_workspace(db)
    alerts.raise_alert(db, workspace_id=ws.workspace.id, kind="stale_data", message="old news")
    service.dispatch(db)
    service.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=ChannelCreate(kind="webhook", name="ops", webhook_url=receiver.url),  # type: ignore[arg-type]
    )
    service.dispatch(db)
    assert deferred_jobs(db) == []


def test_the_send_task_is_retried_with_backoff() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    task = queue.tasks["send_notification"]
    assert task.retry_strategy is not None
    assert task.retry_strategy.max_attempts and task.retry_strategy.max_attempts >= 5
    periodic = {t.task.name for t in queue.periodic_registry.periodic_tasks.values()}
    assert {"dispatch_notifications", "evaluate_alerts", "enforce_retention"} <= periodic
