"""The CLI bootstrap, as scripts use it: one JSON object per command, errors as exit codes.

Run against the configured server (METRICX_DATABASE_URL) and against the embedded one
(METRICX_DATABASE_URL unset: the server is started in the data dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

METRICX = str(Path(sys.executable).parent / "metricx")


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [METRICX, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def run_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run(env, *args, "--json").stdout)
    return out


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRICX_")}
    env["METRICX_DATA_DIR"] = str(tmp_path / "data")
    return env


def bootstrap(env: dict[str, str]) -> None:
    assert run_json(env, "db", "upgrade")["revision"]
    user = run_json(
        env, "users", "create", "--email", "Ana@Example.com", "--password", "s3cret-pass"
    )
    assert user["email"] == "ana@example.com"
    ws = run_json(
        env,
        "workspaces",
        "create",
        "--name",
        "Acme",
        "--owner",
        "ana@example.com",
        "--timezone",
        "Asia/Kolkata",
    )
    assert ws["timezone"] == "Asia/Kolkata"
    key = run_json(env, "api-keys", "create", "--workspace", ws["id"])
    assert key["key"].startswith("mx_") and key["workspace_id"] == ws["id"]

    # Errors: a message and a non-zero exit, never a traceback.
    dup = run(env, "users", "create", "--email", "ana@example.com", "--password", "x" * 9, ok=False)
    assert dup.returncode == 1 and "exists already" in dup.stderr and "Traceback" not in dup.stderr
    missing = run(
        env, "workspaces", "create", "--name", "X", "--owner", "no@x.y", "--json", ok=False
    )
    assert missing.returncode == 1
    assert json.loads(missing.stderr)["error"]["code"] == "not_found"
    bad = run(env, "api-keys", "create", "--workspace", "nope", ok=False)
    assert bad.returncode == 1 and "UUID" in bad.stderr


def test_cli_bootstrap_on_configured_database(tmp_path: Path, fresh_database) -> None:  # type: ignore[no-untyped-def]
    env = base_env(tmp_path)
    env["METRICX_DATABASE_URL"] = fresh_database("cli")
    bootstrap(env)
    assert not (tmp_path / "data" / "pg").exists()  # the embedded server was not used


def test_cli_bootstrap_on_embedded_database(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    assert run_json(env, "db", "upgrade")["revision"]
    user = run_json(
        env, "users", "create", "--email", "bo@example.com", "--password", "s3cret-pass"
    )
    ws = run_json(env, "workspaces", "create", "--name", "Bo", "--owner", user["email"])
    assert run_json(env, "api-keys", "create", "--workspace", ws["id"])["key"].startswith("mx_")
    pgdata = tmp_path / "data" / "pg"
    assert (pgdata / "PG_VERSION").exists()
    # Unix socket only: the server listens on no TCP address.
    conf = (pgdata / "postmaster.pid").read_text() if (pgdata / "postmaster.pid").exists() else ""
    assert conf == ""  # and it stopped when the last command exited
