"""What the Connections page says about each ad account, in plain words: token health,
sync state, what is running now and what went wrong."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.connections import repository as connections
from metricx.models import Connection, ConnectionStatus, Fetch, RunStatus, Token, TokenStatus
from metricx.web import repository
from metricx.web.sync_bridge import progress

PLAIN_ERRORS = (
    ("token", "Meta no longer accepts the sign-in for this account. Reconnect to fix it."),
    ("session has expired", "The Meta sign-in expired. Reconnect to fix it."),
    (
        "permission",
        "The Meta user lost access to this ad account. Reconnect, or ask an admin "
        "of the ad account to grant access again.",
    ),
    ("rate limit", "Meta asked us to slow down; the next sync retries automatically."),
    ("too many calls", "Meta asked us to slow down; the next sync retries automatically."),
    ("throttl", "Meta asked us to slow down; the next sync retries automatically."),
    ("timed out", "Meta took too long to answer; the next sync retries automatically."),
    ("timeout", "Meta took too long to answer; the next sync retries automatically."),
)


def plain_error(message: str | None) -> str | None:
    """A sync error as a marketer reads it; Meta's own words stay available as details."""
    if not message:
        return None
    lowered = message.lower()
    for needle, plain in PLAIN_ERRORS:
        if needle in lowered:
            return plain
    return "The last sync failed: " + message.rstrip(".") + "."


@dataclass
class TokenBadge:
    label: str
    tone: str  # ok | warn | bad | muted
    needs_reconnect: bool


def token_badge(
    connection: Connection, token: Token | None, now: datetime, warn_days: int
) -> TokenBadge:
    if connection.status is ConnectionStatus.DISCONNECTED or token is None:
        return TokenBadge("Disconnected", "muted", True)
    expired = token.expires_at is not None and token.expires_at <= now
    if (
        connection.status is ConnectionStatus.NEEDS_REAUTH
        or token.status in (TokenStatus.INVALID, TokenStatus.REVOKED)
        or expired
    ):
        return TokenBadge("Expired \u2013 reconnect", "bad", True)
    if token.expires_at is not None and token.expires_at - now <= timedelta(days=warn_days):
        days = max(0, (token.expires_at - now).days)
        when = "today" if days == 0 else "in 1 day" if days == 1 else f"in {days} days"
        return TokenBadge(f"Expires {when}", "warn", False)
    return TokenBadge("Connected", "ok", False)


@dataclass
class ConnectionCard:
    connection: Connection
    token: TokenBadge
    running: Fetch | None
    last_fetch: Fetch | None
    error: str | None

    @property
    def c(self) -> Connection:
        return self.connection

    @property
    def is_active(self) -> bool:
        return self.connection.status in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR)

    @property
    def is_paused(self) -> bool:
        return self.connection.status is ConnectionStatus.PAUSED

    @property
    def is_disconnected(self) -> bool:
        return self.connection.status is ConnectionStatus.DISCONNECTED

    @property
    def status_label(self) -> str:
        return {
            ConnectionStatus.ACTIVE: "Syncing hourly",
            ConnectionStatus.PAUSED: "Paused",
            ConnectionStatus.NEEDS_REAUTH: "Needs reconnecting",
            ConnectionStatus.DISCONNECTED: "Disconnected",
            ConnectionStatus.ERROR: "Sync failing",
        }[self.connection.status]

    @property
    def progress(self) -> str | None:
        f = self.running
        if f is None:
            return None
        what = {"entities": "campaigns", "backfill": "history"}.get(f.kind, "performance")
        if f.status is RunStatus.QUEUED:
            return f"Waiting to sync {what}\u2026"
        share, rows = progress(f.checkpoint)
        rows = rows or f.rows
        pct = f" {int(share * 100)}%" if share is not None else ""
        return f"Syncing {what}{pct}" + (f" \u00b7 {rows:,} rows" if rows else "")


def connection_cards(
    session: Session, workspace_id: uuid.UUID, warn_days: int, now: datetime | None = None
) -> list[ConnectionCard]:
    now = now or datetime.now(UTC)
    rows = connections.connections_of(session, workspace_id)
    running: dict[uuid.UUID | None, Fetch] = {}
    for f in repository.active_fetches(session, workspace_id):
        running.setdefault(f.connection_id, f)
    finished = repository.last_finished_fetches(session, workspace_id)
    cards = []
    for c in rows:
        token = connections.token(session, c.workspace_id, c.token_id) if c.token_id else None
        cards.append(
            ConnectionCard(
                connection=c,
                token=token_badge(c, token, now, warn_days),
                running=running.get(c.id),
                last_fetch=finished.get(c.id),
                error=plain_error(c.last_error),
            )
        )
    order = {ConnectionStatus.DISCONNECTED: 1}
    cards.sort(key=lambda k: (order.get(k.c.status, 0), k.c.name.lower()))
    return cards
