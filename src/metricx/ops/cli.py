"""`metricx doctor`, `metricx config-reference`, `metricx retention run`,
`metricx alerts evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.console import emit, in_transaction, runtime_for
from metricx.runtime import Runtime

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}
_COLOR = {"ok": typer.colors.GREEN, "warn": typer.colors.YELLOW, "fail": typer.colors.RED}


def register(app: typer.Typer) -> None:

    retention_app = typer.Typer(
        help="Archiving old metric and breakdown facts.", no_args_is_help=True
    )
    alerts_app = typer.Typer(help="In-app alerts.", no_args_is_help=True)
    app.add_typer(retention_app, name="retention")
    app.add_typer(alerts_app, name="alerts")

    @app.command()
    def doctor(as_json: JsonFlag = False) -> None:
        """Check settings, database and migrations, encryption keys (every stored secret must
        decrypt), workers, the job queue and Meta (or the sandbox). One line per check; exits
        non-zero when one fails."""
        from pydantic import ValidationError

        from metricx.config import Settings
        from metricx.logging import configure_logging
        from metricx.ops.doctor import Check, healthy, run_doctor

        configure_logging("console", "ERROR")
        try:
            settings = Settings()
        except ValidationError as exc:
            checks = [Check("settings", "fail", f"invalid settings: {exc}")]
        else:
            checks = run_doctor(settings)
        ok = healthy(checks)
        if as_json:
            typer.echo(json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks]}))
        else:
            for c in checks:
                mark = typer.style(_MARK[c.status], fg=_COLOR.get(c.status))
                typer.echo(f"{mark} {c.name:<16} {c.message}")
        if not ok:
            raise typer.Exit(1)

    @app.command("config-reference")
    def config_reference(
        write: Annotated[
            Path | None, typer.Option(help="Rewrite the table in this README instead.")
        ] = None,
    ) -> None:
        """Print the configuration reference (a Markdown table of every METRICX_ setting)."""
        from metricx.ops.config_reference import rewrite, table

        if write is None:
            typer.echo(table())
            return
        changed = rewrite(write)
        typer.echo(f"{write}: {'updated' if changed else 'up to date'}")

    @retention_app.command("run")
    def retention_run(as_json: JsonFlag = False) -> None:
        """Archive now every month of facts past its granularity's retention (what the daily
        job does; breakdown facts follow the daily keep-time): Parquet files under
        METRICX_ARCHIVE_DIR, then the rows leave PostgreSQL."""
        from metricx.retention.tasks import run_retention

        with runtime_for(as_json=as_json) as runtime:
            out = run_retention(runtime)
        lines = [
            f"archived {a['rows']} {a['granularity']} "
            f"{'breakdown ' if a['facts'] == 'breakdown_facts' else ''}fact(s) of "
            f"{a['month'][:7]} ({a['method']}) -> {a['path']}"
            for a in out["archived"]
        ] + [f"failed: {f['table']} {f['month'][:7]}: {f['error']}" for f in out["failed"]]
        emit(out, as_json, "\n".join(lines) or "nothing is past retention")
        if out["failed"]:
            raise typer.Exit(1)

    @alerts_app.command("evaluate")
    def alerts_evaluate(as_json: JsonFlag = False) -> None:
        """Evaluate alert conditions now (what the 5-minute job does)."""
        from metricx.worker.alerting import evaluate_all

        def work(session: Session, rt: Runtime) -> dict[str, Any]:
            return dict(evaluate_all(session, settings=rt.settings))

        out = in_transaction(as_json, work)
        emit(out, as_json, ", ".join(f"{k}: {v}" for k, v in out.items()) or "nothing changed")
