"""Notification destinations are public addresses only (no SSRF): a webhook or SMTP host
resolving to loopback, private, link-local, unique-local, multicast, unspecified or cloud
metadata addresses is refused when the channel is saved (422) and again at send time, where
the connection goes to the address that was checked, whatever DNS answers next. The operator's
allow-list (``METRICX_NOTIFY_ALLOWED_HOSTS``) admits internal destinations.

DNS is played by a resolver function handed to the service (this machine has no DNS to
change); the receivers are real servers on 127.0.0.1."""

from __future__ import annotations

import socketserver
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricx.alerts import service as alerts
from metricx.errors import InvalidInput
from metricx.models import NotificationChannel, NotificationDelivery
from metricx.notifications import service
from metricx.notifications.schemas import ChannelCreate
from metricx.notifications.senders import DeliveryFailed, DestinationRefused
from metricx.runtime import Runtime
from tests.factories import make_keyed_workspace
from tests.notifications.test_delivery import Receiver, deferred_jobs, receiver  # noqa: F401

PUBLIC = "93.184.215.14"  # a public address; nothing ever connects to it here


def resolver(answers: dict[str, list[str]]) -> Any:
    """DNS as the test says: ``answers`` by host name; addresses resolve to themselves."""

    def resolve(host: str, _port: int) -> list[str]:
        return answers.get(host, [host])

    return resolve


WEBHOOKS = [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd12:3456::1]/hook", "unique-local"),
    ("http://10.0.0.7/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://100.64.0.1/hook", "non-public"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
]


@pytest.mark.parametrize(("url", "why"), WEBHOOKS)
def test_a_webhook_to_an_internal_address_is_refused_when_saved(
    client: TestClient, db: Session, runtime: Runtime, url: str, why: str
) -> None:
    runtime.settings.notify_allowed_hosts = ""
    ws = make_keyed_workspace(db)
    answer = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/notification-channels",
        json={"kind": "webhook", "name": "ops", "webhook_url": url},
        headers=ws.headers,
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"][0]["field"] == "webhook_url"
    assert why in error["message"] and "public addresses only" in error["message"]
    assert db.scalar(select(func.count()).select_from(NotificationChannel)) == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "localhost"])
def test_an_smtp_server_at_an_internal_address_is_refused_when_saved(
    client: TestClient, db: Session, runtime: Runtime, host: str
) -> None:
    runtime.settings.notify_allowed_hosts = ""
    ws = make_keyed_workspace(db)
    email = {"host": host, "port": 25, "sender": "m@example.com", "recipients": ["o@e.com"]}
    answer = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/notification-channels",
        json={"kind": "email", "name": "ops", "email": email},
        headers=ws.headers,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "email.host"


