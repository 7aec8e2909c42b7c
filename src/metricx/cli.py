"""The ``metricx`` command. Every command that prints data takes ``--json`` (one JSON object)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.bi.cli import register as register_bi
from metricx.config import get_settings
from metricx.connections.cli import register as register_connections
from metricx.console import (
    JsonFlag,
    emit,
    fail,
    in_transaction,
    parse_uuid,
    runtime_for,
)
from metricx.conversions.cli import register as register_conversions
from metricx.fx.cli import register as register_fx
from metricx.logging import configure_logging
from metricx.ops.cli import register as register_operations
from metricx.reports.cli import register as register_reports
from metricx.runtime import (
    Runtime,
    build_runtime,
    exit_on_sigterm,
    limit_malloc_arenas,
    release_memory_when_idle,
    tune_garbage_collector,
    tune_thread_switching,
)
from metricx.sync.cli import register as register_sync

warnings.filterwarnings("ignore", module="platformdirs")

app = typer.Typer(
    name="metricx",
    help="metricx: ad-performance analytics for Meta Ads, on PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Users who sign in.", no_args_is_help=True)
workspaces_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (one workspace each).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(keys_app, name="api-keys")


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Apply every migration (creates the schema on a new database)."""
    from metricx.migrate import current_revision, upgrade

    with runtime_for(as_json=as_json) as runtime:
        upgrade(runtime.engine)
        rev = current_revision(runtime.engine)
    emit({"revision": rev}, as_json, f"database at revision {rev}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision ('base' drops everything).")],
    as_json: JsonFlag = False,
) -> None:
    """Revert migrations down to REVISION."""
    from metricx.migrate import current_revision, downgrade

    with runtime_for(as_json=as_json) as runtime:
        downgrade(runtime.engine, revision)
        rev = current_revision(runtime.engine)
    emit({"revision": rev}, as_json, f"database at revision {rev}")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The e-mail address to sign in with.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user."""
    from metricx.auth.service import create_user

    def work(session: Session, _rt: Runtime) -> dict[str, Any]:
        user = create_user(session, email=email, password=password, name=name)
        return {"id": str(user.id), "email": user.email}

    out = in_transaction(as_json, work)
    emit(out, as_json, f"created user {out['email']} ({out['id']})")


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Option(help="The workspace's name.")],
    owner: Annotated[str, typer.Option(help="The owner's e-mail (an existing user).")],
    timezone: Annotated[
        str,
        typer.Option(
            help="IANA zone for hour buckets and for facts pushed without a connection "
            "(each ad account's days are its own)."
        ),
    ] = "UTC",
    week_start: Annotated[
        str, typer.Option(help="The first day of week buckets (monday ... sunday).")
    ] = "monday",
    as_json: JsonFlag = False,
) -> None:
    """Create a workspace owned by an existing user."""
    from metricx.auth.repository import user_by_email
    from metricx.errors import NotFound
    from metricx.workspaces.service import create_workspace

    def work(session: Session, _rt: Runtime) -> dict[str, Any]:
        user = user_by_email(session, owner)
        if user is None:
            raise NotFound(f"no user with e-mail {owner}; create it with 'metricx users create'")
        ws = create_workspace(
            session, name=name, owner_id=user.id, timezone=timezone, week_start=week_start
        )
        return {
            "id": str(ws.id),
            "name": ws.name,
            "timezone": ws.timezone,
            "week_start": ws.week_start,
            "owner": user.email,
        }

    out = in_transaction(as_json, work)
    emit(out, as_json, f"created workspace {out['name']} ({out['id']})")


@keys_app.command("create")
def api_keys_create(
    workspace: Annotated[str, typer.Option(help="The workspace id.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "api key",
    scope: Annotated[
        list[str] | None, typer.Option(help="read, ingest or admin (repeatable; default all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key for a workspace. The key is printed once."""
    from metricx.auth.repository import workspace_by_id
    from metricx.auth.schemas import ApiKeyScope
    from metricx.auth.service import create_api_key
    from metricx.errors import NotFound

    ws_id = parse_uuid(workspace, "--workspace", as_json)
    try:
        scopes = [ApiKeyScope(s) for s in scope] if scope else None
    except ValueError:
        fail("--scope must be read, ingest or admin", as_json=as_json, code="invalid_input")

    def work(session: Session, _rt: Runtime) -> dict[str, Any]:
        if workspace_by_id(session, ws_id) is None:
            raise NotFound(f"no workspace {ws_id}")
        new = create_api_key(session, workspace_id=ws_id, name=name, scopes=scopes)
        return {
            "id": str(new.row.id),
            "workspace_id": str(ws_id),
            "key": new.key,
            "scopes": new.row.scopes,
        }

    out = in_transaction(as_json, work)
    emit(out, as_json, f"API key (shown once, store it now): {out['key']}")


