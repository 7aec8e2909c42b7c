"""Run the sandbox in a background thread (tests, demo) on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

from metricx.sandbox.app import create_sandbox_app
from metricx.sandbox.config import SandboxConfig


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_in_thread(
    config: SandboxConfig, port: int = 0, host: str = "127.0.0.1", timeout: float = 15.0
) -> tuple[str, Callable[[], None]]:
    """Start the sandbox; return (base_url, stop). Blocks until it accepts connections."""
    return serve_in_thread(create_sandbox_app(config), port, host, timeout)


def serve_in_thread(
    app: ASGIApp, port: int = 0, host: str = "127.0.0.1", timeout: float = 15.0
) -> tuple[str, Callable[[], None]]:
    """Serve a sandbox ``app`` (its state at hand to the caller); return (base_url, stop)."""
    port = port or free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Longer than clients keep idle connections (httpx: 5 s, as uvicorn's default): a
            # request must not reuse a connection the sandbox is closing that instant.
            timeout_keep_alive=60,
        )
    )
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not start on {host}:{port}")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://{host}:{port}", stop
