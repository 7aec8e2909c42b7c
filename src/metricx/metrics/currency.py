"""The reporting currency: amounts converted day by day at that day's rate, then summed.

- Rates are units per one euro (the ECB's convention, ``fx/``): an amount in C is worth
  ``amount * rate(T) / rate(C)`` in T on that day (EUR's rate is 1). The workspace's own
  rate for a day and currency comes first, then the operator's.
- Each (group, currency, day) is converted at its day's rate (hour and minute rows at the
  day they fall on in the view's zone), then summed; cost-per and ROAS-type figures are
  computed from the converted sums, never from averaged rates.
- A (currency, day) without a rate is not converted and nothing is guessed (no previous
  day's rate): its amounts stay in their own currency, in rows of their own, and the answer
  lists the day as missing, so the reporting currency's total says it is incomplete.
- Converted amounts are summed exactly (rows, totals and points each from the exact
  products), then rounded half up to 6 decimal places (the facts' own precision) to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from metricx.facts import measures as registry
from metricx.fx.repository import StoredRate
from metricx.metrics.schemas import Bucket

EURO = "EUR"
NATIVE = "native"  # the query's currency=native: per currency, as without a reporting one
MISSING_NOTE = "no exchange rate for "  # how the answer's note on missing rates starts
_PLACES = Decimal("0.000001")
_ROLLED = registry.rolled()
_MONEY = frozenset(m.name for m in _ROLLED if m.unit is registry.Unit.MONEY)
_WHOLE = frozenset(m.name for m in _ROLLED if m.whole)


@dataclass
class Conversion:
    """The converted rows of one answer and what it took."""

    target: str
    points: list[dict[str, Any]]  # raw sums per (bucket, group, currency), as the series
    origins: dict[tuple[Any, str], set[str]]  # (group, currency) -> currencies summed in it
    point_origins: dict[tuple[Any, Any, str], set[str]]
    missing: set[tuple[str, date]] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)

    def marks(self, currency: str, origins: set[str] | None) -> dict[str, Any]:
        """A row's marks: converted when it is in the target currency and sums amounts from
        another; a row left in its own currency (no rate) is not."""
        found = sorted(origins or {currency})
        return {
            "converted": currency == self.target and any(c != currency for c in found),
            "original_currencies": found,
        }

    def missing_rates(self) -> list[dict[str, str]]:
        return [{"currency": c, "day": d.isoformat()} for c, d in sorted(self.missing)]

    def note(self) -> str | None:
        if not self.missing:
            return None
        days = self.missing_rates()
        shown = ", ".join(f"{m['currency']} on {m['day']}" for m in days[:5])
        more = f" and {len(days) - 5} more" if len(days) > 5 else ""
        return (
            f"{MISSING_NOTE}{shown}{more}: those amounts are not converted (they stay "
            f"in their own currency) and the {self.target} total leaves them out"
        )


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    """A row's converted amounts rounded for showing (sums keep their exact value)."""
    out = dict(row)
    for name in _MONEY:
        v = out.get(name)
        if isinstance(v, Decimal):
            out[name] = v.quantize(_PLACES, rounding=ROUND_HALF_UP)
    return out


def target_of(asked: str | None, reporting: str | None) -> str | None:
    """The currency an answer converts to: the question's, else the workspace's; None (and
    ``native``) for per-currency figures."""
    if asked == NATIVE:
        return None
    return asked or reporting


def day_of(bucket: date | datetime, hourly: bool, tz: str) -> date:
    if isinstance(bucket, datetime):
        if hourly:
            return bucket.astimezone(ZoneInfo(tz)).date()
        return bucket.date()
    return bucket


def bucket_of(day: date, granularity: Bucket, week_start: int) -> date:
    """The day's week (starting on ISO weekday ``week_start``) or month bucket."""
    if granularity is Bucket.WEEK:
        return day - timedelta(days=(day.isoweekday() - week_start) % 7)
    if granularity is Bucket.MONTH:
        return day.replace(day=1)
    return day


def days_and_currencies(
    points: Iterable[dict[str, Any]], *, hourly: bool, tz: str
) -> tuple[date, date, list[str]] | None:
    days = [day_of(p["bucket"], hourly, tz) for p in points]
    if not days:
        return None
    return min(days), max(days), sorted({p["currency"] for p in points})


def _value(name: str, raw: Any) -> Any:
    if raw is None:
        return None
    return int(raw) if name in _WHOLE else Decimal(raw)


def _add(acc: dict[str, Any], values: dict[str, Any]) -> None:
    for m in _ROLLED:
        v = values.get(m.name)
        if v is not None:
            acc[m.name] = v if acc.get(m.name) is None else acc[m.name] + v


def convert(
    fine: list[dict[str, Any]],
    *,
    target: str,
    rates: dict[tuple[date, str], StoredRate],
    granularity: Bucket,
    tz: str,
    week_start: int,
) -> Conversion:
    """The fine series (day points, or the question's hour or minute points) converted to
    ``target`` where the day's rates exist, summed into the question's buckets."""
    hourly = granularity in (Bucket.HOUR, Bucket.MINUTE)
    out = Conversion(target, [], {}, {})
    sums: dict[tuple[Any, Any, str], dict[str, Any]] = {}
    for p in fine:
        day = day_of(p["bucket"], hourly, tz)
        currency = p["currency"]
        values = {m.name: _value(m.name, p.get(m.name)) for m in _ROLLED}
        into = currency
        if currency != target:
            factor = _factor(currency, target, day, rates, out)
            if factor is not None:
                into = target
                for name in _MONEY:
                    if values.get(name) is not None:
                        values[name] = values[name] * factor
        bucket = p["bucket"] if hourly else bucket_of(day, granularity, week_start)
        key = (bucket, p["group"], into)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = {"bucket": bucket, "group": p["group"], "currency": into}
            for m in _ROLLED:
                acc[m.name] = None
        _add(acc, values)
        out.point_origins.setdefault(key, set()).add(currency)
        out.origins.setdefault((p["group"], into), set()).add(currency)
    out.points = sorted(sums.values(), key=lambda a: (a["bucket"], a["group"] or "", a["currency"]))
    return out


def _factor(
    currency: str,
    target: str,
    day: date,
    rates: dict[tuple[date, str], StoredRate],
    out: Conversion,
) -> Decimal | None:
    """rate(target) / rate(currency) on ``day``, each per one euro; None (and the day noted
    as missing) without both."""
    found = []
    for code in (target, currency):
        if code == EURO:
            found.append(Decimal(1))
            continue
        rate = rates.get((day, code))
        if rate is None:
            out.missing.add((code, day))
            return None
        out.sources.add(f"{rate.scope}:{rate.source}")
        found.append(rate.rate)
    return found[0] / found[1]
