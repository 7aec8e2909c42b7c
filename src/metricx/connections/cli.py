"""`metricx connections add|list|breakdowns`, `metricx meta verify`, `metricx keys rotate`."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.console import emit, fail, in_transaction, parse_uuid
from metricx.facts.breakdowns import BREAKDOWN_SETS
from metricx.runtime import Runtime

TOKEN_ENV = "METRICX_META_ACCESS_TOKEN"
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def register(app: typer.Typer) -> None:

    connections_app = typer.Typer(help="Linked ad accounts.", no_args_is_help=True)
    meta_app = typer.Typer(help="Meta access checks.", no_args_is_help=True)
    keys_app = typer.Typer(help="Encryption keys of stored tokens.", no_args_is_help=True)
    app.add_typer(connections_app, name="connections")
    app.add_typer(meta_app, name="meta")
    app.add_typer(keys_app, name="keys")

    @connections_app.command("add")
    def connections_add(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        token: Annotated[str, typer.Option(help="A Meta access token (e.g. a system user's).")],
        account: Annotated[
            list[str] | None,
            typer.Option(help="Ad account id act_N (repeatable; default: all the token's)."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Connect ad accounts with a token, validated as the OAuth flow validates it."""
        from metricx.auth.repository import workspace_by_id
        from metricx.connections.service import add_with_token
        from metricx.errors import NotFound

        ws_id = parse_uuid(workspace, "--workspace", as_json)

        def work(session: Session, rt: Runtime) -> dict[str, Any]:
            if workspace_by_id(session, ws_id) is None:
                raise NotFound(f"no workspace {ws_id}")
            rows = add_with_token(
                session,
                settings=rt.settings,
                cipher=rt.cipher,
                workspace_id=ws_id,
                access_token=token,
                accounts=account,
                created_by=None,
            )
            return {"connections": [_connection(r) for r in rows]}

        out = in_transaction(as_json, work)
        lines = [
            f"connected {c['name']} ({c['external_account_id']}): {c['id']}"
            for c in out["connections"]
        ]
        emit(out, as_json, "\n".join(lines))

    @connections_app.command("list")
    def connections_list(
        workspace: Annotated[str, typer.Option(help="The workspace id.")],
        as_json: JsonFlag = False,
    ) -> None:
        """The workspace's connections."""
        from metricx.connections.service import list_connections

        ws_id = parse_uuid(workspace, "--workspace", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            rows = list_connections(session, workspace_id=ws_id)
            return {"connections": [_connection(r) for r in rows]}

        out = in_transaction(as_json, work)
        lines = [
            f"{c['id']}  {c['external_account_id']}  {c['status']:<13} {c['name']}"
            for c in out["connections"]
        ]
        emit(out, as_json, "\n".join(lines) or "no connections")

    @connections_app.command("breakdowns")
    def connections_breakdowns(
        connection: Annotated[str, typer.Argument(help="The connection id.")],
        sets: Annotated[
            str | None,
            typer.Option(
                help="Comma-separated sets ("
                + ", ".join(BREAKDOWN_SETS)
                + "); 'default' for the defaults, 'none' for none. Omitted: show the sets."
            ),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Show or choose the breakdown sets a connection syncs."""
        from sqlalchemy import select

        from metricx.connections.service import set_breakdown_sets
        from metricx.errors import NotFound
        from metricx.facts.breakdowns import sets_of
        from metricx.models import Connection

        conn_id = parse_uuid(connection, "CONNECTION", as_json)

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            row = session.scalar(select(Connection).where(Connection.id == conn_id))
            if row is None:
                raise NotFound(f"no connection {conn_id}")
            if sets is not None:
                text = sets.strip().lower()
                chosen = (
                    None
                    if text == "default"
                    else []
                    if text in ("none", "")
                    else [s for s in text.split(",") if s.strip()]
                )
                row = set_breakdown_sets(
                    session, workspace_id=row.workspace_id, connection_id=row.id, sets=chosen
                )
            return {
                "connection_id": str(row.id),
                "breakdown_sets": list(sets_of(row.breakdown_sets)),
                "default": row.breakdown_sets is None,
            }

        out = in_transaction(as_json, work)
        names = ", ".join(out["breakdown_sets"]) or "none"
        emit(out, as_json, f"{out['connection_id']}: {names}" + (" (default)" * out["default"]))

    @meta_app.command("verify")
    def meta_verify(
        token: Annotated[
            str | None,
            typer.Option(help=f"The token to check (default: ${TOKEN_ENV})."),
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """Check a Meta token: valid, scopes, expiry, ad accounts reachable, insights readable.
        Exits non-zero when something is wrong, saying what."""
        from metricx.config import get_settings
        from metricx.connections.verify import verify_token
        from metricx.kit.crypto import Secret

        value = token or os.environ.get(TOKEN_ENV)
        if not value:
            fail(f"pass --token or set {TOKEN_ENV}", as_json=as_json, code="invalid_input")
        report = verify_token(get_settings(), Secret(value))
        data = report.as_dict()
        human = [
            f"token valid: {'yes' if report.valid else 'no'}",
            f"scopes: {', '.join(report.scopes) or '-'}",
            f"expires: {data['expires_at'] or 'never'}",
            f"ad accounts: {', '.join(a['id'] for a in report.accounts) or 'none'}",
            f"insights readable: {'yes' if report.insights_readable else 'no'}",
            *[f"problem: {p}" for p in report.problems],
        ]
        emit(data, as_json, "\n".join(human))
        if not report.ok:
            raise typer.Exit(1)

    @keys_app.command("rotate")
    def keys_rotate(as_json: JsonFlag = False) -> None:
        """Re-encrypt every stored secret (tokens, notification channel secrets) under the
        newest key of METRICX_ENCRYPTION_KEYS (put the new key first, run this, then drop the
        old key)."""
        from metricx.connections.tokens import rotate_all
        from metricx.kit.crypto import DecryptionError
        from metricx.notifications.service import rotate_secrets

        def work(session: Session, rt: Runtime) -> dict[str, Any]:
            return {
                "rotated": rotate_all(session, rt.cipher),
                "channel_secrets": rotate_secrets(session, rt.cipher),
            }

        try:
            out = in_transaction(as_json, work)
        except DecryptionError as exc:
            fail(f"{exc}; keep the old key in the list while rotating", as_json=as_json)
        emit(out, as_json, f"re-encrypted {out['rotated']} token(s) under the newest key")


def _connection(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "workspace_id": str(row.workspace_id),
        "external_account_id": row.external_account_id,
        "name": row.name,
        "currency": row.currency,
        "timezone": row.timezone,
        "status": row.status.value,
    }
