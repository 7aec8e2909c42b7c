"""The import contract (pyproject's [tool.importlinter], run by `make lint`) holds, and it
would catch a new upward import or cycle: the same check on a copy of the package with one
such import added fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_house_keeps_its_import_contract() -> None:
    result = lint(ROOT / "src")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # The fact store reaching up into the query layer: an upward import.
        ("facts/rollups.py", "import metricx.metrics.service", "Layers: each package"),
        # Two domains of one layer importing each other: a cycle.
        ("ingest/keys.py", "import metricx.workspaces.service", "No cycles between packages"),
    ],
)
def test_a_new_upward_import_or_cycle_breaks_it(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "metricx", src / "metricx", ignore=shutil.ignore_patterns("dist")
    )
    target = src / "metricx" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    if module.startswith("ingest/"):  # and the other way round, for a cycle
        extra = src / "metricx" / "workspaces" / "repository.py"
        extra.write_text(extra.read_text() + "\nimport metricx.ingest.keys  # noqa\n")
    result = lint(src)
    assert result.returncode != 0
    verdicts = [ln for ln in result.stdout.splitlines() if ln.endswith(("KEPT", "BROKEN"))]
    assert any(v.startswith(broken) and v.endswith("BROKEN") for v in verdicts)
