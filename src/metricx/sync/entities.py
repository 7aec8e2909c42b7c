"""Entity sync: account -> campaigns -> ad sets -> ads into entities, in three paged
account-level calls (not one per parent). Idempotent: a re-run writes only what changed;
entities Meta stopped returning get ``removed_at``, never deleted. Each run is a fetch.

An ad that delivered before a sync listed it is already stored, filed under the ad set its
insights named (ingest/service.py): the same row (unique per workspace, provider, level and
external id) gets its name and status here when Meta lists it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.connections import repository
from metricx.connections.service import mark_needs_reauth, token_invalid
from metricx.connections.tokens import ClientFactory, default_client_factory, reveal
from metricx.creatives.service import CreativePull, Have, have_of, pull_creatives, record_creatives
from metricx.db import unit_of_work
from metricx.errors import Conflict
from metricx.facts import rollups
from metricx.integrations.meta.action_rows import CustomConversionRecord
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.entities import EntityRecord, fetch_entity_records
from metricx.integrations.meta.errors import (
    MetaError,
    ThrottledError,
    is_permission_lost,
    is_token_invalid,
    is_token_revoked,
)
from metricx.jobs.enqueue import defer_job
from metricx.kit.crypto import Cipher
from metricx.logging import get_logger
from metricx.models import Connection, ConnectionStatus, Fetch, Provider, RunStatus, Token
from metricx.runtime import Runtime
from metricx.sync import checkpoints
from metricx.sync.actions import pull_custom_conversions, record_custom_conversions

log = get_logger("metricx.sync")
ENTITY_SYNC_TASK = "sync_connection_entities"
LEVELS = ("account", "campaign", "adset", "ad")


@dataclass
class SyncCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    by_level: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, level: str, kind: str, n: int = 1) -> None:
        setattr(self, kind, getattr(self, kind) + n)
        self.by_level.setdefault(level, {"created": 0, "updated": 0, "unchanged": 0, "removed": 0})
        self.by_level[level][kind] += n


def request_entity_sync(session: Session, *, connection: Connection) -> Fetch:
    """A queued fetch and its job, in the caller's transaction."""
    if connection.status in (ConnectionStatus.DISCONNECTED, ConnectionStatus.NEEDS_REAUTH):
        raise Conflict(
            f"the connection is {connection.status.value}; reconnect it first",
            code="connection_not_active",
        )
    fetch = Fetch(
        workspace_id=connection.workspace_id,
        connection_id=connection.id,
        kind="entities",
        status=RunStatus.QUEUED,
    )
    session.add(fetch)
    session.flush()
    defer_job(
        session,
        ENTITY_SYNC_TASK,
        {"fetch_id": str(fetch.id)},
        queue="sync",
        lock=f"connection:{connection.id}",
    )
    return fetch


def only_from_insights(state: tuple[Any, ...] | None) -> bool:
    """Whether an entity (``entity_state``'s tuple) was never listed by an entity sync: the
    ingest service made it from facts naming it (no name, no status). Meta cannot have
    stopped returning what it never returned, so it is not marked removed; its facts keep
    counting, and it gets its name and status when a sync lists it."""
    return state is not None and state[3] is None and state[4] is None


