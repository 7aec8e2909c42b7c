"""The wire: a Slack-compatible webhook POST and an SMTP e-mail. A failure raises
``DeliveryFailed`` (the send job is then retried)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import httpx

from metricx.kit.crypto import Secret


class DeliveryFailed(Exception):
    pass


def send_webhook(url: Secret, payload: dict[str, Any], *, timeout: float) -> None:
    try:
        response = httpx.post(url.reveal(), json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise DeliveryFailed(f"webhook answered {response.status_code}")


def send_email(
    config: dict[str, Any],
    password: Secret | None,
    *,
    subject: str,
    body: str,
    timeout: float,
) -> None:
    message = EmailMessage()
    message["From"] = config["sender"]
    message["To"] = ", ".join(config["recipients"])
    message["Subject"] = subject
    message.set_content(body)
    security = config.get("security", "starttls")
    try:
        smtp: smtplib.SMTP
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(
                config["host"],
                config["port"],
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(config["host"], config["port"], timeout=timeout)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.get("username") and password is not None:
                smtp.login(config["username"], password.reveal())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP delivery failed: {type(exc).__name__}: {exc}") from exc
