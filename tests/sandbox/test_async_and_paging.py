"""Async report runs, truncated pages, late conversions, batch."""

from __future__ import annotations

from typing import Any

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.exceptions import FacebookRequestError

from tests.sandbox.conftest import Sandbox

PARAMS: dict[str, Any] = {
    "level": "ad",
    "time_increment": 1,
    "limit": 40,
    "time_range": {"since": "2026-03-01", "until": "2026-03-19"},
}
FIELDS = ["ad_id", "spend", "impressions", "actions"]


def test_async_job_runs_to_completion_with_the_100_percent_quirk(sandbox: Sandbox) -> None:
    account = AdAccount(sandbox.account("USD"), api=sandbox.api())
    run = account.get_insights(fields=FIELDS, params=dict(PARAMS), is_async=True)
    assert isinstance(run, AdReportRun) and run["id"]
    with pytest.raises(FacebookRequestError) as early:
        list(run.get_result(params={"limit": 40}))
    assert (early.value.api_error_code(), early.value.api_error_subcode()) == (2601, 1815107)
    seen = []
    for _ in range(10):  # the poll loop a client must write
        status = run.api_get(fields=["async_status", "async_percent_completion"])
        seen.append((status["async_status"], status["async_percent_completion"]))
        if status["async_status"] == "Job Completed" and status["async_percent_completion"] == 100:
            break
    assert ("Job Running", 100) in seen and seen[-1] == ("Job Completed", 100)
    rows = [dict(r) for r in run.get_result(params={"limit": 40})]
    sync = [dict(r) for r in account.get_insights(fields=FIELDS, params=dict(PARAMS))]
    assert rows == sync and len(rows) > 40


def test_async_job_can_fail(sandbox: Sandbox) -> None:
    sandbox.faults(async_fail_rate=1.0)
    account = AdAccount(sandbox.account("EUR"), api=sandbox.api())
    run = account.get_insights(fields=FIELDS, params=dict(PARAMS), is_async=True)
    statuses = [run.api_get(fields=["async_status"])["async_status"] for _ in range(5)]
    assert statuses[-1] == "Job Failed"
    assert run.api_get()["error_subcode"] == 2490547


def test_truncated_pages_still_deliver_every_row(sandbox: Sandbox) -> None:
    account = AdAccount(sandbox.account("JPY"), api=sandbox.api())
    clean = [dict(r) for r in account.get_insights(fields=FIELDS, params=dict(PARAMS))]
    sandbox.faults(truncate_rate=1.0)
    pages = []
    resp = sandbox.http.get(
        f"/v25.0/{sandbox.account('JPY')}/insights",
        params={
            "access_token": sandbox.token,
            "level": "ad",
            "time_increment": "1",
            "limit": "40",
            "fields": ",".join(FIELDS),
            "time_range": '{"since":"2026-03-01","until":"2026-03-19"}',
        },
    ).json()
    pages.append(resp)
    assert len(resp["data"]) < 40 and "next" in resp["paging"]
    truncated = [dict(r) for r in account.get_insights(fields=FIELDS, params=dict(PARAMS))]
    assert truncated == clean
    assert all(r["spend"] == str(int(r["spend"])) for r in clean)  # JPY: no minor unit


def test_recent_conversions_keep_changing_as_the_clock_moves(sandbox: Sandbox) -> None:
    act = sandbox.account("USD")
    q = {
        "account_id": act,
        "level": "account",
        "granularity": "day",
        "since": "2026-03-10",
        "until": "2026-03-21",
    }
    before = {r["date"]: r for r in sandbox.truth(**q)["rows"]}
    assert max(before) == "2026-03-20"  # nothing after now
    sandbox.http.post("/_sandbox/clock/advance", json={"days": 1})
    after = {r["date"]: r for r in sandbox.truth(**q)["rows"]}
    assert "2026-03-21" in after

    def conversions(row: dict[str, Any]) -> int:
        return sum(n for t, n in row["actions"].items() if t.startswith("offsite_conversion."))

    old_days = [d for d in before if d <= "2026-03-15"]
    assert all(before[d] == after[d] for d in old_days)  # settled beyond three days
    recent = [d for d in before if d >= "2026-03-18"]
    assert any(conversions(after[d]) > conversions(before[d]) for d in recent)
    assert all(conversions(after[d]) >= conversions(before[d]) for d in before)


def test_batch_runs_each_call(sandbox: Sandbox) -> None:
    api = sandbox.api()
    results: list[Any] = []
    batch = api.new_batch()
    for act in [a["id"] for a in sandbox.info()["accounts"]][:2]:
        AdAccount(act, api=api).api_get(
            fields=["currency"], batch=batch, success=lambda r: results.append(r.json())
        )
    batch.execute()
    assert {r["currency"] for r in results} == {"USD", "EUR"}