def write_records(
    session: Session, connection: Connection, records: Iterable[EntityRecord], now: datetime
) -> SyncCounts:
    counts = SyncCounts()
    by_level: dict[str, list[EntityRecord]] = {lv: [] for lv in LEVELS}
    for rec in records:
        by_level[rec.level].append(rec)
    parent_ids: dict[str, uuid.UUID] = {}
    for level in LEVELS:
        existing = repository.entity_state(session, connection.workspace_id, Provider.META, level)
        changed: list[dict[str, Any]] = []
        ids: dict[str, uuid.UUID] = {}
        for rec in by_level[level]:
            parent = parent_ids.get(rec.parent_external_id or "")
            before = existing.get(rec.external_id)
            row = {
                "workspace_id": connection.workspace_id,
                "connection_id": connection.id,
                "provider": Provider.META,
                "level": level,
                "external_id": rec.external_id,
                "parent_id": parent,
                "name": rec.name,
                "status": rec.status,
                "effective_status": rec.effective_status,
                "objective": rec.objective,
                "goal": rec.goal,
                "created_time": rec.created_time,
                "removed_at": None,
                "updated_at": now,
                "optimization_goal": rec.optimization_goal,
                "promoted_object": rec.promoted_object,
                "attribution_setting": rec.attribution_setting,
                "result_type": rec.result_type,
            }
            if before is None:
                row["id"] = uuid.uuid4()
                changed.append(row)
                counts.add(level, "created")
            elif (before[1], before[2], *before[3:8], *before[9:13], before[8]) != (
                connection.id,
                parent,
                *rec.values(),
                None,
            ):
                row["id"] = before[0]
                changed.append(row)
                counts.add(level, "updated")
            else:
                ids[rec.external_id] = before[0]
                counts.add(level, "unchanged")
        moved = [
            row["id"]
            for row in changed
            if (before := existing.get(row["external_id"])) is not None
            and before[2] != row["parent_id"]
        ]
        # A new parent: the subtree's facts leave the old ancestors' rollups for the new ones.
        after_move = rollups.moving(session, connection.workspace_id, moved) if moved else None
        ids.update(repository.upsert_entities(session, changed))
        if after_move is not None:
            after_move()
        parent_ids = ids
        gone = [
            eid
            for ext, (eid, removed) in repository.connection_entity_ids(
                session, connection, level
            ).items()
            if ext not in ids and removed is None and not only_from_insights(existing.get(ext))
        ]
        repository.mark_removed(session, gone, now)
        counts.add(level, "removed", len(gone))
    return counts


@dataclass
class EntityPull:
    """What one entity fetch brought from Meta: the records, or the failure that ended it."""

    started_at: datetime
    started: float  # monotonic, for the duration
    records: list[EntityRecord] | None = None
    custom_conversions: list[CustomConversionRecord] | None = None
    creatives: CreativePull | None = None
    error: MetaError | None = None
    calls: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0


def pull_entities(
    client: MetaAdsClient,
    account_id: str,
    settings: Settings | None = None,
    have: Have | None = None,
) -> EntityPull:
    """Every entity of the account from Meta, and with ``settings`` its creatives (their
    thumbnails copied into the data dir unless ``have`` says they are). Touches no database:
    the caller holds no transaction while Meta pages."""
    pull = EntityPull(started_at=datetime.now(UTC), started=time.monotonic())
    calls, retries, throttled = (
        client.stats.calls,
        client.stats.retries,
        client.stats.throttled_seconds,
    )
    try:
        pull.records = fetch_entity_records(client, account_id)
        pull.custom_conversions = pull_custom_conversions(client, account_id)
        if settings is not None:
            pull.creatives = pull_creatives(client, account_id, settings, have)
    except MetaError as exc:
        pull.error = exc
    pull.calls = client.stats.calls - calls
    pull.retries = client.stats.retries - retries
    pull.throttled_seconds = client.stats.throttled_seconds - throttled
    return pull


def record_entity_sync(session: Session, *, fetch: Fetch, pull: EntityPull | None) -> Fetch:
    """Write what ``pull`` brought (None: nothing could be asked, the connection has no
    token) and the outcome on ``fetch``. Meta's failures end here as a failed fetch (and, for
    token or permission loss, a connection needing reauth)."""
    connection = repository.connection(session, fetch.workspace_id, fetch.connection_id)  # type: ignore[arg-type]
    started = pull.started if pull is not None else time.monotonic()
    now = pull.started_at if pull is not None else datetime.now(UTC)
    fetch.status = RunStatus.RUNNING
    fetch.started_at = now
    session.flush()
    token = session.get(Token, connection.token_id) if connection and connection.token_id else None
    if connection is None or token is None or pull is None:
        return _finish(fetch, started, RunStatus.FAILED, "the connection has no token", "no_token")
    fetch.calls = pull.calls
    if pull.error is not None or pull.records is None:
        error = pull.error or MetaError("Meta returned no entities")
        return _failed(session, fetch, connection, token, error, started)
    records = pull.records
    counts = write_records(session, connection, records, now)
    record_custom_conversions(
        session, connection=connection, records=pull.custom_conversions, now=now
    )
    ads = {r.external_id: r.creative_id for r in records if r.level == "ad" and r.creative_id}
    record_creatives(session, connection=connection, pull=pull.creatives, now=now, ads=ads)
    fetch.rows = len(records)
    connection.last_sync_at = now
    connection.last_success_at = now
    connection.last_error = None
    _finish(fetch, started, RunStatus.SUCCEEDED, None, None)
    checkpoint = checkpoints.entities_of(fetch)  # the duration _finish just wrote
    checkpoint.created, checkpoint.updated = counts.created, counts.updated
    checkpoint.unchanged, checkpoint.removed = counts.unchanged, counts.removed
    checkpoint.by_level = counts.by_level
    checkpoint.retries, checkpoint.throttled_seconds = pull.retries, pull.throttled_seconds
    checkpoints.store(fetch, checkpoint)
    session.flush()
    log.info(
        "entities synced",
        connection_id=str(connection.id),
        **checkpoint.model_dump(exclude={"version", "kind"}),
    )
    return fetch


