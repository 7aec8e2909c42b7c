"""How fresh each connection's data is: the one definition that the dashboard, the
``/metrics/latest`` API and the stale-data alert all read.

What counts as the newest data
    The start of the newest hour in which the connection has at least one hourly fact: read
    from its account's hourly rollups, counting only rows that still hold facts (a rollup row
    can drop to zero facts when its facts move to another parent or are deleted); for a
    connection whose facts hang under no account entity (facts pushed through the ingest API),
    from its hourly facts of the last 40 days.

What counts as current
    Our copy is current through the later of the end of that hour and the finish of the newest
    successful metrics sync whose window reached the moment it finished. A sync that succeeded
    and found no new hour proves there was nothing newer to have: an account that stopped
    delivering (campaigns paused, budget spent) is *fresh* while its syncs keep succeeding,
    and turns stale only when they stop (fail, or stop running). Entity syncs and backfills of
    past windows prove nothing about the current hours and do not count. A connection with no
    data and no such sync is judged from the moment it was connected, so a new one gets the
    same grace before it counts as behind.

How a connection that cannot be read is treated
    A connection behind the limit whose Meta token is revoked, invalid or past its expiry, or
    that needs re-authorization or is failing its syncs, is ``BLOCKED``: its data is behind
    (the dashboard shows it delayed) but the stale-data alert is not raised, because the cause
    already has its own alert (re-authorization, token expiry, sync failures) naming the fix.
    A paused or disconnected connection, or an ad account Meta has disabled, is ``IDLE``: no
    news is expected, so it is neither delayed nor stale.

Thresholds
    The judgement takes the limit: the dashboard marks an account delayed after
    ``DELAYED_AFTER`` (a hint to the person looking), the alert fires after the
    ``alert_stale_hours`` setting (a call to an operator, 6 hours by default). Both judge the
    same age with the same rules, so an alerted connection always shows as delayed.

Lives in ``metrics/`` because it reads the metric rollups and facts this domain owns; it
imports nothing but the models, so alerts (and anything else) may import it without a cycle.
The fetches and tokens it reads are read in SQL, not through the sync or connections code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.models import ConnectionStatus, TokenStatus

DELAYED_AFTER = timedelta(hours=3)
META_ACCOUNT_ACTIVE = 1  # Meta's account_status for an account that can deliver ads
HOUR = timedelta(hours=1)

# One row per connection; every subquery is bounded by the connection (its account rollups'
# key range, its fetches). Recent hourly facts are read only for the connections without
# account rollups (``_NEWEST_FACT_SQL``): planning that read over the fact partitions cost
# more than the rest of the statement, on every live update.
FRESHNESS_SQL = text(
    """
SELECT c.id, c.workspace_id, c.name, c.external_account_id, c.status, c.sync_enabled,
       c.account_status, c.created_at, c.last_success_at, t.status, t.expires_at,
       (SELECT max(r.event_at) FROM entities a
          JOIN metric_rollups r ON r.workspace_id = c.workspace_id AND r.granularity = 'hour'
           AND r.level = 'account' AND r.entity_id = a.id AND r.facts <> 0
         WHERE a.workspace_id = c.workspace_id AND a.connection_id = c.id
           AND a.level = 'account') AS newest_hour,
       (SELECT max(x.finished_at) FROM fetches x
         WHERE x.connection_id = c.id AND x.status = 'succeeded'
           AND x.window_end >= x.finished_at) AS synced_through
FROM connections c LEFT JOIN tokens t ON t.id = c.token_id
WHERE CAST(:ws AS uuid) IS NULL OR c.workspace_id = CAST(:ws AS uuid)
ORDER BY c.name, c.created_at
"""
)

_NEWEST_FACT_SQL = text(
    """
SELECT e.connection_id, max(f.event_at) FROM entities e
  JOIN metric_facts f ON f.entity_id = e.id AND f.workspace_id = e.workspace_id
 WHERE e.connection_id = ANY(CAST(:ids AS uuid[])) AND f.granularity = 'hour'
   AND f.event_at > now() - interval '40 days'
 GROUP BY 1
