"""A PostgreSQL primary and its streaming replica, started for a test from the machine's
PostgreSQL binaries (Debian's ``postgresql`` package: initdb, pg_ctl, pg_basebackup) on free
ports in a folder of their own, and stopped after it. As root, the servers run as the
``postgres`` system user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from metricx.sandbox.server import free_port

SERVER_USER = "postgres"


def binaries() -> Path:
    """The newest installed PostgreSQL server's bin/ with pg_basebackup."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail("no PostgreSQL server binaries: apt-get install postgresql")
    return found[-1].parent


@dataclass
class ReplicaPair:
    primary_url: str
    replica_url: str
    folder: Path
    bin: Path

    def run(self, *args: str) -> None:
        as_user = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        proc = subprocess.run(
            [*as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, f"{args[0]} failed: {proc.stdout}\n{proc.stderr}"

    def replica_sql(self, sql: str) -> object:
        with psycopg.connect(self.replica_url, autocommit=True) as c:
            row = c.execute(sql).fetchone()
            return row[0] if row else None

    def caught_up(self) -> bool:
        """Whether the replica has replayed everything the primary wrote so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as c:
            row = c.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
        behind = self.replica_sql(f"SELECT pg_wal_lsn_diff('{row[0]}', pg_last_wal_replay_lsn())")
        return behind is not None and float(str(behind)) <= 0

    def wait_caught_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.caught_up():
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


def start_pair() -> Iterator[ReplicaPair]:
    pg = binaries()
    folder = Path(tempfile.mkdtemp(prefix="metricx-replica-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        os.chown(folder, user.pw_uid, user.pw_gid)
    primary_port, replica_port = free_port(), free_port()
    pair = ReplicaPair(
        f"postgresql://postgres@127.0.0.1:{primary_port}/postgres",
        f"postgresql://postgres@127.0.0.1:{replica_port}/postgres",
        folder,
        pg,
    )
    primary, replica = folder / "primary", folder / "replica"
    started: list[Path] = []
    try:
        pair.run(str(pg / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust")
        settings = (
            f"port = {primary_port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{folder}'\nwal_level = replica\n"
            "max_wal_senders = 4\nhot_standby = on\nfsync = off\n"
            "synchronous_commit = off\nfull_page_writes = off\n"
        )
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        pair.run(str(pg / "pg_ctl"), "-D", str(primary), "-l", str(folder / "p.log"), "-w", "start")
        started.append(primary)
        pair.run(
            str(pg / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres"),
            *("-D", str(replica), "-R", "-X", "stream"),
        )
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {replica_port}\n")
        pair.run(str(pg / "pg_ctl"), "-D", str(replica), "-l", str(folder / "r.log"), "-w", "start")
        started.append(replica)
        assert pair.replica_sql("SELECT pg_is_in_recovery()") is True
        yield pair
    finally:
        for data in reversed(started):
            pair.run(str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
