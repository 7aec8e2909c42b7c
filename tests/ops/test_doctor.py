"""`metricx doctor`: a line per check, non-zero exit when one fails, and a message that says
what to do."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from metricx.cli import app
from metricx.config import Settings
from metricx.kit.crypto import Cipher
from metricx.migrate import upgrade
from metricx.ops.doctor import check_database_role, healthy, run_doctor
from tests.conftest import make_settings
from tests.factories import make_workspace


def meta_answers(url: str, **_kw: Any) -> httpx.Response:
    return httpx.Response(400, request=httpx.Request("GET", url))


@pytest.fixture
def migrated(fresh_database: Callable[[str], str]) -> str:
    url = fresh_database("doctor")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def store_token(url: str, cipher: Cipher) -> None:
    from metricx.db import make_sessionmaker, unit_of_work
    from metricx.models import Provider, Token

    engine = create_engine(url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        ws = make_workspace(session)
        session.add(
            Token(
                workspace_id=ws.id,
                provider=Provider.META,
                access_token_enc=cipher.encrypt("EAAB-secret"),
                scopes=["ads_read"],
            )
        )
    engine.dispose()


def with_worker(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
    engine.dispose()


def by_name(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def settings_for(tmp_path: Path, url: str, keys: str | None) -> Settings:
    return make_settings(tmp_path, url).model_copy(
        update={
            "encryption_keys": SecretStr(keys) if keys else None,
            "meta_app_id": "1",
            "meta_app_secret": SecretStr("s"),
        }
    )


def test_a_healthy_installation_passes(migrated: str, tmp_path: Path) -> None:
    key = Cipher.generate_key()
    store_token(migrated, Cipher([key]))
    with_worker(migrated)
    checks = run_doctor(settings_for(tmp_path, migrated, key), get=meta_answers)
    assert healthy(checks), checks
    assert [c.name for c in checks] == [
        "settings",
        "pooler",
        "database",
        "migrations",
        "encryption keys",
        "database role",
        "workers",
        "queue",
        "meta",
    ]


def test_a_missing_key_fails_and_says_what_to_do(migrated: str, tmp_path: Path) -> None:
    old = Cipher.generate_key()
    store_token(migrated, Cipher([old]))
    with_worker(migrated)
    # The key the token was encrypted with was dropped from the list.
    checks = by_name(
        run_doctor(settings_for(tmp_path, migrated, Cipher.generate_key()), get=meta_answers)
    )
    keys = checks["encryption keys"]
    assert keys.status == "fail"
    assert "1 of 1 stored secret(s) cannot be decrypted" in keys.message
    assert "add the key they were encrypted with back" in keys.message

    # No key configured and no key file: nothing can open the stored token.
    checks = by_name(run_doctor(settings_for(tmp_path, migrated, None), get=meta_answers))
    assert checks["encryption keys"].status == "fail"
    assert "restore the key file" in checks["encryption keys"].message
    assert not (tmp_path / "data" / "encryption.key").exists()  # doctor never makes one

    # Both keys, newest first: readable, but rotation is due.
    both = f"{Cipher.generate_key()},{old}"
    checks = by_name(run_doctor(settings_for(tmp_path, migrated, both), get=meta_answers))
    assert checks["encryption keys"].status == "warn"
    assert "metricx keys rotate" in checks["encryption keys"].message


def test_a_role_that_does_not_own_the_tables_fails(migrated: str) -> None:
    """Row-level security (BI access) would hide every row from it. Roles are cluster-wide:
    a unique name, dropped at the end."""
    role = f"mx_doctor_t_{secrets.token_hex(5)}"
    owner = create_engine(migrated)
    with owner.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    stranger = create_engine(make_url(migrated).set(username=role, password=None))
    try:
        check = check_database_role(stranger)
        assert check.status == "fail"
        assert f"{role} is not the owner of metricx's tables" in check.message
        assert check_database_role(owner).status == "ok"
    finally:
        stranger.dispose()
        with owner.begin() as conn:
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


def test_no_worker_and_unreachable_meta_fail(migrated: str, tmp_path: Path) -> None:
    def unreachable(url: str, **_kw: Any) -> httpx.Response:
        raise httpx.ConnectError("refused")

    settings = settings_for(tmp_path, migrated, Cipher.generate_key())
    checks = by_name(run_doctor(settings, get=unreachable))
    assert checks["workers"].status == "fail" and "metricx worker" in checks["workers"].message
    assert checks["meta"].status == "fail" and "graph.facebook.com" in checks["meta"].message


def test_cli_fails_on_a_stopped_database_with_what_to_do(tmp_path: Path) -> None:
    env = {
        "METRICX_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/metricx",
        "METRICX_DATA_DIR": str(tmp_path),
        "METRICX_META_GRAPH_URL": "http://127.0.0.1:1",
        "METRICX_ENCRYPTION_KEYS": Cipher.generate_key(),
    }
    result = CliRunner().invoke(app, ["doctor", "--json"], env=env)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    checks = {c["name"]: c for c in out["checks"]}
    assert out["ok"] is False
    assert checks["database"]["status"] == "fail"
    assert "start PostgreSQL (or fix METRICX_DATABASE_URL)" in checks["database"]["message"]
    assert checks["migrations"]["status"] == "skip"
    assert "metricx sandbox" in checks["meta"]["message"]

    human = CliRunner().invoke(app, ["doctor"], env=env)
    assert human.exit_code == 1
    assert any(line.startswith("FAIL database") for line in human.stdout.splitlines())
