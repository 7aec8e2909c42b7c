"""A short-lived, per-process cache of dashboard answers, invalidated by writes.

A key holds the workspace's write version: the newest finish time among its latest imports
(every fact write, API or sync, is an import). A write that commits changes the version, so
the next identical question misses; entries also expire after ``ttl`` seconds, which bounds
staleness for changes that are not imports (an entity renamed)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

T = TypeVar("T")

VERSION_SQL = text(
    "SELECT max(finished_at) FROM (SELECT finished_at FROM imports WHERE workspace_id = :ws"
    " ORDER BY created_at DESC LIMIT 20) AS recent"
)


def write_version(session: Session, workspace_id: uuid.UUID) -> str:
    return str(session.execute(VERSION_SQL, {"ws": workspace_id}).scalar())


class AnswerCache:
    def __init__(self, *, ttl: float = 10.0, size: int = 256) -> None:
        self.ttl, self.size = ttl, size
        self._items: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] > now:
                self._items.move_to_end(key)
                self.hits += 1
                value: T = found[1]
                return value
        self.misses += 1
        value = compute()
        with self._lock:
            self._items[key] = (now + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


ANSWERS = AnswerCache()
