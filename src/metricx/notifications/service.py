"""Channels (create, list, delete) and delivery: the alert outbox handed to each enabled
channel of the workspace as one delivery row + one send job, and the send itself.

Exactly once per channel and event, as far as the receiver can tell: the delivery row is
unique per (alert, channel, event) and records when it was sent; the send job retries until
it succeeds or ``notification_max_attempts`` is reached. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.errors import InvalidInput, NotFound
from metricx.jobs.enqueue import defer_job
from metricx.kit import egress
from metricx.kit.crypto import Cipher
from metricx.logging import get_logger
from metricx.models import (
    Alert,
    ChannelKind,
    DeliveryEvent,
    NotificationChannel,
    NotificationDelivery,
)
from metricx.notifications import repository, senders
from metricx.notifications.schemas import ChannelCreate

log = get_logger("metricx.notifications")
SEND_TASK = "send_notification"
QUEUE = "notifications"


def create_channel(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    workspace_id: uuid.UUID,
    body: ChannelCreate,
    resolve: egress.Resolver = egress.system_resolver,
) -> NotificationChannel:
    """Add a channel whose destination is a public address (or one the operator allows):
    InvalidInput otherwise. Sends check it again (DNS may change after this)."""
    check_destination(body, settings.notify_allow_list, resolve)
    secret: str | None = None
    config: dict[str, Any] = {}
    if body.kind == "webhook":
        assert body.webhook_url is not None
        secret = body.webhook_url.get_secret_value()
    else:
        assert body.email is not None
        config = body.email.model_dump(exclude={"password"})
        secret = body.email.password.get_secret_value() if body.email.password else None
    row = NotificationChannel(
        workspace_id=workspace_id,
        kind=ChannelKind(body.kind),
        name=body.name,
        config=config,
        secret_enc=cipher.encrypt(secret) if secret else None,
    )
    session.add(row)
    session.flush()
    return row


def check_destination(
    body: ChannelCreate, allowed: egress.AllowList, resolve: egress.Resolver
) -> None:
    if body.kind == "webhook":
        assert body.webhook_url is not None
        field = "webhook_url"
        try:
            parts = urlsplit(body.webhook_url.get_secret_value())
            host, port = parts.hostname or "", parts.port
        except ValueError:
            raise InvalidInput(
                "webhook_url is not a valid URL",
                details=[{"field": field, "reason": "not a valid URL"}],
            ) from None
        port = port or (443 if parts.scheme == "https" else 80)
    else:
        assert body.email is not None
        field, host, port = "email.host", body.email.host, body.email.port
    try:
        egress.check_destination(host, port, allowed, resolve)
    except egress.RefusedDestination as exc:
        raise InvalidInput(
            f"{field}: {exc}. Notifications go to public addresses only; an operator can allow "
            "internal ones with METRICX_NOTIFY_ALLOWED_HOSTS",
            details=[{"field": field, "reason": str(exc)}],
        ) from None


def list_channels(session: Session, *, workspace_id: uuid.UUID) -> list[NotificationChannel]:
    return repository.channels_of(session, workspace_id)


def delete_channel(session: Session, *, workspace_id: uuid.UUID, channel_id: uuid.UUID) -> None:
    row = repository.channel(session, workspace_id, channel_id)
    if row is None:
        raise NotFound("no such notification channel")
    session.delete(row)
    session.flush()


def dispatch(session: Session, *, batch: int = 500) -> int:
    """Hand new and newly resolved alerts to their workspace's channels; returns the send jobs
    deferred. An alert of a workspace without channels is marked handed all the same, so
    configuring a channel later does not replay the past."""
    now = datetime.now(UTC)
    deferred = 0
    for alert, event in repository.unsent_events(session, batch):
        if alert.workspace_id is not None:
            for channel in repository.channels_of(session, alert.workspace_id, enabled_only=True):
                delivery_id = repository.add_delivery(session, alert, channel.id, event)
                if delivery_id is not None:
                    defer_job(session, SEND_TASK, {"delivery_id": str(delivery_id)}, queue=QUEUE)
                    deferred += 1
        repository.mark_handed(alert, event, now)
    session.flush()
    return deferred


def render(alert: Alert, event: DeliveryEvent, base_url: str) -> tuple[str, str]:
    """(subject, text) of the message."""
    state = "RESOLVED" if event is DeliveryEvent.RESOLVED else alert.severity.value.upper()
    subject = f"[metricx] {state}: {alert.kind.replace('_', ' ')}"
    lines = [alert.message, ""]
    lines.append(f"seen {alert.count} time(s) since {alert.first_seen_at:%Y-%m-%d %H:%M} UTC")
    if event is DeliveryEvent.RESOLVED and alert.resolved_at is not None:
        lines.append(f"resolved at {alert.resolved_at:%Y-%m-%d %H:%M} UTC")
    lines.append(f"{base_url.rstrip('/')}/api/v1/workspaces/{alert.workspace_id}/alerts")
    return subject, "\n".join(lines)


def webhook_payload(alert: Alert, event: DeliveryEvent, base_url: str) -> dict[str, Any]:
    """Slack's ``text`` (Mattermost, Rocket.Chat, Teams workflows read it too) plus the alert
    as data for receivers that parse it."""
    subject, body = render(alert, event, base_url)
    return {
        "text": f"*{subject}*\n{body}",
        "event": event.value,
        "alert": {
            "id": str(alert.id),
            "workspace_id": str(alert.workspace_id),
            "kind": alert.kind,
            "key": alert.key,
            "severity": alert.severity.value,
            "message": alert.message,
            "count": alert.count,
            "first_seen_at": alert.first_seen_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
    }


def deliver(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    delivery_id: uuid.UUID,
    resolve: egress.Resolver = egress.system_resolver,
) -> str:
    """Send one delivery. Returns ``sent``, ``already_sent``, ``gone`` or ``gave_up``; raises
    ``DeliveryFailed`` (after recording the attempt) so the job is retried: a destination
    refused at send time too, in case the operator's allow-list changes."""
    delivery = repository.delivery_for_update(session, delivery_id)
    if delivery is None:
        return "gone"
    alert = session.get(Alert, delivery.alert_id)
    channel = session.get(NotificationChannel, delivery.channel_id)
    if alert is None or channel is None:
        return "gone"
    return attempt(
        session,
        delivery,
        lambda: _send(channel, alert, delivery, settings, cipher, resolve),
        max_attempts=settings.notification_max_attempts,
    )


