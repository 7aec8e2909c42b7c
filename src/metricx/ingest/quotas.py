"""Per-workspace ingest quotas, kept in PostgreSQL so they hold across every ``serve`` process.

- **Rates** (``METRICX_INGEST_REQUESTS_PER_MINUTE``, ``METRICX_INGEST_RECORDS_PER_MINUTE``):
  two token buckets per workspace (row ``ingest_quotas``), each holding at most a minute's
  worth and refilling evenly. A request is let in when a request token is left and the record
  bucket is not overdrawn; its records, good or bad, are taken from the record bucket as they
  are read (so one large request may overdraw it, and the next ones wait until it refills).
  A request refused answers 429 with Retry-After and ``details`` naming the limit.
- **Failed records stored**: at most ``METRICX_INGEST_MAX_FAILED_RECORDS_PER_IMPORT`` per import
  and ``METRICX_INGEST_MAX_FAILED_RECORDS_PER_DAY`` per workspace and UTC day. Past them the
  failures are still counted and reported in the answer (``failed_not_stored``) but not
  stored; the good records beside them are stored all the same.

Every statement runs in a short transaction of its own on a pooled connection, never in the
request's: a row lock held until the request commits would queue a workspace's concurrent
ingests behind each other. Each is one atomic statement on the workspace's row (an upsert
that reads and writes under the row lock), so concurrent requests in any number of processes
count exactly; a request admitted with the bucket nearly empty may overdraw it, by design.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from metricx.config import Settings
from metricx.errors import TooManyRequests
from metricx.ingest import repository

UNLIMITED = 1e15  # a bucket no one empties: the rate of a limit set to 0


class IngestRateLimited(TooManyRequests):
    """A workspace's ingest rate limit is reached: retry after the Retry-After seconds."""

    code = "rate_limited"

    def __init__(self, limit: str, per_minute: int, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        at = datetime.now(UTC) + timedelta(seconds=seconds)
        what = "requests" if limit == "ingest_requests_per_minute" else "records"
        super().__init__(
            f"this workspace sent more than its {per_minute} ingest {what} per minute; "
            f"retry in {seconds} s",
            details={
                "limit": limit,
                "limit_per_minute": per_minute,
                "retry_after_seconds": seconds,
                "retry_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            },
            headers={"Retry-After": str(seconds)},
        )


@dataclass(frozen=True, slots=True)
class IngestQuotas:
    """The quotas of one workspace's ingest requests, counted through ``engine``."""

    engine: Engine
    workspace_id: uuid.UUID
    requests_per_minute: int
    records_per_minute: int
    failed_per_day: int

    @classmethod
    def of(cls, engine: Engine, settings: Settings, workspace_id: uuid.UUID) -> IngestQuotas:
        return cls(
            engine,
            workspace_id,
            settings.ingest_requests_per_minute,
            settings.ingest_records_per_minute,
            settings.ingest_max_failed_records_per_day,
        )

    @property
    def rated(self) -> bool:
        return bool(self.requests_per_minute or self.records_per_minute)

    def _rates(self) -> dict[str, Any]:
        return {
            "requests": float(self.requests_per_minute or UNLIMITED),
            "records": float(self.records_per_minute or UNLIMITED),
        }

    def admit(self) -> None:
        """Take one request, or raise ``IngestRateLimited`` (nothing taken)."""
        if not self.rated:
            return
        rates = self._rates()
        with self.engine.connect() as conn:
            now = repository.take_ingest_request(conn, self.workspace_id, **rates)
        if now is None:
            return
        requests, records = now
        waits = [
            (max(0.0, 1 - requests) * 60 / rates["requests"], "ingest_requests_per_minute"),
            (max(0.0, 1 - records) * 60 / rates["records"], "ingest_records_per_minute"),
        ]
        wait, limit = max(waits)
        per_minute = (
            self.requests_per_minute
            if limit == "ingest_requests_per_minute"
            else self.records_per_minute
        )
        raise IngestRateLimited(limit, per_minute, wait)

    def charge(self, records: int) -> None:
        """Count ``records`` read from the request against the record bucket."""
        if not self.records_per_minute or not records:
            return
        with self.engine.connect() as conn:
            repository.charge_ingest_records(conn, self.workspace_id, records, **self._rates())

    def allow_failed(self, want: int) -> int:
        """How many of ``want`` failed records may be stored today (they count from now)."""
        if not self.failed_per_day or not want:
            return want
        with self.engine.connect() as conn:
            return repository.reserve_failed_records(
                conn, self.workspace_id, want, cap=self.failed_per_day, **self._rates()
            )
