"""metricx installed from its wheel, away from the checkout: the wheel carries the Alembic
scripts and the built browser assets, `metricx db upgrade` migrates a new database and
`metricx serve` answers, with its static files, from the installed package alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from metricx.migrate import current_revision, head_revision
from metricx.sandbox.server import free_port
from tests.packaging.serving import running

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css")  # what `make assets` copies


def uv() -> str:
    found = ROOT / ".tools" / "bin" / "uv"
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.fail("no uv: run 'make setup' (it installs uv into .tools/)")
    return on_path


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [a for a in ASSETS if not (ROOT / "src/metricx/web/static/dist" / a).exists()]
    if missing:
        pytest.fail(f"web assets not built ({', '.join(missing)}): run 'make assets'")
    out = tmp_path_factory.mktemp("dist")
    run(uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT), cwd=ROOT)
    (built,) = out.glob("metricx-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with only the wheel and its dependencies, at the versions
    uv.lock pins (so uv's cache has them): returns its bin/ folder."""
    where = tmp_path_factory.mktemp("installed")
    requirements = where / "requirements.txt"
    run(
        uv(),
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--output-file",
        str(requirements),
        cwd=ROOT,
    )
    venv = where / "venv"
    run(uv(), "venv", "--quiet", "--python", sys.executable, str(venv), cwd=where)
    python = venv / "bin" / "python"
    run(
        uv(),
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "-r",
        str(requirements),
        str(wheel),
        cwd=where,
    )
    return venv / "bin"


def clean_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """No METRICX_ setting from the outside, nothing that would find the checkout's code."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METRICX_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        METRICX_DATABASE_URL=database_url,
        METRICX_DATA_DIR=str(data_dir),
        METRICX_LOG_LEVEL="WARNING",
    )
    return env


def test_the_wheel_carries_migrations_and_assets(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "metricx/migrations/env.py" in names
    assert "metricx/migrations/script.py.mako" in names
    checkout = sorted(p.name for p in (ROOT / "src/metricx/migrations/versions").glob("*.py"))
    shipped = sorted(
        n.rsplit("/", 1)[1] for n in names if n.startswith("metricx/migrations/versions/")
    )
    assert shipped == checkout
    for asset in ASSETS:
        assert f"metricx/web/static/dist/{asset}" in names


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory with no checkout in it or above it."""
    assert ROOT not in tmp_path.parents
    return tmp_path


@pytest.fixture
def served(installed: Path, fresh_database, outside: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    database_url = fresh_database("wheel")
    env = clean_env(database_url, outside / "data")

    where = run(
        str(installed / "python"),
        "-c",
        "import metricx.migrate as m; print(m.MIGRATIONS_DIR)",
        cwd=outside,
        env=env,
    ).strip()
    assert Path(where).is_relative_to(installed.parent.resolve()), f"metricx imported from {where}"

    out = run(str(installed / "metricx"), "db", "upgrade", cwd=outside, env=env)
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) == head_revision(), out
    finally:
        engine.dispose()

    port = free_port()
    argv = [str(installed / "metricx"), "serve", "--port", str(port)]
    with running(argv, port=port, env=env, cwd=outside) as base:
        yield base


def test_installed_metricx_migrates_and_serves(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text  # the schema is at the installed head
        login = http.get("/login")
        assert login.status_code == 200
        assert "/static/dist/htmx.min.js" in login.text
        for asset in ASSETS:
            r = http.get(f"/static/dist/{asset}")
            assert r.status_code == 200, asset
            assert r.content == (ROOT / "src/metricx/web/static/dist" / asset).read_bytes()
