"""The wire: a Slack-compatible webhook POST and an SMTP e-mail. A failure raises
``DeliveryFailed`` (the send job is then retried).

Both resolve their host, check every address (``kit.egress``: public ones, or the operator's
allow-list) and connect to the checked address itself, never to the name again: TLS still
verifies the certificate of the name, and the webhook's ``Host`` is the name."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from metricx.kit import egress
from metricx.kit.crypto import Secret


class DeliveryFailed(Exception):
    pass


class DestinationRefused(DeliveryFailed):
    """The destination is (now) no address metricx sends to; nothing was sent."""


def _address(host: str, port: int, allowed: egress.AllowList, resolve: egress.Resolver) -> str:
    try:
        return egress.checked_addresses(host, port, allowed, resolve)[0]
    except egress.RefusedDestination as exc:
        raise DestinationRefused(f"destination refused: {exc}") from None


def _netloc(address: str, port: int, userinfo: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"


def send_webhook(
    url: Secret,
    payload: dict[str, Any],
    *,
    timeout: float,
    allowed: egress.AllowList,
    resolve: egress.Resolver = egress.system_resolver,
) -> None:
    try:
        parts = urlsplit(url.reveal())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise DeliveryFailed("the webhook URL is not valid") from None
    if parts.scheme not in ("http", "https"):
        raise DeliveryFailed("the webhook URL is not http or https")
    port = port or (443 if parts.scheme == "https" else 80)
    address = _address(host, port, allowed, resolve)
    userinfo = parts.netloc.rpartition("@")[0]
    pinned = urlunsplit(parts._replace(netloc=_netloc(address, port, userinfo)))
    name = f"[{host}]" if ":" in host else host
    headers = {"Host": name if parts.port is None else f"{name}:{port}"}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        # No redirects: a 3xx to an internal address would go around the check.
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(pinned, json=payload, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise DeliveryFailed(f"webhook answered {response.status_code}")


class _PinnedSMTP(smtplib.SMTP):
    """SMTP to a checked address; ``host`` (the name) stays what STARTTLS verifies."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's own hook for opening the connection (typeshed leaves it out).
        sock: socket.socket = super()._get_socket(self._address, port, timeout)  # type: ignore[misc]
        return sock


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """SMTP over TLS to a checked address; the certificate is verified for the name."""

    def __init__(
        self, address: str, host: str, port: int, timeout: float, context: ssl.SSLContext
    ) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # SMTP_SSL wraps the socket with server_hostname=self._host, the name.
        sock: socket.socket = super()._get_socket(self._address, port, timeout)  # type: ignore[misc]
        return sock


def send_email(
    config: dict[str, Any],
    password: Secret | None,
    *,
    subject: str,
    body: str,
    html: str | None = None,
    timeout: float,
    allowed: egress.AllowList,
    resolve: egress.Resolver = egress.system_resolver,
) -> None:
    message = EmailMessage()
    message["From"] = config["sender"]
    message["To"] = ", ".join(config["recipients"])
    message["Subject"] = subject
    message.set_content(body)
    if html is not None:  # multipart/alternative: the text part, then the HTML one
        message.add_alternative(html, subtype="html")
    security = config.get("security", "starttls")
    host, port = str(config["host"]), int(config["port"])
    address = _address(host, port, allowed, resolve)
    try:
        smtp: smtplib.SMTP
        if security == "ssl":
            smtp = _PinnedSMTPSSL(address, host, port, timeout, ssl.create_default_context())
        else:
            smtp = _PinnedSMTP(address, host, port, timeout)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.get("username") and password is not None:
                smtp.login(config["username"], password.reveal())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP delivery failed: {type(exc).__name__}: {exc}") from exc
