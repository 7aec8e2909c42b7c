"""The measure registry is the whole list: a measure declared there (plus its migration) is
ingested, rolled up, queried and exported with no other edit. The case runs in its own pytest
process, so the extra measure never leaks into this one's registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from metricx.facts import measures

ROOT = Path(__file__).resolve().parents[2]


def test_one_registry_entry_and_one_migration_add_a_measure() -> None:
    assert "video_30s_plays" not in measures.by_name()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.facts.extra_measure_plugin",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).with_name("extra_measure_cases.py")),
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
