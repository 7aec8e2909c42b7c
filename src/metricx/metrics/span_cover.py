"""The fewest rollup rows that sum to a range of days: day, week (Monday to Sunday) and
calendar-month rows, added or subtracted, since each longer row is exactly the sum of its days.

Per month the range touches, the cover is the cheaper of its part's own days and weeks, or the
whole month minus the days and weeks outside the part. 2 to 31 October is October minus the
1st (2 rows, where days and weeks took 12); 5 November to 4 December is November minus the 1st
to 4th, and the 1st to 4th of December (9 rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from metricx.facts.breakdowns import DAY, MONTH, WEEK
from metricx.facts.partitions import add_months, month_start

_ONE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Piece:
    span: int  # DAY, WEEK or MONTH
    day: date  # the day, the week's Monday, the month's first
    sign: int  # 1 added, -1 subtracted


def _added(lo: date, hi: date) -> list[tuple[int, date]]:
    """``lo``..``hi`` (inclusive; empty when lo > hi) as its whole weeks and the days around."""
    out: list[tuple[int, date]] = []
    day = lo
    while day <= hi:
        if day.weekday() == 0 and day + 6 * _ONE <= hi:
            out.append((WEEK, day))
            day += 7 * _ONE
        else:
            out.append((DAY, day))
            day += _ONE
    return out


def cover(start: date, end: date) -> list[Piece]:
    """Signed rows whose sum is every day of ``start``..``end`` once: by month, unless the
    range's own days and weeks are fewer (a week across two months is one row)."""
    plain = [Piece(s, d, 1) for s, d in _added(start, end)]
    pieces: list[Piece] = []
    month = month_start(start)
    while month <= end:
        following = add_months(month, 1)
        lo, hi = max(start, month), min(end, following - _ONE)
        inside = [Piece(s, d, 1) for s, d in _added(lo, hi)]
        outside = [
            Piece(MONTH, month, 1),
            *(Piece(s, d, -1) for s, d in _added(month, lo - _ONE)),
            *(Piece(s, d, -1) for s, d in _added(hi + _ONE, following - _ONE)),
        ]
        pieces += outside if len(outside) < len(inside) else inside
        month = following
    return pieces if len(pieces) < len(plain) else plain