def test_a_host_with_one_private_address_among_public_ones_is_refused(
    db: Session, runtime: Runtime
) -> None:
    ws = make_keyed_workspace(db)
    body = ChannelCreate(kind="webhook", name="ops", webhook_url="https://hooks.example.com/x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"10\.0\.0\.1, a private address"):
        service.create_channel(
            db,
            settings=runtime.settings,
            cipher=runtime.cipher,
            workspace_id=ws.workspace.id,
            body=body,
            resolve=resolver({"hooks.example.com": [PUBLIC, "10.0.0.1"]}),
        )


def test_the_allow_list_admits_internal_hosts_but_never_metadata(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    runtime.settings.notify_allowed_hosts = "169.254.0.0/16, 10.0.0.0/8, relay.internal"
    ws = make_keyed_workspace(db)
    url = f"/api/v1/workspaces/{ws.workspace.id}/notification-channels"

    def save(webhook: str) -> int:
        body = {"kind": "webhook", "name": "ops", "webhook_url": webhook}
        return client.post(url, json=body, headers=ws.headers).status_code

    assert save("http://10.20.30.40:8080/hook") == 201
    assert save("https://relay.internal/hook") == 201  # named: allowed without resolving
    assert save("http://169.254.10.10/hook") == 201
    assert save("http://169.254.169.254/latest/meta-data/") == 422


def saved_channel(db: Session, runtime: Runtime, url: str, resolve: Any) -> uuid.UUID:
    ws = make_keyed_workspace(db)
    body = ChannelCreate(kind="webhook", name="ops", webhook_url=url)  # type: ignore[arg-type]
    service.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=body,
        resolve=resolve,
    )
    alerts.raise_alert(db, workspace_id=ws.workspace.id, kind="stale_data", message="old")
    service.dispatch(db)
    [delivery_id] = deferred_jobs(db)
    return uuid.UUID(delivery_id)


def test_dns_that_changes_after_saving_cannot_point_a_send_at_loopback(
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    runtime.settings.notify_allowed_hosts = ""
    port = receiver.server.server_address[1]
    url = f"http://hooks.example.com:{port}/hook"
    delivery_id = saved_channel(db, runtime, url, resolver({"hooks.example.com": [PUBLIC]}))
    rebound = resolver({"hooks.example.com": ["127.0.0.1"]})  # the receiver listens there
    with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1, a loopback address"):
        service.deliver(
            db,
            settings=runtime.settings,
            cipher=runtime.cipher,
            delivery_id=delivery_id,
            resolve=rebound,
        )
    assert receiver.received == [] and receiver.requests == 0
    delivery = db.get(NotificationDelivery, delivery_id)
    assert delivery is not None and delivery.sent_at is None
    assert "destination refused" in (delivery.last_error or "")


def test_a_send_connects_to_the_checked_address_and_keeps_the_host_name(
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    port = receiver.server.server_address[1]
    answers = {"hook.metricx.test": ["127.0.0.1"]}  # allowed by the fixtures' allow-list
    delivery_id = saved_channel(
        db, runtime, f"http://hook.metricx.test:{port}/hook", resolver(answers)
    )
    outcome = service.deliver(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        delivery_id=delivery_id,
        resolve=resolver(answers),
    )
    assert outcome == "sent"
    assert [m["event"] for m in receiver.received] == ["raised"]
    assert receiver.hosts == [f"hook.metricx.test:{port}"]


def test_a_redirect_is_not_followed(
    db: Session,
    runtime: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    delivery_id = saved_channel(db, runtime, receiver.url, resolver({}))
    with pytest.raises(DeliveryFailed, match="answered 307"):
        service.deliver(
            db, settings=runtime.settings, cipher=runtime.cipher, delivery_id=delivery_id
        )
    assert receiver.requests == 1


# ---- SMTP ------------------------------------------------------------------------------------


class SmtpReceiver(socketserver.ThreadingTCPServer):
    """Just enough SMTP (no TLS) to take one message; counts every connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.connections = 0
        self.messages: list[str] = []
        self.arrived = threading.Event()
        super().__init__(("127.0.0.1", 0), SmtpSession)


class SmtpSession(socketserver.StreamRequestHandler):
    server: SmtpReceiver

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.server.connections += 1
        self.reply("220 test ESMTP")
        while line := self.rfile.readline().decode().strip():
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250 test")
            elif verb == "DATA":
                self.reply("354 go on")
                lines = []
                while (data := self.rfile.readline().decode()) not in (".\r\n", ""):
                    lines.append(data)
                self.server.messages.append("".join(lines))
                self.reply("250 queued")
                self.server.arrived.set()
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def email_delivery(db: Session, runtime: Runtime, port: int, resolve: Any) -> uuid.UUID:
    ws = make_keyed_workspace(db)
    body = ChannelCreate.model_validate(
        {
            "kind": "email",
            "name": "ops",
            "email": {
                "host": "smtp.metricx.test",
                "port": port,
                "sender": "metricx@example.com",
                "recipients": ["ops@example.com"],
                "security": "none",
            },
        }
    )
    service.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=body,
        resolve=resolve,
    )
    alerts.raise_alert(db, workspace_id=ws.workspace.id, kind="stale_data", message="old")
    service.dispatch(db)
    [delivery_id] = deferred_jobs(db)
    return uuid.UUID(delivery_id)


def test_an_email_goes_to_the_checked_address(
    db: Session, runtime: Runtime, smtp: SmtpReceiver
) -> None:
    port = smtp.server_address[1]
    answers = resolver({"smtp.metricx.test": ["127.0.0.1"]})
    delivery_id = email_delivery(db, runtime, port, answers)
    outcome = service.deliver(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        delivery_id=delivery_id,
        resolve=answers,
    )
    assert outcome == "sent"
    assert smtp.arrived.is_set() and "stale data" in smtp.messages[0]


def test_an_email_is_not_sent_when_the_smtp_host_now_resolves_inside(
    db: Session, runtime: Runtime, smtp: SmtpReceiver
) -> None:
    runtime.settings.notify_allowed_hosts = ""
    port = smtp.server_address[1]
    delivery_id = email_delivery(db, runtime, port, resolver({"smtp.metricx.test": [PUBLIC]}))
    with pytest.raises(DestinationRefused, match="loopback"):
        service.deliver(
            db,
            settings=runtime.settings,
            cipher=runtime.cipher,
            delivery_id=delivery_id,
            resolve=resolver({"smtp.metricx.test": ["127.0.0.1"]}),
        )
    assert smtp.connections == 0 and smtp.messages == []
