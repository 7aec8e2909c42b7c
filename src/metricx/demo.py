"""``metricx demo``: the whole product in one process on the embedded database."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import typer
import uvicorn
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.auth import repository as users
from metricx.auth.service import create_user
from metricx.config import Settings
from metricx.db import unit_of_work
from metricx.logging import configure_logging
from metricx.migrate import upgrade
from metricx.models import Workspace
from metricx.runtime import build_runtime
from metricx.worker.context import set_runtime
from metricx.worker.queue import build_queue
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


def run_demo(*, port: int, host: str, as_json: bool) -> None:
    # The demo always runs on the embedded database, over plain http on this machine.
    settings = Settings(database_url=None, secure_cookies=False, base_url=f"http://{host}:{port}")
    configure_logging("console", "WARNING")
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    with unit_of_work(runtime.sessions) as session:
        login = ensure_demo_login(session)
        workspace_id = login.workspace.id
    set_runtime(runtime)
    url = f"http://{host}:{port}"
    info = {
        "url": url,
        "api": f"{url}/api/v1",
        "email": login.email,
        "password": login.password,
        "workspace_id": str(workspace_id),
    }
    if as_json:
        typer.echo(json.dumps(info))
    else:
        typer.echo(
            f"metricx demo is running.\n  open:     {url}\n  e-mail:   {login.email}\n"
            f"  password: {login.password}\n  workspace {workspace_id}\nCtrl+C stops it."
        )
    asyncio.run(_serve_with_worker(runtime.database_url, create_app(runtime), host, port))


async def _serve_with_worker(database_url: str, api: object, host: str, port: int) -> None:
    server = uvicorn.Server(
        uvicorn.Config(api, host=host, port=port, log_config=None, access_log=False)  # type: ignore[arg-type]
    )
    queue = build_queue(database_url)
    async with queue.open_async():
        worker = asyncio.create_task(
            queue.run_worker_async(concurrency=2, name="demo", install_signal_handlers=False)
        )
        try:
            await server.serve()
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
