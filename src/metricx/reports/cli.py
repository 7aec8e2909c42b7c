"""`metricx reports list|create|delete|send`: a workspace's scheduled reports."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.console import JsonFlag, emit, in_transaction, parse_uuid
from metricx.runtime import Runtime


def _row(listed: Any) -> dict[str, Any]:
    from metricx.reports.endpoints import read

    return read(listed).model_dump(mode="json")


def register(app: typer.Typer) -> None:
    reports_app = typer.Typer(help="Scheduled reports of a workspace.", no_args_is_help=True)
    app.add_typer(reports_app, name="reports")

    @reports_app.command("list")
    def reports_list(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        as_json: JsonFlag = False,
    ) -> None:
        """The workspace's scheduled reports and their latest delivery."""
        from metricx.reports.service import list_schedules, workspace_of

        ws_id = parse_uuid(workspace, "--workspace", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            rows = list_schedules(session, workspace=workspace_of(session, ws_id))
            return {"reports": [_row(r) for r in rows]}

        out = in_transaction(as_json, work)
        lines = [
            f"{r['id']}  {r['name']}: {r['frequency']}"
            + (f" on {r['weekday']}" if r["weekday"] else "")
            + f" at {r['hour']:02d}:00 {r['timezone']}"
            for r in out["reports"]
        ]
        emit(out, as_json, "\n".join(lines) or "no reports")

    @reports_app.command("create")
    def reports_create(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        name: Annotated[str, typer.Option(help="The report's title.")],
        channel: Annotated[str, typer.Option(help="A notification channel id of the workspace.")],
        frequency: Annotated[str, typer.Option(help="daily or weekly.")] = "daily",
        hour: Annotated[int, typer.Option(help="Hour (0-23) in the workspace's zone.")] = 8,
        weekday: Annotated[
            str | None, typer.Option(help="monday ... sunday (weekly reports).")
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Schedule a daily or weekly report through a notification channel."""
        from pydantic import ValidationError

        from metricx.errors import InvalidInput
        from metricx.reports.schemas import ScheduleCreate
        from metricx.reports.service import Listed, create_schedule, workspace_of

        ws_id = parse_uuid(workspace, "--workspace", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            try:
                body = ScheduleCreate.model_validate(
                    {
                        "name": name,
                        "channel_id": channel,
                        "frequency": frequency,
                        "hour": hour,
                        "weekday": weekday,
                    }
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "input"
                raise InvalidInput(f"{where}: {first['msg']}") from None
            ws = workspace_of(session, ws_id)
            row = create_schedule(session, workspace_id=ws.id, created_by=None, body=body)
            return _row(Listed(row, ws.timezone, None))

        out = in_transaction(as_json, work)
        emit(out, as_json, f"created {out['name']}: {out['id']}")

    @reports_app.command("delete")
    def reports_delete(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        report: Annotated[str, typer.Option(help="The report id.")],
        as_json: JsonFlag = False,
    ) -> None:
        """Remove a scheduled report."""
        from metricx.reports.service import delete_schedule

        ws_id = parse_uuid(workspace, "--workspace", as_json)
        report_id = parse_uuid(report, "--report", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            delete_schedule(session, workspace_id=ws_id, schedule_id=report_id)
            return {"deleted": str(report_id)}

        out = in_transaction(as_json, work)
        emit(out, as_json, f"deleted {out['deleted']}")

    @reports_app.command("send")
    def reports_send(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        report: Annotated[str, typer.Option(help="The report id.")],
        as_json: JsonFlag = False,
    ) -> None:
        """Send the report of its latest period now (to try it)."""
        from metricx.reports.service import send_now, workspace_of

        ws_id = parse_uuid(workspace, "--workspace", as_json)
        report_id = parse_uuid(report, "--report", as_json)

        def work(session: Session, rt: Runtime) -> dict[str, Any]:
            period = send_now(
                session,
                settings=rt.settings,
                cipher=rt.cipher,
                workspace=workspace_of(session, ws_id),
                schedule_id=report_id,
            )
            return {"sent": True, "period_start": period.start, "period_end": period.end}

        out = in_transaction(as_json, work)
        emit(out, as_json, f"sent the report of {out['period_start']} to {out['period_end']}")
