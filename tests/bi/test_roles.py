"""`metricx bi grant-role`: a PostgreSQL role that reads one workspace. Connected AS that role:
the bi views and the base tables show its workspace's rows and never another's, the rest is
out of reach, and nothing can be written. Roles are cluster-wide on a server: each test's role
has a unique name and is dropped at its end (`metricx bi revoke-role --drop`)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors
from sqlalchemy.engine import make_url

from metricx.db import libpq_url
from tests.bi.conftest import Seeded, cli

VIEWS = (
    "daily_facts", "ad_daily", "adset_daily", "campaign_daily", "account_daily",
    "ad_breakdowns_daily", "creatives", "ad_creatives",
)  # fmt: skip
BASE = ("metric_facts", "metric_rollups", "entities", "breakdown_facts", "ad_creatives")


def new_role() -> str:
    return f"mx_bi_t_{secrets.token_hex(5)}"


@pytest.fixture
def roles(seeded: Seeded) -> Iterator[list[str]]:
    """Role names to use; each is revoked and dropped at the end (it must not outlive the
    test on a shared server)."""
    made: list[str] = []
    yield made
    for role in made:
        out = cli(seeded, "bi", "revoke-role", "--role", role, "--drop")
        assert out.returncode == 0, out.stderr
    with seeded.engine.connect() as conn:
        left = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%(r)s)", {"r": made}
        ).scalar_one()
    assert left == 0


def grant(seeded: Seeded, roles: list[str], workspace: uuid.UUID, password: str) -> str:
    role = new_role()
    roles.append(role)
    out = cli(
        seeded,
        "bi", "grant-role", "--workspace", str(workspace), "--role", role,
        "--password-stdin", "--json",
        stdin=password + "\n",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["created"] is True
    return role


def connect_as(seeded: Seeded, role: str, password: str) -> psycopg.Connection[Any]:
    url = make_url(libpq_url(seeded.url)).set(username=role, password=password)
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def scalar(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def owner_count(seeded: Seeded, sql: str, workspace: uuid.UUID) -> int:
    with seeded.engine.connect() as conn:
        return int(conn.exec_driver_sql(sql, (workspace,)).scalar_one())


def test_a_role_reads_its_workspace_and_never_another(seeded: Seeded, roles: list[str]) -> None:
    mine, other = seeded.workspaces
    password = secrets.token_urlsafe(12)
    role = grant(seeded, roles, mine, password)
    with connect_as(seeded, role, password) as conn:
        assert scalar(conn, "SELECT current_user") == role
        for view in VIEWS:
            seen = {r[0] for r in conn.execute(f"SELECT DISTINCT workspace_id FROM bi.{view}")}
            assert seen == {mine}, view
            owner_rows = owner_count(
                seeded, f"SELECT count(*) FROM bi.{view} WHERE workspace_id = %s", mine
            )
            assert scalar(conn, f"SELECT count(*) FROM bi.{view}") == owner_rows > 0, view
            assert (
                scalar(conn, f"SELECT count(*) FROM bi.{view} WHERE workspace_id = %s", other) == 0
            )
        # The base tables the views read: row-level security, not only the views, hides the
        # other workspace.
        for table in BASE:
            seen = {r[0] for r in conn.execute(f"SELECT DISTINCT workspace_id FROM {table}")}
            assert seen == {mine}, table
            assert scalar(conn, f"SELECT count(*) FROM {table} WHERE workspace_id = %s", other) == 0
        assert [r[0] for r in conn.execute("SELECT id FROM workspaces")] == [mine]
        assert [r[0] for r in conn.execute("SELECT workspace_id FROM connections")] == [mine]
        assert [r[0] for r in conn.execute("SELECT workspace_id FROM bi.workspace_grants")] == [
            mine
        ]
        # The names, hierarchy, currency and attribution come along.
        ad = conn.execute(
            "SELECT ad_name, adset_name, campaign_name, account_name, currency, timezone,"
            " attribution_setting FROM bi.ad_daily ORDER BY day, ad_name LIMIT 1"
        ).fetchone()
        assert ad == (
            "one-ad-1 name", "one-adset name", "one-cmp name", "one-act name",
            "USD", "America/Los_Angeles", "1d_view,7d_click",
        )  # fmt: skip
        row = conn.execute(
            "SELECT breakdown, value1, value2, ad_name, campaign_name, account_name, spend"
            " FROM bi.ad_breakdowns_daily ORDER BY value1, ad_name LIMIT 1"
        ).fetchone()
        assert row == (
            "country", "IN", None, "one-ad-1 name", "one-cmp name", "one-act name", 1,
        )  # fmt: skip
        assert conn.execute("SELECT creative_id, title FROM bi.creatives").fetchall() == [
            ("one-creative", "Buy now")
        ]


OUT_OF_REACH = [
    "SELECT count(*) FROM metric_facts_p2026_11",  # a partition: no row-level security
    "SELECT * FROM connections",  # token and error columns are not granted
    "SELECT count(*) FROM tokens",
    "SELECT count(*) FROM users",
    "SELECT count(*) FROM api_keys",
    "SELECT count(*) FROM action_facts",
]


@contextmanager
def new_reader(seeded: Seeded, roles: list[str]) -> Iterator[psycopg.Connection[Any]]:
    """A connection as a new role granted the first workspace."""
    password = secrets.token_urlsafe(12)
    role = grant(seeded, roles, seeded.workspaces[0], password)
    with connect_as(seeded, role, password) as conn:
        yield conn


def test_a_role_reaches_nothing_else(seeded: Seeded, roles: list[str]) -> None:
    with new_reader(seeded, roles) as conn:
        for sql in OUT_OF_REACH:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(sql)


WRITES = [
    "UPDATE entities SET name = 'x'",
    "DELETE FROM metric_facts",
    "INSERT INTO bi.workspace_grants (role_name, workspace_id) SELECT current_user, id"
    " FROM workspaces",
    "DELETE FROM bi.workspace_grants",
    "CREATE TABLE bi.mine (x int)",
    "CREATE TABLE public.mine (x int)",
    "CREATE VIEW bi.mine AS SELECT 1",
]


def test_a_role_cannot_write(seeded: Seeded, roles: list[str]) -> None:
    with new_reader(seeded, roles) as conn:
        # Read-only by default...
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE entities SET name = 'x'")
        # ...and without privileges when it asks for a writable transaction.
        for sql in WRITES:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SET TRANSACTION READ WRITE")
                conn.execute(sql)
    with seeded.engine.connect() as conn:
        names = conn.exec_driver_sql("SELECT count(*) FROM entities WHERE name = 'x'").scalar()
    assert names == 0


def test_a_role_holds_several_workspaces_and_loses_them(seeded: Seeded, roles: list[str]) -> None:
    mine, other = seeded.workspaces
    password = secrets.token_urlsafe(12)
    role = grant(seeded, roles, mine, password)
    again = cli(seeded, "bi", "grant-role", "--workspace", str(other), "--role", role, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] is False
    with connect_as(seeded, role, password) as conn:
        seen = {r[0] for r in conn.execute("SELECT DISTINCT workspace_id FROM bi.ad_daily")}
    assert seen == {mine, other}
    # A view a later migration adds to bi is readable at once (default privileges).
    with seeded.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE VIEW bi.later WITH (security_invoker = true) AS"
            " SELECT workspace_id, spend FROM metric_facts"
        )
        stored = conn.exec_driver_sql(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %(r)s", {"r": role}
        ).scalar()
    assert stored and stored.startswith("SCRAM-SHA-256$") and password not in stored
    try:
        with connect_as(seeded, role, password) as conn:
            seen = {r[0] for r in conn.execute("SELECT DISTINCT workspace_id FROM bi.later")}
        assert seen == {mine, other}
    finally:
        with seeded.engine.begin() as conn:
            conn.exec_driver_sql("DROP VIEW bi.later")
    out = cli(seeded, "bi", "revoke-role", "--role", role, "--workspace", str(mine), "--json")
    assert json.loads(out.stdout)["workspaces"] == [str(other)]
    with connect_as(seeded, role, password) as conn:
        seen = {r[0] for r in conn.execute("SELECT DISTINCT workspace_id FROM metric_facts")}
        assert seen == {other}
    cli(seeded, "bi", "revoke-role", "--role", role)
    with connect_as(seeded, role, password) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM bi.ad_daily")


def test_grant_role_refuses_bad_input(seeded: Seeded) -> None:
    ws = str(seeded.workspaces[0])
    owner = make_url(seeded.url).username or "postgres"
    cases = [
        (["--workspace", ws, "--role", "Bad-Name"], "role must be"),
        (["--workspace", ws, "--role", "pg_monitor"], "role must be"),
        (["--workspace", "nope", "--role", "mx_bi_t_never"], "must be a UUID"),
        (["--workspace", str(uuid.uuid4()), "--role", "mx_bi_t_never"], "no workspace"),
        (["--workspace", ws, "--role", owner], "bypasses row-level security"),
    ]
    for args, message in cases:
        out = cli(seeded, "bi", "grant-role", *args)
        assert out.returncode == 1, (args, out.stdout)
        assert message in out.stderr, (args, out.stderr)
    with seeded.engine.connect() as conn:
        made = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'mx_bi_t_never'"
        ).scalar()
    assert made == 0
    out = cli(seeded, "bi", "revoke-role", "--role", "mx_bi_t_never")
    assert out.returncode == 1 and "no role" in out.stderr
