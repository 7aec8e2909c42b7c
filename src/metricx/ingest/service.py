"""The one write path of metric facts: validate, resolve entities, place in time, key, and
merge in chunks; account for every record in an import; dead-letter the refused ones.

The HTTP endpoint feeds it parsed JSON; the Meta sync calls ``upsert_facts`` with
``FactInput`` values. Takes the session, flushes, never commits.
"""

from __future__ import annotations

import time as clock
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import islice
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from metricx import telemetry
from metricx.alerts.service import raise_alert
from metricx.config import Settings
from metricx.errors import Conflict, NotFound
from metricx.ingest import repository
from metricx.ingest.keys import natural_key_text, utc_stamp
from metricx.ingest.partitions import PartitionCache
from metricx.ingest.records import (
    FactInput,
    ParsedItem,
    RecordError,
    RecordRefused,
    check_measures,
    fact_payload,
    jsonable,
)
from metricx.ingest.repository import EntityRef, ExternalRef
from metricx.ingest.timing import bucket_start_utc, zone
from metricx.logging import get_logger
from metricx.models import FailedRecordStatus, Import, ImportStatus, Severity
from metricx.models.metric_facts import FLAG_CLICKS_OVER_IMPRESSIONS, FLAG_SPEND_WITHOUT_IMPRESSIONS

log = get_logger("metricx.ingest")
ALERT_KIND = "ingest_failures"
NULL = "\\N"
PARTITIONS = PartitionCache()
ENTITY_CACHE_LIMIT = 200_000


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
        }


@dataclass(frozen=True, slots=True)
class AccountInfo:
    tz: tzinfo
    currency: str | None


def _n(value: object) -> str:
    return NULL if value is None else str(value)


