"""Every log record is one whole JSON line, even when threads log at the same moment (a
worker's sync threads do): a log shipper, and the tests that read worker logs, split on
newlines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

THREADS, RECORDS = 8, 2_000

SCRIPT = f"""
import logging, threading
import structlog
from metricx.logging import configure_logging

configure_logging("json", "INFO")
log = structlog.get_logger()
std = logging.getLogger("library")
start = threading.Barrier({THREADS})

def run(n):
    start.wait()
    for i in range({RECORDS}):
        if i % 4:
            log.warning("meta throttled, waiting", thread=n, i=i, wait_seconds=2.0)
        else:
            std.warning("library line %s %s", n, i)

threads = [threading.Thread(target=run, args=(n,)) for n in range({THREADS})]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_records_logged_by_concurrent_threads_are_whole_lines(tmp_path: Path) -> None:
    sink = tmp_path / "worker.log"
    with sink.open("wb") as out:
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=out, check=True, timeout=120)
    lines = sink.read_text().splitlines()
    broken = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            broken.append(line)
    assert not broken, f"{len(broken)} lines are not one JSON record, e.g. {broken[0][:300]}"
    assert len(lines) == THREADS * RECORDS
