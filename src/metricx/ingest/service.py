"""The one write path of metric facts: validate, resolve entities, place in time, key, and
merge in chunks; account for every record in an import; dead-letter the refused ones.

The HTTP endpoint feeds it parsed JSON; the Meta sync calls ``upsert_facts`` with
``FactInput`` values. Takes the session, flushes, never commits.
"""

from __future__ import annotations

import json
import time as clock
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from metricx import telemetry
from metricx.alerts.service import open_alerts, raise_alert, resolve_alert
from metricx.config import Settings
from metricx.errors import Conflict, NotFound
from metricx.facts import rollups, writer
from metricx.facts.partitions import PartitionCache
from metricx.facts.types import FactInput
from metricx.ingest import repository
from metricx.ingest.chunk import AccountInfo, Chunk, KnownEntity, fill
from metricx.ingest.records import (
    ParsedItem,
    RecordError,
    RecordHead,
    fact_payload,
    jsonable,
    storable_text,
)
from metricx.ingest.repository import EntityRef, ExternalRef
from metricx.ingest.timing import zone
from metricx.logging import get_logger
from metricx.models import Alert, FailedRecordStatus, Import, ImportStatus, Severity

log = get_logger("metricx.ingest")
ALERT_KIND = "ingest_failures"
PARTITIONS = PartitionCache()
ENTITY_CACHE_LIMIT = 200_000
# The levels above each level, nearest first (the order of ``FactInput.parents``).
ANCESTOR_LEVELS = {
    "ad": ("adset", "campaign", "account"),
    "adset": ("campaign", "account"),
    "campaign": ("account",),
}


@dataclass
class IngestResult:
    """The answer to one import. Every received record is exactly one of inserted, updated,
    unchanged, failed or duplicates (superseded by a later record of the same fact in the same
    chunk)."""

    import_id: uuid.UUID
    status: ImportStatus
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    duplicates: int = 0
    entities_created: int = 0
    flagged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_omitted: int = 0
    failed_not_stored: int = 0  # failed, counted, but not dead-lettered (past a quota)
    failed_not_stored_limit: str | None = None  # the first quota that held them back

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": str(self.import_id),
            "status": self.status.value,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "entities_created": self.entities_created,
            "flagged": self.flagged,
            "errors": self.errors,
            "errors_omitted": self.errors_omitted,
            "failed_not_stored": self.failed_not_stored,
            "failed_not_stored_limit": self.failed_not_stored_limit,
        }


