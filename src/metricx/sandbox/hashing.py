"""Cheap deterministic hashing: every generated number is a pure function of seed and key."""

from __future__ import annotations

MASK64 = (1 << 64) - 1


def mix(*parts: int) -> int:
    """splitmix64 over the parts: fast in pure Python, well spread, reproducible."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (part & MASK64)) * 0xBF58476D1CE4E5B9 & MASK64
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & MASK64
        h ^= h >> 31
    return h


def unit(h: int) -> float:
    """A float in [0, 1) from a hash."""
    return (h >> 11) / 9007199254740992.0


def text_key(text: str) -> int:
    """A stable integer for a short string (not Python's randomised hash())."""
    h = 1469598103934665603
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) & MASK64
    return h
