"""Exchange-rate files as metricx reads them: the European Central Bank's reference-rate
CSV (a ``Date`` column, then one column per currency: units per one euro), a long CSV
(``date,currency,rate``) and the ECB's XML (``<Cube time=...><Cube currency rate/>``).

A file is read whole before anything is stored: a bad line is reported with its number and
the file is refused (a rate table half loaded would convert some days and not others)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

CURRENCY = re.compile(r"^[A-Z]{3}$")
EURO = "EUR"
MAX_RATE = Decimal(10) ** 9
MAX_PLACES = 12
FIRST_DAY = date(1999, 1, 1)  # the euro's first day
LAST_DAY = date(2100, 12, 31)
MISSING = frozenset({"", "N/A", "NA", "-"})  # the ECB's empty cells (a currency not quoted)
MAX_ERRORS = 50  # reported per file; the count says how many more


@dataclass(frozen=True)
class Rate:
    day: date
    currency: str
    rate: Decimal  # units of ``currency`` per one euro


@dataclass
class Parsed:
    rates: list[Rate] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    error_count: int = 0

    def error(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append((line, message))


class FormatError(ValueError):
    """The file is none of the formats read here."""


def parse_day(raw: str) -> date:
    """An ISO date (2026-12-02) or the ECB daily file's (02 December 2026)."""
    text = raw.strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y"):
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(f"date {text!r} is outside {FIRST_DAY}..{LAST_DAY}")
        return day
    raise ValueError(f"date {text[:40]!r} is not YYYY-MM-DD (nor '02 December 2026')")


def parse_currency(raw: str) -> str:
    code = raw.strip().upper()
    if not CURRENCY.match(code):
        raise ValueError(f"currency {raw[:20]!r} is not a 3-letter code")
    return code


def parse_rate(raw: str | Decimal | float | int) -> Decimal:
    """Units per one euro: a positive decimal below 10^9 with at most 12 decimal places."""
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else str(raw))
    except (InvalidOperation, ValueError):
        raise ValueError(f"rate {str(raw)[:40]!r} is not a number") from None
    if not value.is_finite() or value <= 0 or value >= MAX_RATE:
        raise ValueError(f"rate {str(raw)[:40]!r} must be above 0 and below 1000000000")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES:
        raise ValueError(f"rate {str(raw)[:40]!r} has more than {MAX_PLACES} decimal places")
    return value


def checked(day: date, currency: str, rate: Decimal) -> Rate | None:
    """The rate to store; None for the euro's own (always 1); ValueError for a euro rate
    other than 1."""
    if currency == EURO:
        if rate != 1:
            raise ValueError("EUR is the base currency: its rate is always 1")
        return None
    return Rate(day, currency, rate)


def parse_csv(text: str) -> Parsed:
    """The ECB's wide CSV or the long ``date,currency,rate`` one, by the header."""
    if "\x00" in text:
        raise FormatError("the file contains a NUL byte: it is not a CSV text file")
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise FormatError("the file is empty")
    names = [h.strip().lower() for h in header]
    out = Parsed()
    if names[:3] == ["date", "currency", "rate"]:
        for n, row in enumerate(rows, start=2):
            if not any(c.strip() for c in row):
                continue
            try:
                if len(row) < 3:
                    raise ValueError("expected date,currency,rate")
                rate = checked(parse_day(row[0]), parse_currency(row[1]), parse_rate(row[2]))
            except ValueError as exc:
                out.error(n, str(exc))
                continue
            if rate is not None:
                out.rates.append(rate)
        return out
    if not names or names[0] != "date":
        raise FormatError(
            "line 1: expected a header 'Date,USD,JPY,...' (the ECB's CSV) or 'date,currency,rate'"
        )
    currencies: list[str | None] = []
    for column, name in enumerate(header[1:], start=2):
        if not name.strip():
            currencies.append(None)  # the ECB's files end each line with a comma
            continue
        try:
            currencies.append(parse_currency(name))
        except ValueError as exc:
            raise FormatError(f"line 1, column {column}: {exc}") from None
    for n, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            day = parse_day(row[0])
        except ValueError as exc:
            out.error(n, str(exc))
            continue
        for cell, currency in zip(row[1:], currencies, strict=False):
            if currency is None or cell.strip().upper() in MISSING:
                continue
            try:
                rate = checked(day, currency, parse_rate(cell))
            except ValueError as exc:
                out.error(n, f"{currency}: {exc}")
                continue
            if rate is not None:
                out.rates.append(rate)
    return out


def parse_xml(text: str) -> Parsed:
    """The ECB's reference-rate XML: ``<Cube time="2026-12-02"><Cube currency="USD"
    rate="1.05"/>...``, any number of days (the daily, 90-day and historical files)."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise FormatError(f"not well-formed XML: {exc}") from None
    out = Parsed()
    days = [e for e in root.iter() if e.tag.endswith("Cube") and "time" in e.attrib]
    if not days:
        raise FormatError("no <Cube time=...> element: not the ECB's reference-rate XML")
    for element in days:
        line = getattr(element, "sourceline", 0) or 0
        try:
            day = parse_day(element.attrib["time"])
        except ValueError as exc:
            out.error(line, str(exc))
            continue
        for child in element:
            try:
                rate = checked(
                    day,
                    parse_currency(child.attrib.get("currency", "")),
                    parse_rate(child.attrib.get("rate", "")),
                )
            except ValueError as exc:
                out.error(line, str(exc))
                continue
            if rate is not None:
                out.rates.append(rate)
    return out


def parse_any(text: str) -> Parsed:
    """XML when it looks like XML, else CSV."""
    return parse_xml(text) if text.lstrip().startswith("<") else parse_csv(text)


def duplicates(rates: list[Rate]) -> list[tuple[date, str]]:
    """(day, currency) pairs given twice with different rates: which one is meant is unknown."""
    seen: dict[tuple[date, str], Decimal] = {}
    clash: set[tuple[date, str]] = set()
    for r in rates:
        key = (r.day, r.currency)
        if key in seen and seen[key] != r.rate:
            clash.add(key)
        seen[key] = r.rate
    return sorted(clash)