class Ingestion:
    """One import in progress: ``add`` chunks of parsed records (or ``prepare`` each in one
    thread and ``write`` it in the session's), then ``finish``."""

    def __init__(
        self,
        session: Session,
        *,
        settings: Settings,
        workspace_id: uuid.UUID,
        source: str,
        connection_id: uuid.UUID | None = None,
        fetch_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
        dead_letter: bool = True,
        failed_allowance: Callable[[int], int] | None = None,
    ) -> None:
        """``failed_allowance(n)``: how many of n failed records may be stored (a workspace's
        daily quota, ``quotas.IngestQuotas.allow_failed``); None: no such quota."""
        self.session, self.settings, self.dead_letter = session, settings, dead_letter
        self.failed_allowance = failed_allowance
        self.dead_lettered = 0  # failed records of this import kept for the dead-letter store
        self.started = clock.perf_counter()
        workspace = repository.workspace(session, workspace_id)
        if workspace is None:
            raise NotFound("no such workspace")
        self.workspace_id = workspace_id
        self.default_account = AccountInfo(zone(workspace.timezone), None)
        self.connection: AccountInfo | None = None
        self.accounts: dict[uuid.UUID, AccountInfo] = {}
        if connection_id is not None:
            conn = repository.connection_in(session, workspace_id, connection_id)
            if conn is None:
                raise NotFound("no such connection in this workspace")
            self.connection = AccountInfo(zone(conn.timezone), conn.currency)
        self.connection_id, self.fetch_id = connection_id, fetch_id
        self.max_future = timedelta(hours=settings.ingest_max_future_hours)
        # Read by ``prepare`` in one thread while ``write`` adds to it in another: entries are
        # only added, and the cache is replaced whole (never cleared) when it grows too large.
        self.entities: dict[uuid.UUID | ExternalRef, KnownEntity] = {}
        self.imp = Import(
            workspace_id=workspace_id,
            source=source,
            connection_id=connection_id,
            fetch_id=fetch_id,
            idempotency_key=idempotency_key,
            status=ImportStatus.RUNNING,
        )
        try:
            with session.begin_nested():
                session.add(self.imp)
                session.flush()
        except IntegrityError:
            raise Conflict(
                "a request with this Idempotency-Key is already being processed",
                code="idempotency_in_progress",
            ) from None
        self.result = IngestResult(import_id=self.imp.id, status=ImportStatus.RUNNING)
        self.received = 0

    # -- entities and accounts -------------------------------------------------------------
    def _resolve_entities(self, facts: Sequence[FactInput]) -> None:
        """Look up (or create) the entities of ``facts`` not in the cache yet. Facts that name
        their entity's ancestors (``FactInput.parents``) file it under them: a new entity is
        created under its parent (ancestors Meta has not listed yet become placeholders), and
        one that has no parent yet is attached, so its facts roll up at every level."""
        if len(self.entities) > ENTITY_CACHE_LIMIT:
            self.entities = {}
        cache = self.entities
        ids = {f.entity_id for f in facts if f.entity_id is not None} - cache.keys()
        externals: set[ExternalRef] = {
            (str(f.provider), str(f.level), str(f.external_entity_id))
            for f in facts
            if f.entity_id is None
        } - cache.keys()
        found: list[EntityRef] = []
        if ids:
            found += repository.entities_by_id(self.session, self.workspace_id, list(ids))
        if externals:
            known = repository.entities_by_external(
                self.session, self.workspace_id, list(externals)
            )
            found += known
            links = parent_links(facts, externals)
            parents = self._file_under_parents(links, known) if links else {}
            missing = externals - {(e.provider, e.level, e.external_id) for e in known}
            if missing:
                created = repository.create_entities(
                    self.session, self.workspace_id, sorted(missing), self.connection_id, parents
                )
                self.result.entities_created += len(created)
                found += created
                raced = missing - {(e.provider, e.level, e.external_id) for e in created}
                if raced:  # created by a concurrent import since our first look
                    found += repository.entities_by_external(
                        self.session, self.workspace_id, sorted(raced)
                    )
        wanted = {r.connection_id for r in found if r.connection_id} - self.accounts.keys()
        for conn in repository.connections_in(self.session, self.workspace_id, wanted):
            self.accounts[conn.id] = AccountInfo(zone(conn.timezone), conn.currency)
        for ref in found:
            account = self.accounts.get(ref.connection_id) if ref.connection_id else None
            known_entity = KnownEntity(
                ref,
                f"{self.workspace_id}|{ref.provider}|{ref.level}|{ref.external_id}|",
                str(ref.id),
                account or self.default_account,
            )
            cache[ref.id] = known_entity
            cache[(ref.provider, ref.level, ref.external_id)] = known_entity

    def _file_under_parents(
        self, links: dict[ExternalRef, ExternalRef], known: Sequence[EntityRef]
    ) -> dict[ExternalRef, uuid.UUID]:
        """Make every parent ``links`` names exist (placeholders, top level first, each under
        its own parent), attach the known entities among the children that have no parent
        yet, and answer each child's parent id (for the children still to be created)."""
        by_ref = {(e.provider, e.level, e.external_id): e for e in known}
        wanted = set(links.values()) - by_ref.keys()
        if wanted:
            for e in repository.entities_by_external(self.session, self.workspace_id, list(wanted)):
                by_ref[(e.provider, e.level, e.external_id)] = e
        for level in reversed(ANCESTOR_LEVELS["ad"]):  # account, campaign, ad set
            missing = sorted(r for r in wanted - by_ref.keys() if r[1] == level)
            if not missing:
                continue
            above = {r: by_ref[links[r]].id for r in missing if links.get(r) in by_ref}
            created = repository.create_entities(
                self.session, self.workspace_id, missing, self.connection_id, above
            )
            self.result.entities_created += len(created)
            raced = set(missing) - {(e.provider, e.level, e.external_id) for e in created}
            if raced:
                created += repository.entities_by_external(
                    self.session, self.workspace_id, sorted(raced)
                )
            by_ref.update({(e.provider, e.level, e.external_id): e for e in created})
        orphans = {
            by_ref[child].id: by_ref[parent].id
            for child, parent in links.items()
            if child in by_ref and by_ref[child].parent_id is None and parent in by_ref
        }
        if orphans:
            # Their facts so far reached only the ancestors they had (the workspace, for an
            # ad): ``moving`` re-rolls them under the new ones. The deltas this import has not
            # applied yet go in first, so every fact is re-rolled exactly once.
            writer.apply_rollup_deltas(self.session, self.workspace_id)
            moved_in = rollups.moving(self.session, self.workspace_id, list(orphans))
            repository.attach_to_parents(self.session, self.workspace_id, orphans)
            moved_in()
        return {child: by_ref[parent].id for child, parent in links.items() if parent in by_ref}

    # -- records ---------------------------------------------------------------------------
    def prepare(self, items: Sequence[ParsedItem]) -> Chunk:
        """The CPU half of a chunk (no database; safe in another thread than ``write``)."""
        chunk = Chunk(received=len(items))
        fill(
            chunk,
            items,
            entities=self.entities,
            connection=self.connection,
            max_future=self.max_future,
            final=False,
        )
        return chunk

    def write(self, chunk: Chunk) -> None:
        """Write a prepared chunk: good records merged into metric_facts, bad ones
        dead-lettered. Records of entities not seen before are finished here, once their
        entities are looked up or created."""
        if chunk.pending:
            self._resolve_entities([i.fact for i in chunk.pending if i.fact is not None])
            pending, chunk.pending = chunk.pending, []
            fill(
                chunk,
                pending,
                entities=self.entities,
                connection=self.connection,
                max_future=self.max_future,
                final=True,
            )
        self.received += chunk.received
        self.result.duplicates += chunk.duplicates
        dead: list[dict[str, Any]] = []
        for item, error in sorted(chunk.refused, key=lambda refused: refused[0].index):
            self._reject(item, error, dead)
        if dead and self.failed_allowance is not None:
            granted = self.failed_allowance(len(dead))
            if granted < len(dead):
                self._not_stored(len(dead) - granted, "ingest_max_failed_records_per_day")
                del dead[granted:]
        rows = chunk.rows
        if rows:
            PARTITIONS.ensure(self.session, chunk.months)
            inserted, updated = writer.merge_facts(
                self.session,
                workspace_id=self.workspace_id,
                import_id=self.imp.id,
                fetch_id=self.fetch_id,
                lines=(line for _, line, _ in rows.values()),
            )
            self.result.inserted += inserted
            self.result.updated += updated
            self.result.unchanged += len(rows) - inserted - updated
            self.result.flagged += sum(1 for _, _, flagged in rows.values() if flagged)
        repository.add_failed_records(self.session, dead)

    def add(self, items: Sequence[ParsedItem]) -> None:
        """Prepare and write one chunk in this thread."""
        self.write(self.prepare(items))

    def _reject(self, item: ParsedItem, error: RecordError, dead: list[dict[str, Any]]) -> None:
        self.result.failed += 1
        problem = error.as_dict(item.index)
        if len(self.result.errors) < self.settings.ingest_max_reported_errors:
            self.result.errors.append(problem)
        else:
            self.result.errors_omitted += 1
        cap = self.settings.ingest_max_failed_records_per_import
        if self.dead_letter and cap and self.dead_lettered >= cap:
            self._not_stored(1, "ingest_max_failed_records_per_import")
        elif self.dead_letter:
            self.dead_lettered += 1
            payload = item.raw if item.raw is not None or item.fact is None else None
            if payload is None and item.fact is not None:
                payload = fact_payload(item.fact)
            payload = bounded_payload(payload, self.settings.ingest_failed_payload_bytes)
            dead.append(
                {
                    "id": uuid.uuid4(),
                    "workspace_id": self.workspace_id,
                    "import_id": self.imp.id,
                    "record_index": item.index,
                    "payload": payload,
                    "errors": [jsonable(problem)],
                    "status": FailedRecordStatus.PENDING.value,
                }
            )

    def _not_stored(self, n: int, limit: str) -> None:
        self.result.failed_not_stored += n
        if self.result.failed_not_stored_limit is None:
            self.result.failed_not_stored_limit = limit

    def finish(self, *, request_hash: str | None = None) -> IngestResult:
        """Close the import: status, counts, the stored answer, log line, metrics, alert."""
        r = self.result
        stored = r.inserted + r.updated + r.unchanged
        r.status = (
            ImportStatus.SUCCESS
            if r.failed == 0
            else ImportStatus.PARTIAL
            if stored or r.duplicates
            else ImportStatus.FAILED
        )
        if stored:
            writer.apply_rollup_deltas(self.session, self.workspace_id)
        duration = clock.perf_counter() - self.started
        imp = self.imp
        imp.status, imp.received, imp.failed = r.status, self.received, r.failed
        imp.inserted, imp.updated, imp.unchanged = r.inserted, r.updated, r.unchanged
        imp.duration_ms = round(duration * 1000)
        imp.finished_at = datetime.now(UTC)
        imp.request_hash = request_hash
        imp.response = jsonable(r.as_dict())  # field names echo the client: no NUL in JSONB
        self.session.flush()
        log.info(
            "import finished",
            workspace_id=str(self.workspace_id),
            import_id=str(imp.id),
            source=imp.source,
            status=r.status.value,
            received=self.received,
            inserted=r.inserted,
            updated=r.updated,
            unchanged=r.unchanged,
            failed=r.failed,
            duplicates=r.duplicates,
            failed_not_stored=r.failed_not_stored,
            entities_created=r.entities_created,
            flagged=r.flagged,
            duration_ms=imp.duration_ms,
        )
        for outcome in ("inserted", "updated", "unchanged", "failed", "duplicates", "flagged"):
            telemetry.INGEST_RECORDS.labels(outcome).inc(getattr(r, outcome))
        telemetry.INGEST_IMPORTS.labels(r.status.value, imp.source).inc()
        telemetry.INGEST_BATCH_SIZE.observe(self.received)
        telemetry.INGEST_DURATION.observe(duration)
        if r.status is not ImportStatus.SUCCESS:
            self._maybe_alert()
        return r

    def _maybe_alert(self) -> None:
        window = self.settings.ingest_alert_window_minutes
        since = datetime.now(UTC) - timedelta(minutes=window)
        count = repository.count_unsuccessful_since(self.session, self.workspace_id, since)
        if count < self.settings.ingest_alert_failures:
            return
        message = f"{count} failed or partial imports in the last {window} minutes"
        raise_alert(
            self.session,
            workspace_id=self.workspace_id,
            kind=ALERT_KIND,
            severity=Severity.WARNING,
            message=message,
            details={"count": count, "window_minutes": window, "last_import_id": str(self.imp.id)},
        )
        log.error(
            "repeated ingest failures",
            workspace_id=str(self.workspace_id),
            import_id=str(self.imp.id),
            count=count,
            window_minutes=window,
        )


