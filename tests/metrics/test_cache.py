"""The answer cache stays bounded under a write load: one entry per question, by weight."""

from __future__ import annotations

from metricx.metrics.cache import AnswerCache


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
