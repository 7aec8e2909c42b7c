"""Amounts in a reporting currency: each day converted at that day's rate (cross rates
through EUR), summed, ratios from the converted sums; a missing rate converts nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.fx.formats import Rate
from metricx.fx.service import store
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.metrics.test_query import fact, ingest, query, tree

D = Decimal
DAYS = [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
SPEND = {  # per currency, per day
    "USD": [D("10.00"), D("20.00"), D("5.00")],
    "JPY": [D("1000"), D("2000"), D("3000")],
    "EUR": [D("7.50"), D("7.50"), D("7.50")],
}
VALUE = {"USD": [D("30.00")] * 3, "JPY": [D("5000")] * 3, "EUR": [D("15.00")] * 3}
RATES = {  # per one euro; no JPY rate on the last day
    ("USD", DAYS[0]): D("1.05"),
    ("USD", DAYS[1]): D("1.10"),
    ("USD", DAYS[2]): D("1.08"),
    ("JPY", DAYS[0]): D("160"),
    ("JPY", DAYS[1]): D("162.5"),
}
SIX = D("0.000001")


def _setup(client: TestClient, db: Session) -> KeyedWorkspace:
    ws = make_keyed_workspace(db)
    ads = dict(zip(SPEND, tree(db, ws, ads_per_set=3), strict=True))
    records: list[dict[str, Any]] = []
    for cur, ad in ads.items():
        for i, day in enumerate(DAYS):
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            records.append(
                fact(
                    ad,
                    at,
                    gran="day",
                    currency=cur,
                    spend=str(SPEND[cur][i]),
                    purchase_value=str(VALUE[cur][i]),
                    purchases=2,
                    conversions=2,
                )
            )
    ingest(client, ws, records)
    store(
        db,
        [Rate(d, c, r) for (c, d), r in RATES.items()],
        workspace_id=None,
        source="file",
    )
    return ws


def _in(target: str, cur: str, day: date, amount: Decimal) -> Decimal | None:
    one = D(1)
    rt = one if target == "EUR" else RATES.get((target, day))
    rc = one if cur == "EUR" else RATES.get((cur, day))
    if rt is None or rc is None:
        return None
    return amount * rt / rc


def _expected(target: str, figures: dict[str, list[Decimal]]) -> tuple[Decimal, dict[str, D]]:
    """The converted total (the exact sum rounded to 6 places) and what stays unconverted."""
    total, left = D(0), {}
    for i, day in enumerate(DAYS):
        day_sum = D(0)
        for cur, amounts in figures.items():
            if cur == target:
                day_sum += amounts[i]
                continue
            v = _in(target, cur, day, amounts[i])
            if v is None:
                left[cur] = left.get(cur, D(0)) + amounts[i]
            else:
                day_sum += v
        total += day_sum
    return total.quantize(SIX, rounding=ROUND_HALF_UP), left


def test_totals_convert_each_day_at_its_rate_and_say_what_is_missing(
    client: TestClient, db: Session
) -> None:
    ws = _setup(client, db)
    out = query(client, ws, start="2026-11-02", end="2026-11-04", currency="EUR")
    spend, left = _expected("EUR", SPEND)
    value, _ = _expected("EUR", VALUE)
    totals = {t["currency"]: t for t in out["totals"]}
    assert set(totals) == {"EUR", "JPY"}
    eur = totals["EUR"]
    assert D(eur["spend"]) == spend
    assert D(eur["purchase_value"]) == value
    assert eur["converted"] is True and eur["original_currencies"] == ["EUR", "JPY", "USD"]
    # ROAS and CPA from the converted sums, never from averaged rates.
    assert eur["roas"] == float(value) / float(spend)
    assert D(eur["cpa"]) == (spend / 16).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
    # The JPY day without a rate stays in JPY, with its own counts, and is listed.
    assert D(totals["JPY"]["spend"]) == left["JPY"] == D(3000)
    assert totals["JPY"]["impressions"] == 100 and totals["JPY"]["converted"] is False
    assert out["missing_rates"] == [{"currency": "JPY", "day": "2026-11-04"}]
    assert out["reporting_currency"] == "EUR"
    assert out["rate_sources"] == ["operator:file"]
    assert any("JPY on 2026-11-04" in n for n in out["notes"])
    # The series: one EUR point per day (converted), and the unconverted JPY day apart.
    points = {(p["bucket"], p["currency"]): p for p in out["series"]}
    assert set(points) == {(d.isoformat(), "EUR") for d in DAYS} | {("2026-11-04", "JPY")}
    first = sum((_in("EUR", c, DAYS[0], SPEND[c][0]) or D(0) for c in SPEND), D(0)).quantize(
        SIX, rounding=ROUND_HALF_UP
    )
    assert D(points[("2026-11-02", "EUR")]["spend"]) == first


def test_cross_rates_go_through_the_euro(client: TestClient, db: Session) -> None:
    ws = _setup(client, db)
    out = query(
        client, ws, start="2026-11-02", end="2026-11-03", currency="USD", granularity="week"
    )
    two_days = {c: v[:2] for c, v in SPEND.items()}
    total = D(0)
    for i, day in enumerate(DAYS[:2]):
        total += sum((_in("USD", c, day, v[i]) or D(0) for c, v in two_days.items()), D(0))
    total = total.quantize(SIX, rounding=ROUND_HALF_UP)
    assert [(t["currency"], D(t["spend"])) for t in out["totals"]] == [("USD", total)]
    assert out["missing_rates"] == []
    assert [(p["bucket"], D(p["spend"])) for p in out["series"]] == [("2026-11-02", total)]


def test_workspace_setting_converts_and_native_gives_per_currency(
    client: TestClient, db: Session
) -> None:
    ws = _setup(client, db)
    url = f"/api/v1/workspaces/{ws.workspace.id}"
    r = client.patch(url, json={"reporting_currency": "EUR"}, headers=ws.headers)
    assert r.status_code == 200 and r.json()["reporting_currency"] == "EUR"
    out = query(client, ws, start="2026-11-02", end="2026-11-03")
    assert [t["currency"] for t in out["totals"]] == ["EUR"]
    native = query(client, ws, start="2026-11-02", end="2026-11-03", currency="native")
    assert [t["currency"] for t in native["totals"]] == ["EUR", "JPY", "USD"]
    assert native["reporting_currency"] is None and native["missing_rates"] == []
    assert (
        client.patch(url, json={"reporting_currency": "XYZ"}, headers=ws.headers).status_code == 422
    )
    assert (
        client.patch(url, json={"reporting_currency": "eur"}, headers=ws.headers).status_code == 422
    )
    r = client.patch(url, json={"reporting_currency": ""}, headers=ws.headers)
    assert r.json()["reporting_currency"] is None
    out = query(client, ws, start="2026-11-02", end="2026-11-03")
    assert len(out["totals"]) == 3


def test_sort_and_top_n_use_converted_amounts(client: TestClient, db: Session) -> None:
    ws = _setup(client, db)
    out = query(
        client, ws, start="2026-11-02", end="2026-11-03", currency="EUR",
        group_by="entity", level="ad", sort="spend", limit=2,
    )  # fmt: skip
    # 2 days in EUR: USD ad ~27.70, JPY ad ~18.56, EUR ad 15.00 (JPY's 3,000 natively first
    # if it were not converted).
    assert [g["currency"] for g in out["groups"]] == ["EUR", "EUR"]
    spends = [D(g["spend"]) for g in out["groups"]]
    usd = sum((_in("EUR", "USD", d, SPEND["USD"][i]) or D(0) for i, d in enumerate(DAYS[:2])), D(0))
    assert spends[0] == usd.quantize(SIX, rounding=ROUND_HALF_UP) and spends[0] > spends[1]
    assert {p["group"] for p in out["series"]} == {g["group"] for g in out["groups"]}


def test_a_later_rate_changes_the_cached_answer(client: TestClient, db: Session) -> None:
    ws = _setup(client, db)
    before = query(client, ws, start="2026-11-04", end="2026-11-04", currency="EUR")
    assert before["missing_rates"] == [{"currency": "JPY", "day": "2026-11-04"}]
    r = client.put(
        f"/api/v1/workspaces/{ws.workspace.id}/fx/rates",
        json={"rates": [{"day": "2026-11-04", "currency": "JPY", "rate": "150"}]},
        headers=ws.headers,
    )
    assert r.status_code == 200, r.text
    after = query(client, ws, start="2026-11-04", end="2026-11-04", currency="EUR")
    assert after["missing_rates"] == [] and after["rate_sources"] == [
        "operator:file",
        "workspace:api",
    ]
    expected = (D("7.50") + D(5) / D("1.08") + D(3000) / D(150)).quantize(SIX)
    assert [D(t["spend"]) for t in after["totals"]] == [expected]


def test_hours_convert_at_the_rate_of_their_day(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    [ad] = tree(db, ws, ads_per_set=1)
    late = datetime(2026, 11, 2, 23, tzinfo=UTC)
    early = datetime(2026, 11, 3, 0, tzinfo=UTC)
    ingest(client, ws, [fact(ad, late, spend="10.50"), fact(ad, early, spend="21.00")])
    store(db, [Rate(d, c, r) for (c, d), r in RATES.items()], workspace_id=None, source="api")
    out = query(
        client, ws, start="2026-11-02", end="2026-11-03", granularity="hour", currency="EUR"
    )
    points = {p["bucket_utc"]: D(p["spend"]) for p in out["series"]}
    assert points[late.isoformat()] == (D("10.50") / D("1.05")).quantize(SIX)
    assert points[early.isoformat()] == (D("21.00") / D("1.10")).quantize(SIX)
    assert [t["converted"] for t in out["totals"]] == [True]
    assert out["rate_sources"] == ["operator:api"]
