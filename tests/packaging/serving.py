"""A `metricx serve` process for the packaging tests: started, waited for, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def running(argv: list[str], *, port: int, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Run ``argv`` (a `metricx serve` listening on ``port``) until /healthz answers; yields
    its base URL and stops it (SIGTERM, then SIGKILL) at the end."""
    log = cwd / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"metricx serve exited:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no /healthz in 60 s:\n{log.read_text()}"
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
