"""A short-lived, per-process cache of dashboard answers, invalidated by writes.

An entry holds the workspace's write version: the newest finish time among its latest imports
(every fact write, API or sync, is an import) and the newest range reach fetched. A write
that commits changes the version, so the next identical question misses and its new answer
replaces the old one; entries also expire after ``ttl`` seconds, which bounds staleness for
changes that are not imports (an entity renamed).

The cache is bounded by what it holds, not only by its number of entries: an answer weighs
its rows (an ad-level hourly series is ten thousand points, tens of MB as Python objects), and
the entries together weigh at most ``max_weight``. Under a steady write load every version
was a new key and the stale answers stayed until 256 of them had piled up: the server grew by
hundreds of MB. Now one question has one entry, and expired entries leave on the next store.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

T = TypeVar("T")

VERSION_SQL = text(
    "SELECT (SELECT max(finished_at) FROM (SELECT finished_at FROM imports"
    "          WHERE workspace_id = :ws ORDER BY created_at DESC LIMIT 20) AS recent),"
    " (SELECT max(fetched_at) FROM reach_ranges WHERE workspace_id = :ws)"
)


def write_version(session: Session, workspace_id: uuid.UUID) -> str:
    """What the workspace's answers were computed from: its newest import's finish (every
    fact write, API or sync, is an import) and its newest range reach fetched, read in one
    statement (a question's round trips are what a busy server makes it wait for)."""
    imported, reach_fetched = session.execute(VERSION_SQL, {"ws": workspace_id}).one()
    return f"{imported}|{reach_fetched}"


class AnswerCache(Generic[T]):
    def __init__(
        self,
        *,
        ttl: float = 10.0,
        size: int = 256,
        max_weight: int = 100_000,
        weigh: Callable[[Any], int] = lambda _value: 1,
    ) -> None:
        self.ttl, self.size, self.max_weight, self.weigh = ttl, size, max_weight, weigh
        # question -> (version, expires at, weight, answer), least recently used first
        self._items: OrderedDict[tuple[Any, ...], tuple[str, float, int, T]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: tuple[Any, ...], version: str, compute: Callable[[], T]) -> T:
        """The answer to the question ``key`` stored at ``version``, else ``compute()``'s
        (kept when it weighs less than the whole budget)."""
        if self.ttl <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] == version and found[1] > now:
                self._items.move_to_end(key)
                self.hits += 1
                return found[3]
        self.misses += 1
        value = compute()
        weight = max(1, self.weigh(value))
        if weight > self.max_weight:
            return value
        with self._lock:
            self._drop(key)
            self._items[key] = (version, now + self.ttl, weight, value)
            self._weight += weight
            for old in [k for k, item in self._items.items() if item[1] <= now]:
                self._drop(old)
            while len(self._items) > self.size or self._weight > self.max_weight:
                self._drop(next(iter(self._items)))
        return value

    def _drop(self, key: tuple[Any, ...]) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._weight -= item[2]

    def sweep(self, now: float | None = None) -> int:
        """Drop the expired entries (otherwise they leave on the next store, which after a
        load may not come); how many went."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [k for k, item in self._items.items() if item[1] <= now]
            for key in old:
                self._drop(key)
        return len(old)

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0


def answer_weight(answer: Any) -> int:
    """An answer's rows: its series points and groups (what its memory grows with)."""
    return len(getattr(answer, "series", ())) + len(getattr(answer, "groups", ())) + 1


# 20,000 points: about 20 MiB of answers at most (a point holds ~1 KiB as Python objects;
# an ad-level day of hours is ~10,000 points, 9 MiB).
ANSWERS: AnswerCache[Any] = AnswerCache(max_weight=20_000, weigh=answer_weight)