class Attempted(Protocol):
    """A delivery row: its attempts, last error and when it was sent."""

    id: Any
    attempts: int
    last_error: str | None
    sent_at: datetime | None


def attempt(
    session: Session, delivery: Attempted, send: Callable[[], None], *, max_attempts: int
) -> str:
    """One attempt of a delivery (locked by the caller): ``sent``, ``already_sent`` or
    ``gave_up``; a failed send is recorded (attempts, ``last_error``: the sender's message,
    which names no secret) and raised again, so the job is retried, until ``max_attempts``."""
    if delivery.sent_at is not None:
        return "already_sent"
    if delivery.attempts >= max_attempts:
        return "gave_up"
    delivery.attempts += 1
    try:
        send()
    except senders.DeliveryFailed as exc:
        delivery.last_error = str(exc)
        session.flush()
        log.warning(
            "notification failed",
            delivery_id=str(delivery.id),
            attempt=delivery.attempts,
            error=str(exc),
        )
        if delivery.attempts >= max_attempts:
            return "gave_up"
        raise
    delivery.sent_at = datetime.now(UTC)
    delivery.last_error = None
    session.flush()
    return "sent"


def _send(
    channel: NotificationChannel,
    alert: Alert,
    delivery: NotificationDelivery,
    settings: Settings,
    cipher: Cipher,
    resolve: egress.Resolver,
) -> None:
    subject, body = render(alert, delivery.event, settings.base_url)
    send_to_channel(
        channel,
        settings=settings,
        cipher=cipher,
        subject=subject,
        text=body,
        payload=webhook_payload(alert, delivery.event, settings.base_url),
        resolve=resolve,
    )


def send_to_channel(
    channel: NotificationChannel,
    *,
    settings: Settings,
    cipher: Cipher,
    subject: str,
    text: str,
    payload: dict[str, Any],
    html: str | None = None,
    resolve: egress.Resolver = egress.system_resolver,
) -> None:
    """One message through a channel: ``payload`` to a webhook, or an e-mail of ``subject``
    and ``text`` (and ``html`` as its alternative part). Raises ``senders.DeliveryFailed``."""
    secret = cipher.decrypt(channel.secret_enc) if channel.secret_enc else None
    timeout = settings.notification_timeout_seconds
    allowed = settings.notify_allow_list
    if channel.kind is ChannelKind.WEBHOOK:
        if secret is None:
            raise senders.DeliveryFailed("the webhook channel has no URL")
        senders.send_webhook(secret, payload, timeout=timeout, allowed=allowed, resolve=resolve)
    else:
        senders.send_email(
            channel.config,
            secret,
            subject=subject,
            body=text,
            html=html,
            timeout=timeout,
            allowed=allowed,
            resolve=resolve,
        )


def rotate_secrets(session: Session, cipher: Cipher) -> int:
    """Re-encrypt every channel secret under the newest key (part of key rotation)."""
    done = 0
    for row in repository.all_channels(session):
        if row.secret_enc is not None:
            row.secret_enc = cipher.rotate(row.secret_enc)
            done += 1
    session.flush()
    return done