def bounded_payload(raw: Any, limit: int) -> Any:
    """What the dead letter stores of a refused record: the record itself (as JSONB takes it)
    when its JSON text fits in ``limit`` bytes, else a marker with its first ``limit`` bytes:
    ``{"truncated": true, "size_bytes": ..., "preview": "..."}``. Such a record is replayed
    with a corrected record, not as stored."""
    if isinstance(raw, RecordHead):
        preview = raw.text.encode("utf-8")[:limit].decode("utf-8", "ignore")
        return {"truncated": True, "size_bytes": raw.size, "preview": storable_text(preview)}
    value = jsonable(raw)
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # an integer past 64 bits
        text = json.dumps(value).encode("utf-8")
    if len(text) <= limit:
        return value
    preview = text[:limit].decode("utf-8", "ignore")
    return {"truncated": True, "size_bytes": len(text), "preview": storable_text(preview)}


def parent_links(
    facts: Sequence[FactInput], refs: set[ExternalRef]
) -> dict[ExternalRef, ExternalRef]:
    """Child -> parent, one step at a time, along the ancestors the facts of ``refs`` name
    (an ad's facts: ad -> ad set -> campaign -> account); the first naming wins."""
    links: dict[ExternalRef, ExternalRef] = {}
    for fact in facts:
        if not fact.parents or fact.entity_id is not None:
            continue
        child = (str(fact.provider), str(fact.level), str(fact.external_entity_id))
        if child not in refs or child in links:
            continue
        levels = ANCESTOR_LEVELS.get(child[1], ())
        for level, external_id in zip(levels, fact.parents, strict=False):
            parent = (child[0], level, external_id)
            links.setdefault(child, parent)
            child = parent
    return links


