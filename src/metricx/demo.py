"""``metricx demo``: the whole product in one process on the embedded database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

import typer
import uvicorn
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.auth import repository as users
from metricx.auth.service import create_user
from metricx.config import Settings
from metricx.db import unit_of_work
from metricx.demo_connect import connect_sandbox_accounts
from metricx.jobs.context import set_runtime
from metricx.logging import configure_logging
from metricx.migrate import upgrade
from metricx.models import Workspace
from metricx.runtime import build_runtime, exit_on_sigterm, tune_garbage_collector
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import run_in_thread
from metricx.worker.queue import build_queue, stop_worker
from metricx.workspaces.repository import workspaces_of_user
from metricx.workspaces.service import create_workspace

DEMO_EMAIL = "demo@metricx.local"
DEMO_PASSWORD = "metricx-demo"


@dataclass
class DemoLogin:
    email: str
    password: str
    workspace: Workspace


def ensure_demo_login(session: Session) -> DemoLogin:
    user = users.user_by_email(session, DEMO_EMAIL)
    if user is None:
        user = create_user(session, email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo")
    owned = workspaces_of_user(session, user.id)
    ws = (
        owned[0][0]
        if owned
        else create_workspace(
            session, name="Demo workspace", owner_id=user.id, timezone="America/New_York"
        )
    )
    return DemoLogin(DEMO_EMAIL, DEMO_PASSWORD, ws)


# An app of Meta's standard access tier: at the development tier's insights quota the rate
# governor spaced the breakdown report jobs out, and the first backfill of two accounts took
# 100 s, past the minute the demo promises (with this tier: about 15 s).
DEMO_SANDBOX = SandboxConfig(
    seed=7,
    accounts=3,
    campaigns=3,
    adsets_per_campaign=2,
    ads_per_adset=2,
    days=14,
    tier="standard",
)
DEMO_ACCOUNTS = 2


def demo_settings(host: str, port: int, sandbox_url: str) -> Settings:
    """The embedded database over plain http on this machine, Meta pointed at the sandbox,
    and a first sync that loads the sandbox's two weeks of history."""
    return Settings(
        database_url=None,
        secure_cookies=False,
        base_url=f"http://{host}:{port}",
        meta_graph_url=sandbox_url,
        meta_app_id=DEMO_SANDBOX.app_id,
        meta_app_secret=DEMO_SANDBOX.app_secret,
        sync_backfill_days=DEMO_SANDBOX.days,
    )


def run_demo(*, port: int, host: str, as_json: bool) -> None:
    configure_logging("console", "WARNING")
    exit_on_sigterm()  # SIGTERM stops the embedded PostgreSQL too, as Ctrl+C does
    sandbox_url, stop_sandbox = run_in_thread(DEMO_SANDBOX)
    settings = demo_settings(host, port, sandbox_url)
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    with unit_of_work(runtime.sessions) as session:
        login = ensure_demo_login(session)
        workspace_id = login.workspace.id
    set_runtime(runtime)
    url = f"http://{host}:{port}"
    info: dict[str, object] = {
        "url": url,
        "api": f"{url}/api/v1",
        "email": login.email,
        "password": login.password,
        "workspace_id": str(workspace_id),
        "sandbox_url": sandbox_url,
    }

    def connect() -> None:
        rows = connect_sandbox_accounts(
            url,
            email=login.email,
            password=login.password,
            workspace_id=str(workspace_id),
            accounts=DEMO_ACCOUNTS,
        )
        info["connections"] = [{"id": r.id, "name": r.name, "account": r.account} for r in rows]
        if as_json:
            typer.echo(json.dumps(info))
            return
        names = ", ".join(f"{r.name} ({r.account})" for r in rows)
        typer.echo(
            f"metricx demo is running.\n  open:     {url}\n  e-mail:   {login.email}\n"
            f"  password: {login.password}\n  workspace {workspace_id}\n"
            f"  connected through the Meta sandbox ({sandbox_url}): {names}\n"
            "  the first sync is running; the dashboard fills in within a minute.\n"
            "Ctrl+C (or SIGTERM) stops it, the embedded database included."
        )

    try:
        asyncio.run(
            _serve_with_worker(runtime.database_url, create_app(runtime), host, port, connect)
        )
    finally:
        stop_sandbox()


async def _serve_with_worker(
    database_url: str, api: object, host: str, port: int, on_started: Callable[[], None]
) -> None:
    server = uvicorn.Server(
        uvicorn.Config(api, host=host, port=port, log_config=None, access_log=False)  # type: ignore[arg-type]
    )
    tune_garbage_collector()
    queue = build_queue(database_url)
    async with queue.open_async():
        worker = asyncio.create_task(
            queue.run_worker_async(concurrency=2, name="demo", install_signal_handlers=False)
        )
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:
                await asyncio.to_thread(on_started)
            await serving
        finally:
            server.should_exit = True
            stop_worker(worker)
            await asyncio.gather(serving, worker, return_exceptions=True)
