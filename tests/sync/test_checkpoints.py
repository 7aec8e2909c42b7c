"""Checkpoints are typed and versioned; one written before versions (an untyped dict, as
the metrics sync and the entity sync stored them) is still understood: a legacy backfill
resumes from its first chunk not done."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from metricx.db import unit_of_work
from metricx.models import Connection, Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.sync import checkpoints, plan, service
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_sync_sandbox import run, sandbox_now

# The entity sync's checkpoint as it was stored before versions.
LEGACY_ENTITIES = {
    "created": 12,
    "updated": 1,
    "unchanged": 30,
    "removed": 2,
    "by_level": {"ad": {"created": 8, "updated": 1, "unchanged": 20, "removed": 2}},
    "retries": 0,
    "throttled_seconds": 0.0,
    "duration_ms": 840,
}


def legacy_chunk(part: str, since: date, until: date, status: str = "pending") -> dict[str, Any]:
    """A chunk as the metrics sync stored it before versions (ISO strings, no timings)."""
    done = status == "done"
    return {
        "part": part,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "status": status,
        "attempts": 1 if done else 0,
        "rows": 40 if done else 0,
        "inserted": 40 if done else 0,
        "revised": 0,
        "error": None,
    }


def test_a_new_checkpoint_carries_its_version_and_reads_back_the_same() -> None:
    window = plan.Window(date(2026, 11, 1), date(2026, 11, 3))
    checkpoint = checkpoints.SyncCheckpoint(kind="backfill", chunks=[plan.chunk("ad_day", window)])
    stored = checkpoints.dump(checkpoint)
    assert stored["version"] == checkpoints.VERSION and stored["kind"] == "backfill"
    assert stored["chunks"][0]["since"] == "2026-11-01"
    assert checkpoints.parse_sync(stored) == checkpoint


def test_legacy_entity_checkpoint_is_understood() -> None:
    typed = checkpoints.parse_entities(LEGACY_ENTITIES)
    assert (typed.created, typed.updated, typed.unchanged, typed.removed) == (12, 1, 30, 2)
    assert typed.by_level == LEGACY_ENTITIES["by_level"] and typed.duration_ms == 840
    again = checkpoints.dump(typed)
    assert again["version"] == checkpoints.VERSION and again["kind"] == "entities"
    assert {k: again[k] for k in LEGACY_ENTITIES} == LEGACY_ENTITIES
    # A failed entity sync stored only its duration.
    assert checkpoints.parse_entities({"duration_ms": 5}).created is None


def test_legacy_sync_checkpoint_without_a_version_is_understood() -> None:
    typed = checkpoints.parse_sync({"chunks": []}, kind="backfill")
    assert typed.kind == "backfill" and typed.chunks == [] and typed.runs == []
    started = "2026-11-20T10:00:00+00:00"
    typed = checkpoints.parse_sync(
        {
            "version": 1,
            "kind": "sync",
            "lookback": "full",
            "chunks": [legacy_chunk("reach", date(2026, 11, 1), date(2026, 11, 2), "done")],
            "runs": [{"started": started}],
        }
    )
    assert typed.lookback == "full" and typed.runs[0].started == datetime.fromisoformat(started)
    assert typed.chunks[0].since == date(2026, 11, 1) and typed.chunks[0].rows == 40
    assert plan.next_pending(typed) is None and plan.totals(typed)["done"] == 1


def test_a_legacy_backfill_in_the_database_resumes_from_its_first_chunk_not_done(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    today = service.local_today(connection, sandbox_now(sync_sandbox))
    days = [today - timedelta(days=n) for n in (2, 1)]
    legacy = {
        "version": 1,
        "kind": "backfill",
        "chunks": [
            legacy_chunk("entities", days[0], days[0]) | {"since": None, "until": None},
            legacy_chunk("ad_day", days[0], days[0], "done"),  # written by an earlier run
            legacy_chunk("ad_day", days[1], days[1]),
            legacy_chunk("reach", days[0], days[1]),
        ],
        "runs": [{"started": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}],
    }
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        fetch = Fetch(
            workspace_id=row.workspace_id,
            connection_id=row.id,
            kind="backfill",
            status=RunStatus.RUNNING,  # its worker died
            checkpoint=legacy,
        )
        session.add(fetch)
        session.flush()
        session.expunge(fetch)
    done = run(sync_runtime, sync_sandbox, fetch)
    assert done.status is RunStatus.SUCCEEDED
    assert done.checkpoint is not None and done.checkpoint["version"] == checkpoints.VERSION
    chunks = done.checkpoint["chunks"]
    assert [c["status"] for c in chunks] == ["done"] * 4
    # The chunk the earlier run finished is not fetched again; the others ran once each.
    assert chunks[1] == legacy["chunks"][1] | {
        "campaigns": None,
        "breakdown": None,
        "deleted": 0,
        "refused": None,
        "fetch_started": None,
        "fetch_finished": None,
        "write_started": None,
        "write_finished": None,
    }
    assert [c["attempts"] for c in chunks] == [1, 1, 1, 1]
    assert all(c["write_finished"] for i, c in enumerate(chunks) if i != 1)
    assert len(done.checkpoint["runs"]) == 2 and done.checkpoint["totals"]["done"] == 4
