"""Reading rate files: the ECB's CSV and XML, the long CSV, and bad lines by number."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from metricx.fx.formats import FormatError, Rate, parse_any
from metricx.fx.service import problems

ECB_DAILY_CSV = "Date, USD, JPY, BGN, CYP, \n02 December 2026, 1.0512, 161.23, 1.9558, N/A, \n"
ECB_XML = """<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
  xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>
    <Cube time="2026-12-02">
      <Cube currency="USD" rate="1.0512"/>
      <Cube currency="JPY" rate="161.23"/>
    </Cube>
    <Cube time="2026-12-01">
      <Cube currency="USD" rate="1.0498"/>
    </Cube>
  </Cube>
</gesmes:Envelope>
"""


def test_ecb_daily_csv_reads_each_quoted_currency_and_skips_not_quoted() -> None:
    parsed = parse_any(ECB_DAILY_CSV)
    assert parsed.errors == []
    assert parsed.rates == [
        Rate(date(2026, 12, 2), "USD", Decimal("1.0512")),
        Rate(date(2026, 12, 2), "JPY", Decimal("161.23")),
        Rate(date(2026, 12, 2), "BGN", Decimal("1.9558")),
    ]


def test_ecb_xml_reads_every_day() -> None:
    parsed = parse_any(ECB_XML)
    assert sorted((r.day.isoformat(), r.currency, str(r.rate)) for r in parsed.rates) == [
        ("2026-12-01", "USD", "1.0498"),
        ("2026-12-02", "JPY", "161.23"),
        ("2026-12-02", "USD", "1.0512"),
    ]


def test_long_csv_and_euro_at_one_is_dropped() -> None:
    parsed = parse_any("date,currency,rate\n2026-11-30,usd,1.04\n2026-11-30,EUR,1\n\n")
    assert parsed.rates == [Rate(date(2026, 11, 30), "USD", Decimal("1.04"))]


def test_bad_lines_are_named_by_number() -> None:
    parsed = parse_any(
        "date,currency,rate\n"
        "2026-11-30,USD,1.04\n"
        "2026-13-01,USD,1.04\n"
        "2026-11-30,US,1.04\n"
        "2026-11-30,JPY,-3\n"
        "2026-11-30,JPY,abc\n"
        "2026-11-30,EUR,1.2\n"
        "2026-11-30,USD,1.05\n"
    )
    bad = problems(parsed)
    assert [b.split(":")[0] for b in bad[:5]] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "EUR is the base currency" in bad[4]
    assert bad[-1] == "USD on 2026-11-30: given twice with different rates"


@pytest.mark.parametrize(
    "text",
    ["", "hello,world\n1,2\n", "<not xml", "<root><Cube/></root>", "Date,U1D\n", "a\x00b"],
)
def test_unknown_layouts_are_refused_whole(text: str) -> None:
    with pytest.raises(FormatError):
        parse_any(text)
