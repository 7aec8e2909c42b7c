"""Peak memory of the running bench process, the same on Linux and macOS."""

from __future__ import annotations

import resource
import sys


def max_rss_mib() -> float:
    """The process's peak resident set in MiB (``ru_maxrss`` is KiB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