@keys_app.command("revoke")
def api_keys_revoke(
    workspace: Annotated[str, typer.Option(help="The workspace id.")],
    key_id: Annotated[str, typer.Option("--id", help="The key's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key."""
    from metricx.auth.service import revoke_api_key

    ws_id = parse_uuid(workspace, "--workspace", as_json)
    k_id = parse_uuid(key_id, "--id", as_json)

    def work(session: Session, _rt: Runtime) -> dict[str, Any]:
        row = revoke_api_key(session, workspace_id=ws_id, key_id=k_id)
        return {"id": str(row.id), "revoked_at": row.revoked_at}

    out = in_transaction(as_json, work)
    emit(out, as_json, f"revoked API key {out['id']}")


PortOption = Annotated[int, typer.Option(help="TCP port to listen on.")]
HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]


@app.command()
def serve(
    port: PortOption = 8000,
    host: HostOption = "127.0.0.1",
    metrics_port: Annotated[
        int,
        typer.Option(
            help="Also serve /metrics, without a token, on this operator port (0: none; the "
            "public port has /metrics only with METRICX_METRICS_TOKEN)."
        ),
    ] = 0,
    metrics_host: Annotated[
        str, typer.Option(help="Interface of the operator port.")
    ] = "127.0.0.1",
) -> None:
    """Run the web app and API (uvicorn)."""
    limit_malloc_arenas()  # before any thread allocates
    exit_on_sigterm()  # before the embedded PostgreSQL may start
    import uvicorn

    from metricx import telemetry
    from metricx.app import create_app
    from metricx.metrics.cache import ANSWERS

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    runtime = build_runtime(settings)
    app = create_app(runtime)
    if metrics_port:
        telemetry.serve_metrics(metrics_port, metrics_host)
    tune_garbage_collector()
    tune_thread_switching()
    release_memory_when_idle(ANSWERS.sweep)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once in this process.")] = 4,
    name: Annotated[str | None, typer.Option(help="Worker name in logs.")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve /metrics for Prometheus on this port (default: "
            "METRICX_WORKER_METRICS_PORT; 0: none)."
        ),
    ] = None,
) -> None:
    """Run a Procrastinate worker: syncs, maintenance and the periodic schedule."""
    from metricx import telemetry
    from metricx.jobs.context import set_runtime
    from metricx.worker.queue import run_worker

    settings = get_settings()
    if settings.database_pooler == "transaction":
        fail(
            "the worker needs a database session of its own (LISTEN/NOTIFY, advisory locks): "
            "run it with METRICX_DATABASE_URL pointing at PostgreSQL itself (or a session-mode "
            "pooler) and without METRICX_DATABASE_POOLER=transaction"
        )
    configure_logging(settings.log_format, settings.log_level)
    runtime = build_runtime(settings)
    set_runtime(runtime)
    tune_garbage_collector()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        telemetry.watch_database(runtime)
        telemetry.serve_metrics(port)
    asyncio.run(
        run_worker(
            runtime.database_url, concurrency=concurrency, name=name, settings=runtime.settings
        )
    )


@app.command()
def demo(
    port: PortOption = 8000,
    host: HostOption = "127.0.0.1",
    as_json: JsonFlag = False,
) -> None:
    """Everything in one process on the embedded database: migrations, a demo login and
    workspace, the web app and a worker. Prints the URL to open and the login."""
    from metricx.demo import run_demo

    run_demo(port=port, host=host, as_json=as_json)


def _mount_optional() -> None:
    try:
        from metricx.sandbox.cli import sandbox_app
    except ImportError:  # the sandbox package is optional in a slim install
        return
    app.add_typer(sandbox_app, name="sandbox")


_mount_optional()


register_connections(app)
register_operations(app)
register_sync(app)
register_conversions(app)
register_fx(app)
register_bi(app)
register_reports(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
