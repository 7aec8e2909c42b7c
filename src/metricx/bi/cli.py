"""`metricx export` (day files) and `metricx bi grant-role` / `revoke-role` (read-only roles
bound to a workspace)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.console import JsonFlag, emit, fail, in_transaction, parse_uuid
from metricx.runtime import Runtime


def _date(value: str, what: str, as_json: bool) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(
            f"{what} must be a date (YYYY-MM-DD), got {value!r}",
            as_json=as_json,
            code="invalid_input",
        )


def _out_dir(out: Path, as_json: bool) -> Path:
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a folder", as_json=as_json, code="invalid_input")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create --out {out}: {exc.strerror}", as_json=as_json, code="invalid_input")
    if not _writable(out):
        fail(f"cannot write into --out {out}", as_json=as_json, code="invalid_input")
    return out


def _writable(folder: Path) -> bool:
    probe = folder / ".metricx-write-probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def register(app: typer.Typer) -> None:
    bi_app = typer.Typer(help="BI access: read-only roles on the bi views.", no_args_is_help=True)
    app.add_typer(bi_app, name="bi")

    @app.command("export")
    def export(
        since: Annotated[str, typer.Option(help="First local day (YYYY-MM-DD).")],
        until: Annotated[str, typer.Option(help="Last local day, included (YYYY-MM-DD).")],
        out: Annotated[Path, typer.Option(help="Folder to write into (created if missing).")],
        fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
        workspace: Annotated[
            str | None,
            typer.Option(help="One workspace (files in OUT); default all (OUT/<workspace id>/)."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Write the daily facts (bi.daily_facts: every level, with names, hierarchy, currency
        and time zone) as one file per local day, <day>.parquet or <day>.csv."""
        from metricx.bi.export import FORMATS, MAX_DAYS, export_range, workspace_exists
        from metricx.errors import NotFound

        if fmt not in FORMATS:
            fail(
                f"--format must be parquet or csv, got {fmt!r}",
                as_json=as_json,
                code="invalid_input",
            )
        first, last = _date(since, "--since", as_json), _date(until, "--until", as_json)
        if first > last:
            fail("--since is after --until", as_json=as_json, code="invalid_input")
        if (last - first).days >= MAX_DAYS:
            fail(f"at most {MAX_DAYS} days per export", as_json=as_json, code="invalid_input")
        ws_id = parse_uuid(workspace, "--workspace", as_json) if workspace else None
        folder = _out_dir(out, as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            if ws_id is not None and not workspace_exists(session, ws_id):
                raise NotFound(f"no workspace {ws_id}")
            summary = export_range(
                session,
                out=folder,
                fmt=fmt,
                since=first,
                until=last,
                workspace_id=ws_id,
            )
            return {"files": summary.written, "rows": summary.rows, "out": str(folder)}

        result = in_transaction(as_json, work)
        emit(
            result,
            as_json,
            f"wrote {len(result['files'])} files ({result['rows']} rows) to {folder}",
        )

    @bi_app.command("grant-role")
    def grant_role(
        workspace: Annotated[str, typer.Option(help="The workspace the role may read.")],
        role: Annotated[str, typer.Option(help="The PostgreSQL role (created if missing).")],
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Set the role's password, read from stdin.")
        ] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Let a read-only PostgreSQL role read one workspace's rows: the bi views, and the
        base tables under row-level security. Run it again with another workspace to add one."""
        from metricx.bi.roles import grant_workspace

        ws_id = parse_uuid(workspace, "--workspace", as_json)
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            grant = grant_workspace(session, role=role, workspace_id=ws_id, password=password)
            return {
                "role": grant.role,
                "workspace_id": str(grant.workspace_id),
                "created": grant.created,
                "database": grant.database,
            }

        out = in_transaction(as_json, work)
        verb = "created role" if out["created"] else "role"
        emit(
            out, as_json, f"{verb} {out['role']} reads workspace {out['workspace_id']} (schema bi)"
        )

    @bi_app.command("revoke-role")
    def revoke_role(
        role: Annotated[str, typer.Option(help="The PostgreSQL role.")],
        workspace: Annotated[
            str | None, typer.Option(help="One workspace (default: all of them).")
        ] = None,
        drop: Annotated[bool, typer.Option(help="Then drop the role itself.")] = False,
        as_json: JsonFlag = False,
    ) -> None:
        """Take workspaces from a role; without any left it loses its privileges here."""
        from metricx.bi.roles import revoke_workspace

        ws_id = parse_uuid(workspace, "--workspace", as_json) if workspace else None

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            left = revoke_workspace(session, role=role, workspace_id=ws_id, drop=drop)
            return {"role": role, "workspaces": [str(w) for w in left], "dropped": drop}

        out = in_transaction(as_json, work)
        emit(out, as_json, f"role {role}: {len(out['workspaces'])} workspace(s) left")
