"""`metricx sync --connection ID [--since D --until D] [--json]`: one connection's metrics
sync, in the foreground, until done."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Annotated, Any

import typer

from metricx.console import EXIT_FAILED, EXIT_PARTIAL, emit, fail, parse_uuid, runtime_for

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def register(app: typer.Typer) -> None:

    @app.command("sync")
    def sync(
        connection: Annotated[str, typer.Option(help="The connection id.")],
        since: Annotated[
            str | None, typer.Option(help="First day (YYYY-MM-DD, account time): a backfill.")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Last day (default: today).")] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Sync one connection's metrics now, in the foreground, until done (a backfill with
        --since). Exit code: 0 when every chunk synced; 3 when the sync is partial (some
        chunks failed and were set aside, the rest is stored); 1 when it failed."""
        from metricx.db import unit_of_work
        from metricx.errors import MetricxError, NotFound
        from metricx.models import Connection, Fetch
        from metricx.sync import runner, service
        from metricx.sync.schemas import fetch_summary

        conn_id = parse_uuid(connection, "--connection", as_json)
        first = _day(since, "--since", as_json)
        last = _day(until, "--until", as_json)
        with runtime_for(as_json=as_json) as rt:
            try:
                with unit_of_work(rt.sessions) as session:
                    row = session.get(Connection, conn_id)
                    if row is None:
                        raise NotFound(f"no connection {conn_id}")
                    fetch_id: uuid.UUID = service.request_sync(
                        session, settings=rt.settings, connection=row, since=first, until=last
                    ).id
            except MetricxError as exc:
                fail(exc.message, as_json=as_json, code=exc.code)
            while runner.run_fetch(rt, fetch_id) == "deferred":
                time.sleep(10)  # Meta asked to wait, or a worker holds the connection
            with unit_of_work(rt.sessions) as session:
                done = session.get(Fetch, fetch_id)
                assert done is not None
                out: dict[str, Any] = fetch_summary(done)
        human = (
            f"{out['kind']} {out['status']}: {out['rows']} rows ({out['revised']} revised), "
            f"{out['calls']} API calls, {out['async_jobs']} async jobs, "
            f"{(out['duration_ms'] or 0) / 1000:.1f} s"
            + (f"\nerror: {out['error']}" if out["error"] else "")
        )
        emit(out, as_json, human)
        if out["status"] == "partial":
            raise typer.Exit(EXIT_PARTIAL)  # a script must not take a partial sync for done
        if out["status"] != "succeeded":
            raise typer.Exit(EXIT_FAILED)


def _day(value: str | None, name: str, as_json: bool) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be a date (YYYY-MM-DD)", as_json=as_json, code="invalid_input")