"""
)


class FreshnessState(StrEnum):
    FRESH = "fresh"  # current within the limit
    STALE = "stale"  # behind, and nothing explains it: look at the syncs
    BLOCKED = "blocked"  # behind because metricx cannot read the account (its alert says why)
    IDLE = "idle"  # behind, but no news is expected (paused, disconnected, disabled account)


class Attention(StrEnum):
    """Why a connection needs a person (see ``ConnectionFreshness.attention``)."""

    REAUTH = "reauth"  # Meta's token is revoked, invalid or expired: reconnect
    PAUSED = "paused"  # paused in metricx: resume
    FAILING = "failing"  # its syncs fail: look at the connection, reconnect
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ConnectionFreshness:
    connection_id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    account: str
    status: ConnectionStatus
    sync_enabled: bool
    account_status: int | None
    created_at: datetime
    last_success_at: datetime | None
    token_status: TokenStatus | None
    token_expires_at: datetime | None
    newest_hour: datetime | None  # start of the newest hour with data
    synced_through: datetime | None  # finish of the newest successful sync up to its moment

    @property
    def newest_end(self) -> datetime | None:
        """The end of the newest hour with data."""
        return self.newest_hour + HOUR if self.newest_hour is not None else None

    @property
    def current_through(self) -> datetime | None:
        """Until when our copy is known to match Meta's (see the module's docstring)."""
        known = [t for t in (self.newest_end, self.synced_through) if t is not None]
        return max(known) if known else None

    def age_seconds(self, now: datetime) -> float | None:
        """Age of the newest complete hour: now minus that hour's end."""
        end = self.newest_end
        return (now - end).total_seconds() if end is not None else None

    def behind(self, now: datetime) -> timedelta:
        """How long the copy has not been known current (since connecting, without data)."""
        return now - (self.current_through or self.created_at)

    def expects_data(self) -> bool:
        return (
            self.sync_enabled
            and self.status not in (ConnectionStatus.PAUSED, ConnectionStatus.DISCONNECTED)
            and self.account_status in (None, META_ACCOUNT_ACTIVE)
        )

    def blocked(self, now: datetime) -> bool:
        if self.status in (ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR):
            return True
        if self.token_status in (TokenStatus.INVALID, TokenStatus.REVOKED):
            return True
        return self.token_expires_at is not None and self.token_expires_at <= now

    def state(self, now: datetime, stale_after: timedelta) -> FreshnessState:
        if self.behind(now) < stale_after:
            return FreshnessState.FRESH
        if not self.expects_data():
            return FreshnessState.IDLE
        if self.blocked(now):
            return FreshnessState.BLOCKED
        return FreshnessState.STALE

    def delayed(self, now: datetime, delayed_after: timedelta = DELAYED_AFTER) -> bool:
        """What the dashboard flags: behind the limit and expected to deliver."""
        return self.state(now, delayed_after) in (FreshnessState.STALE, FreshnessState.BLOCKED)

    def no_delivery(self, now: datetime, delayed_after: timedelta = DELAYED_AFTER) -> bool:
        """Current, but with no new hour for longer than the limit: its syncs keep succeeding
        and find nothing newer (campaigns paused, budget spent). Not a delay."""
        if self.synced_through is None or self.state(now, delayed_after) != FreshnessState.FRESH:
            return False
        end = self.newest_end
        return end is None or now - end >= delayed_after

    def attention(self, now: datetime) -> Attention | None:
        """What the connection needs from a person, whatever its data's age: a token Meta
        no longer accepts (reconnect), a pause (resume), failing syncs (look, reconnect)."""
        if self.status is ConnectionStatus.DISCONNECTED:
            return Attention.DISCONNECTED
        if self.status is ConnectionStatus.NEEDS_REAUTH or self.token_status in (
            TokenStatus.INVALID,
            TokenStatus.REVOKED,
        ):
            return Attention.REAUTH
        if self.token_expires_at is not None and self.token_expires_at <= now:
            return Attention.REAUTH
        if self.status is ConnectionStatus.PAUSED or not self.sync_enabled:
            return Attention.PAUSED
        if self.status is ConnectionStatus.ERROR:
            return Attention.FAILING
        return None


def connection_freshness(
    session: Session, *, workspace_id: uuid.UUID | None = None
) -> list[ConnectionFreshness]:
    """Every connection's freshness (of one workspace, or of all), ordered by name."""
    rows = session.execute(FRESHNESS_SQL, {"ws": workspace_id}).all()
    unrolled = [r[0] for r in rows if r[11] is None]
    newest = (
        {r[0]: r[1] for r in session.execute(_NEWEST_FACT_SQL, {"ids": unrolled})}
        if unrolled
        else {}
    )
    return [
        ConnectionFreshness(
            connection_id=r[0],
            workspace_id=r[1],
            name=r[2],
            account=r[3],
            status=ConnectionStatus(r[4]),
            sync_enabled=r[5],
            account_status=r[6],
            created_at=r[7],
            last_success_at=r[8],
            token_status=TokenStatus(r[9]) if r[9] is not None else None,
            token_expires_at=r[10],
            newest_hour=r[11] if r[11] is not None else newest.get(r[0]),
            synced_through=r[12],
        )
        for r in rows
    ]
