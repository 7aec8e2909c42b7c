"""The answer cache stays bounded under a write load: one entry per question, by weight."""

from __future__ import annotations

import threading
import time

from metricx.metrics.cache import AnswerCache
from metricx.runtime import Activity, release_memory_when_idle


def test_a_new_write_version_replaces_the_questions_entry() -> None:
    cache: AnswerCache[str] = AnswerCache(ttl=60, size=256)
    for version in range(500):  # a question asked after every one of 500 writes
        assert cache.get_or_compute(("q",), str(version), lambda v=version: f"a{v}") == (
            f"a{version}"
        )
    assert len(cache) == 1
    assert cache.get_or_compute(("q",), "499", lambda: "recomputed") == "a499"
    assert cache.hits == 1


def test_entries_weigh_at_most_the_budget_and_the_oldest_leave_first() -> None:
    cache: AnswerCache[list[int]] = AnswerCache(ttl=60, max_weight=100, weigh=len)
    for n in range(10):
        cache.get_or_compute((n,), "v", lambda: [0] * 30)
    assert cache.weight <= 100 and len(cache) == 3
    assert cache.get_or_compute((9,), "v", lambda: [1]) == [0] * 30  # the newest stayed
    assert cache.get_or_compute((0,), "v", lambda: [1]) == [1]  # the oldest left


def test_an_answer_heavier_than_the_budget_is_answered_not_kept() -> None:
    cache: AnswerCache[list[int]] = AnswerCache(ttl=60, max_weight=10, weigh=len)
    assert cache.get_or_compute(("big",), "v", lambda: [0] * 11) == [0] * 11
    assert len(cache) == 0 and cache.weight == 0


def test_expired_entries_leave_on_the_next_store() -> None:
    cache: AnswerCache[int] = AnswerCache(ttl=0.000001)
    for n in range(50):
        cache.get_or_compute((n,), "v", lambda n=n: n)
    assert len(cache) <= 1


def test_no_ttl_means_no_cache() -> None:
    cache: AnswerCache[int] = AnswerCache(ttl=0)
    assert cache.get_or_compute(("q",), "v", lambda: 1) == 1
    assert cache.get_or_compute(("q",), "v", lambda: 2) == 2
    assert len(cache) == 0


def test_a_sweep_drops_the_expired_entries_without_a_store() -> None:
    cache: AnswerCache[list[int]] = AnswerCache(ttl=60, weigh=len)
    cache.get_or_compute(("q", 1), "v1", lambda: [1, 2, 3])
    assert cache.sweep() == 0 and len(cache) == 1  # not yet expired
    assert cache.sweep(now=time.monotonic() + 61) == 1
    assert len(cache) == 0 and cache.weight == 0


def test_the_memory_keeper_sweeps_and_trims_once_per_quiet_spell() -> None:
    """The server's keeper: a sweep every round; a trim once no request started or ended for
    a while, not again in the same quiet spell, nor after a mere health probe or two."""
    swept, trimmed = threading.Event(), threading.Semaphore(0)
    activity = Activity()
    activity.last = time.monotonic() - 3600  # quiet for an hour
    stop = threading.Event()
    keeper = release_memory_when_idle(
        swept.set, every=0.01, idle=60, trim=trimmed.release, activity=activity, stop=stop,
        worth=10,
    )  # fmt: skip
    assert swept.wait(10)
    assert trimmed.acquire(timeout=10)  # the quiet spell's one trim

    def rounds(n: int) -> None:
        for _ in range(n):
            swept.clear()
            assert swept.wait(10)

    rounds(3)
    assert not trimmed.acquire(blocking=False)  # rounds go on without another trim
    for _ in range(2):  # a probe, long ago: not worth a collection
        activity.touch()
    activity.last = time.monotonic() - 3600
    rounds(3)
    assert not trimmed.acquire(blocking=False)
    for _ in range(10):  # a load came and went
        activity.touch()
    activity.last = time.monotonic() - 3600
    assert trimmed.acquire(timeout=10)
    stop.set()
    keeper.join(10)
    assert not keeper.is_alive()


def test_the_memory_keeper_outlives_a_failed_round() -> None:
    calls = threading.Semaphore(0)

    def sweep() -> None:
        calls.release()
        raise RuntimeError("a sweep that fails")

    stop = threading.Event()
    keeper = release_memory_when_idle(sweep, every=0.01, trim=lambda: None, stop=stop)
    assert calls.acquire(timeout=10) and calls.acquire(timeout=10)  # a second round came
    stop.set()
    keeper.join(10)
