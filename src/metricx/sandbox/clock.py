"""The sandbox clock: real time by default, or pinned / moved for tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SandboxClock:
    """`now()` is the sandbox's idea of the current instant (timezone-aware, UTC).

    A running clock is real time plus an offset; a frozen one stands still until set or
    advanced. Moving the clock never moves anything else: data, tokens and limits all read it.
    """

    def __init__(self, start: datetime | None = None, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        self._offset = 0.0
        self._fixed = time.time()
        self.set(start if start is not None else datetime.now(UTC), frozen=frozen)

    def timestamp(self) -> float:
        with self._lock:
            if self._frozen:
                return self._fixed
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def set(self, when: datetime, frozen: bool | None = None) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ts = when.timestamp()
        with self._lock:
            if frozen is not None:
                self._frozen = frozen
            self._fixed = ts
            self._offset = ts - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._fixed += seconds
            self._offset += seconds