class Ingestion:
    """One import in progress: ``add`` chunks of parsed records, then ``finish``."""

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
    ) -> None:
        self.session, self.settings, self.dead_letter = session, settings, dead_letter
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
        self.by_id: dict[uuid.UUID, EntityRef] = {}
        self.by_external: dict[ExternalRef, EntityRef] = {}
        # per entity: (natural key prefix, id as text), built once per import
        self.entity_text: dict[uuid.UUID, tuple[str, str]] = {}
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
        ids = {f.entity_id for f in facts if f.entity_id is not None} - self.by_id.keys()
        externals: set[ExternalRef] = {
            (str(f.provider), str(f.level), str(f.external_entity_id))
            for f in facts
            if f.entity_id is None
        } - self.by_external.keys()
        if len(self.by_id) + len(self.by_external) > ENTITY_CACHE_LIMIT:
            self.by_id.clear()
            self.by_external.clear()
            self.entity_text.clear()
        found: list[EntityRef] = []
        if ids:
            found += repository.entities_by_id(self.session, self.workspace_id, list(ids))
        if externals:
            known = repository.entities_by_external(
                self.session, self.workspace_id, list(externals)
            )
            found += known
            missing = externals - {(e.provider, e.level, e.external_id) for e in known}
            if missing:
                created = repository.create_entities(
                    self.session, self.workspace_id, sorted(missing), self.connection_id
                )
                self.result.entities_created += len(created)
                found += created
                raced = missing - {(e.provider, e.level, e.external_id) for e in created}
                if raced:  # created by a concurrent import since our first look
                    found += repository.entities_by_external(
                        self.session, self.workspace_id, sorted(raced)
                    )
        for ref in found:
            self.entity_text[ref.id] = (
                f"{self.workspace_id}|{ref.provider}|{ref.level}|{ref.external_id}|",
                str(ref.id),
            )
            self.by_id[ref.id] = ref
            self.by_external[(ref.provider, ref.level, ref.external_id)] = ref
        wanted = {r.connection_id for r in found if r.connection_id} - self.accounts.keys()
        for conn in repository.connections_in(self.session, self.workspace_id, wanted):
            self.accounts[conn.id] = AccountInfo(zone(conn.timezone), conn.currency)

    def _entity(self, fact: FactInput) -> EntityRef:
        if fact.entity_id is None:
            ref = self.by_external[(fact.provider, fact.level, fact.external_entity_id)]  # type: ignore[index]
            return ref
        found = self.by_id.get(fact.entity_id)
        if found is None:
            raise RecordRefused(RecordError("entity_id", "unknown entity", "not_found"))
        for name, value in (
            ("provider", found.provider),
            ("level", found.level),
            ("external_entity_id", found.external_id),
        ):
            given = getattr(fact, name)
            if given is not None and given != value:
                raise RecordRefused(RecordError(name, f"contradicts the entity's {value!r}"))
        return found

    def _account(self, ref: EntityRef) -> AccountInfo:
        if self.connection is not None:
            return self.connection
        if ref.connection_id is not None and ref.connection_id in self.accounts:
            return self.accounts[ref.connection_id]
        return self.default_account

    # -- records ---------------------------------------------------------------------------
    def add(self, items: Sequence[ParsedItem]) -> None:
        """Write one chunk: good records merged into metric_facts, bad ones dead-lettered."""
        self.received += len(items)
        self._resolve_entities([i.fact for i in items if i.fact is not None])
        now = datetime.now(UTC)
        max_future = timedelta(hours=self.settings.ingest_max_future_hours)
        rows: dict[str, tuple[str, bool]] = {}
        # Most records of a chunk share a few bucket starts: place each (time, zone) once.
        placed: dict[tuple[datetime, str, tzinfo], tuple[datetime, str, str]] = {}
        months: set[date] = set()
        dead: list[dict[str, Any]] = []
        for item in items:
            fact = item.fact
            try:
                if fact is None:
                    assert item.error is not None
                    raise RecordRefused(item.error)
                ref = self._entity(fact)
                account = self._account(ref)
                if fact.event_at is not None:
                    slot = (fact.event_at, fact.granularity, account.tz)
                    known = placed.get(slot)
                    if known is None:
                        utc = bucket_start_utc(fact, account.tz, now=now, max_future=max_future)
                        known = placed[slot] = (utc, utc_stamp(utc), utc.isoformat())
                else:
                    utc = bucket_start_utc(fact, account.tz, now=now, max_future=max_future)
                    known = (utc, utc_stamp(utc), utc.isoformat())
                check_measures(fact)
                currency = fact.currency or account.currency
                if currency is None:
                    raise RecordRefused(
                        RecordError(
                            "currency", "required: no connection gives this entity a currency"
                        )
                    )
                if account.currency is not None and currency != account.currency:
                    raise RecordRefused(
                        RecordError(
                            "currency",
                            f"{currency} contradicts the ad account's {account.currency}",
                        )
                    )
            except RecordRefused as refused:
                self._reject(item, refused.error, dead)
                continue
            flags = 0
            if fact.clicks > fact.impressions:
                flags |= FLAG_CLICKS_OVER_IMPRESSIONS
            if fact.spend > 0 and fact.impressions == 0:
                flags |= FLAG_SPEND_WITHOUT_IMPRESSIONS
            utc, stamp, iso = known
            prefix, entity_text = self.entity_text[ref.id]
            key = natural_key_text(prefix, fact.granularity, stamp)
            if key in rows:
                self.result.duplicates += 1  # the last record of a fact wins
            months.add(date(utc.year, utc.month, 1))
            rows[key] = (
                f"{key}\t{iso}\t{entity_text}\t{ref.provider}\t{ref.level}\t"
                f"{fact.granularity}\t{fact.spend}\t{fact.impressions}\t{fact.clicks}\t"
                f"{_n(fact.reach)}\t{_n(fact.conversions)}\t{_n(fact.leads)}\t"
                f"{_n(fact.purchases)}\t{_n(fact.purchase_value)}\t{currency}\t{flags}\n",
                flags != 0,
            )
        if rows:
            PARTITIONS.ensure(self.session, months)
            inserted, updated = repository.merge_facts(
                self.session,
                workspace_id=self.workspace_id,
                import_id=self.imp.id,
                fetch_id=self.fetch_id,
                lines=(line for line, _ in rows.values()),
            )
            self.result.inserted += inserted
            self.result.updated += updated
            self.result.unchanged += len(rows) - inserted - updated
            self.result.flagged += sum(1 for _, flagged in rows.values() if flagged)
        repository.add_failed_records(self.session, dead)

    def _reject(self, item: ParsedItem, error: RecordError, dead: list[dict[str, Any]]) -> None:
        self.result.failed += 1
        problem = error.as_dict(item.index)
        if len(self.result.errors) < self.settings.ingest_max_reported_errors:
            self.result.errors.append(problem)
        else:
            self.result.errors_omitted += 1
        if self.dead_letter:
            payload = item.raw if item.raw is not None or item.fact is None else None
            if payload is None and item.fact is not None:
                payload = fact_payload(item.fact)
            dead.append(
                {
                    "id": uuid.uuid4(),
                    "workspace_id": self.workspace_id,
                    "import_id": self.imp.id,
                    "record_index": item.index,
                    "payload": jsonable(payload),
                    "errors": [jsonable(problem)],
                    "status": FailedRecordStatus.PENDING,
                }
            )

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
            repository.apply_rollup_deltas(self.session, self.workspace_id)
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