def token_of(session: Session, fetch: Fetch) -> tuple[str, Token] | None:
    """The account and token an entity sync of ``fetch`` asks Meta with, if it has them."""
    connection = repository.connection(session, fetch.workspace_id, fetch.connection_id)  # type: ignore[arg-type]
    if connection is None or connection.token_id is None:
        return None
    token = session.get(Token, connection.token_id)
    return (connection.external_account_id, token) if token is not None else None


def run_entity_sync(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    fetch: Fetch,
    client_factory: ClientFactory = default_client_factory,
) -> Fetch:
    """Run one entity sync inside the caller's unit of work and record its outcome on
    ``fetch``. A job uses ``run_entity_sync_job`` instead, which holds no transaction while
    Meta pages."""
    found = token_of(session, fetch)
    pull = None
    if found is not None:
        account, token = found
        have = have_of(session, fetch.workspace_id, fetch.connection_id)  # type: ignore[arg-type]
        pull = pull_entities(
            client_factory(settings, reveal(cipher, token)), account, settings, have
        )
    return record_entity_sync(session, fetch=fetch, pull=pull)


def run_entity_sync_job(
    runtime: Runtime,
    fetch_id: uuid.UUID,
    *,
    client_factory: ClientFactory = default_client_factory,
) -> str | None:
    """The queued entity sync ``fetch_id``, in two short transactions with Meta's paging
    between them (no transaction open, no lock held); None when it is gone or already ran.
    The fetch stays queued while Meta is asked, so a worker killed meanwhile leaves it for
    the job's retry."""
    with unit_of_work(runtime.sessions) as session:
        fetch = session.get(Fetch, fetch_id)
        if fetch is None or fetch.status != RunStatus.QUEUED:
            return None
        found = token_of(session, fetch)
        asked = (found[0], reveal(runtime.cipher, found[1])) if found is not None else None
        have = have_of(session, fetch.workspace_id, fetch.connection_id)  # type: ignore[arg-type]
    pull = None
    if asked is not None:
        pull = pull_entities(
            client_factory(runtime.settings, asked[1]), asked[0], runtime.settings, have
        )
    with unit_of_work(runtime.sessions) as session:
        fetch = session.get(Fetch, fetch_id, with_for_update=True, populate_existing=True)
        if fetch is None or fetch.status != RunStatus.QUEUED:
            return None  # another run recorded it meanwhile
        record_entity_sync(session, fetch=fetch, pull=pull)
        return fetch.status.value


def _finish(
    fetch: Fetch, started: float, status: RunStatus, error: str | None, code: str | None
) -> Fetch:
    fetch.status = status
    fetch.error = error
    fetch.error_code = code
    fetch.finished_at = datetime.now(UTC)
    duration_ms = int((time.monotonic() - started) * 1000)
    checkpoint = checkpoints.entities_of(fetch)
    checkpoint.duration_ms = duration_ms
    checkpoints.store(fetch, checkpoint)
    return fetch


def _failed(
    session: Session,
    fetch: Fetch,
    connection: Connection,
    token: Token,
    exc: MetaError,
    started: float,
) -> Fetch:
    connection.last_sync_at = datetime.now(UTC)
    connection.last_error = exc.message
    if is_token_invalid(exc):
        token_invalid(session, token, exc.message, revoked=is_token_revoked(exc))
    elif is_permission_lost(exc):
        mark_needs_reauth(session, connection, exc.message)
    elif isinstance(exc, ThrottledError):
        connection.next_sync_at = datetime.now(UTC) + timedelta(seconds=exc.retry_after)
    log.warning("entity sync failed", connection_id=str(connection.id), error=exc.message)
    _finish(fetch, started, RunStatus.FAILED, exc.message, exc.kind)
    session.flush()
    return fetch