def upsert_facts(
    session: Session,
    *,
    settings: Settings,
    workspace_id: uuid.UUID,
    records: Iterable[FactInput],
    source: str = "sync",
    connection_id: uuid.UUID | None = None,
    fetch_id: uuid.UUID | None = None,
) -> IngestResult:
    """Write already-parsed facts (the Meta sync's entry point): same rules, same accounting,
    same dead-letter store as the HTTP API."""
    ingestion = Ingestion(
        session,
        settings=settings,
        workspace_id=workspace_id,
        source=source,
        connection_id=connection_id,
        fetch_id=fetch_id,
    )
    numbered = enumerate(records)
    while chunk := list(islice(numbered, settings.ingest_chunk_records)):
        ingestion.add([ParsedItem(i, fact, None, None) for i, fact in chunk])
    return ingestion.finish()


def previous_answer(
    session: Session, *, workspace_id: uuid.UUID, idempotency_key: str
) -> Import | None:
    """The import an earlier request with this Idempotency-Key made, if any."""
    return repository.import_by_key(session, workspace_id, idempotency_key)


def replayed_answer(imp: Import, *, request_hash: str) -> dict[str, Any]:
    """The stored answer for a retry, or 409 when the key was used for another request or
    that request is still running."""
    if imp.status is ImportStatus.RUNNING or imp.response is None:
        raise Conflict(
            "a request with this Idempotency-Key is already being processed",
            code="idempotency_in_progress",
        )
    if imp.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was used for a different request", code="idempotency_key_reused"
        )
    return dict(imp.response)


def clear_quiet_failure_alerts(
    session: Session, *, settings: Settings, now: datetime
) -> list[Alert]:
    """The repeated-failure alerts this service raised, resolved once a whole window has
    passed without reaching the threshold again (a sweep of each alert evaluation). Returns
    the alerts it resolved."""
    window = timedelta(minutes=settings.ingest_alert_window_minutes)
    resolved: list[Alert] = []
    for alert in open_alerts(session, kind=ALERT_KIND):
        if alert.workspace_id is None or now - alert.last_seen_at < window:
            continue
        failures = repository.count_unsuccessful_since(session, alert.workspace_id, now - window)
        if failures < settings.ingest_alert_failures:
            done = resolve_alert(
                session, workspace_id=alert.workspace_id, kind=alert.kind, key=alert.key
            )
            resolved += [done] if done is not None else []
    return resolved
