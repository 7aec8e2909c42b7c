"""Breakdowns (issue 17) through the real SDK: every set's rows equal the truth's shown cells
(synchronous and report job alike), small cells are hidden so a set sums below the unbroken
total, a cell's reach never exceeds its impressions and is left out past 13 months (but for
report jobs within the account's daily allowance), region rows carry no off-Meta actions, and
Meta's errors for unknown breakdowns, invalid combinations and breakdowns asked as fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.exceptions import FacebookRequestError

from metricx.facts.breakdowns import BREAKDOWN_SETS, TYPE1_SETS
from metricx.integrations.meta.breakdown_rows import BREAKDOWN_AD_FIELDS, parse_breakdown_row
from tests.sandbox.conftest import ALL_STATUSES, Sandbox

RANGE = {"since": "2026-03-10", "until": "2026-03-12"}
FIELDS = [f for f in BREAKDOWN_AD_FIELDS if f != "objective"]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "meta" / "insights_breakdown_row.doc_shapes.json"


def _params(breakdowns: tuple[str, ...] | list[str], **extra: Any) -> dict[str, Any]:
    return {
        "level": "ad",
        "time_increment": 1,
        "time_range": RANGE,
        "breakdowns": list(breakdowns),
        "action_breakdowns": ["action_type"],
        "filtering": [{"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}],
        "limit": 500,
        **extra,
    }


def _truth(sandbox: Sandbox, account: str, fields: tuple[str, ...]) -> dict[str, Any]:
    answer = sandbox.http.get(
        "/_sandbox/truth/breakdowns",
        params={"account_id": account, "breakdowns": ",".join(fields), **RANGE},
    )
    answer.raise_for_status()
    return dict(answer.json())


def _key(row: dict[str, Any], fields: tuple[str, ...]) -> tuple[str, ...]:
    values = [str(row[f]) for f in fields]
    return (str(row["ad_id"]), str(row["date_start"]), *values, *([""] * (2 - len(values))))


@pytest.mark.parametrize("name", list(BREAKDOWN_SETS))
def test_every_set_equals_the_truth_and_hides_small_cells(sandbox: Sandbox, name: str) -> None:
    fields = BREAKDOWN_SETS[name]
    act = sandbox.account("USD")
    account = AdAccount(act, api=sandbox.api())
    rows = [dict(r) for r in account.get_insights(fields=FIELDS, params=_params(fields))]
    truth = _truth(sandbox, act, fields)
    shown = {
        (t["ad_id"], t["date"], t["key1"], t["key2"]): t for t in truth["rows"] if not t["hidden"]
    }
    assert {_key(r, fields) for r in rows} == set(shown)
    for row in rows:
        t = shown[_key(row, fields)]
        assert int(row["impressions"]) == t["impressions"]
        assert row["spend"] == t["spend"] and int(row["clicks"]) == t["clicks"]
        assert int(row["inline_link_clicks"]) == t["link_clicks"]
        assert int(row["reach"]) == t["reach"] <= t["impressions"]
        actions = {a["action_type"]: int(a["value"]) for a in row.get("actions", [])}
        assert actions == t["actions"]
        if name in TYPE1_SETS:  # Type 1: no off-Meta actions at all
            assert not [a for a in actions if a.startswith("offsite_conversion.")]
            assert "purchase" not in actions and "lead" not in actions
    hidden = any(t["hidden"] for t in truth["rows"])
    assert hidden or name not in ("age_gender", "placement")  # many small cells
    # the shown cells sum to less than the ad-days' unbroken totals (hidden cells)
    unbroken = sandbox.truth(account_id=act, level="ad", since=RANGE["since"], until=RANGE["until"])
    total = sum(r["impressions"] for r in unbroken["rows"])
    assert sum(int(r["impressions"]) for r in rows) < total or not hidden
    everything = sum(t["impressions"] for t in truth["rows"])
    assert everything == total  # hidden ones included, the cells split the ad-days exactly


def test_a_report_job_answers_the_same_rows(sandbox: Sandbox) -> None:
    account = AdAccount(sandbox.account("EUR"), api=sandbox.api())
    fields = BREAKDOWN_SETS["placement"]
    run = account.get_insights(fields=FIELDS, params=_params(fields), is_async=True)
    for _ in range(10):
        status = run.api_get(fields=["async_status", "async_percent_completion"])
        if status["async_status"] == "Job Completed" and status["async_percent_completion"] == 100:
            break
    job = [dict(r) for r in run.get_result(params={"limit": 500})]
    direct = [dict(r) for r in account.get_insights(fields=FIELDS, params=_params(fields))]
    assert job == direct and len(job) > 100
    assert {r["publisher_platform"] for r in job} >= {"facebook", "instagram"}


def test_the_hidden_threshold_is_a_setting(sandbox: Sandbox) -> None:
    act = sandbox.account("USD")
    account = AdAccount(act, api=sandbox.api())
    fields = BREAKDOWN_SETS["age_gender"]
    before = list(account.get_insights(fields=FIELDS, params=_params(fields)))
    sandbox.faults(breakdown_hidden_below=1)
    every = list(account.get_insights(fields=FIELDS, params=_params(fields)))
    sandbox.faults(breakdown_hidden_below=300)
    fewer = list(account.get_insights(fields=FIELDS, params=_params(fields)))
    assert len(fewer) < len(before) < len(every)


def test_reach_is_left_out_past_13_months(sandbox: Sandbox) -> None:
    act = sandbox.account("USD")
    account = AdAccount(act, api=sandbox.api())
    sandbox.http.post(
        "/_sandbox/clock", json={"now": "2027-05-01T12:00:00+00:00"}
    ).raise_for_status()
    fresh = sandbox.http.post("/_sandbox/token", json={}).json()["token"]
    account = AdAccount(act, api=sandbox.api(fresh))
    rows = list(account.get_insights(fields=FIELDS, params=_params(("gender",))))
    assert rows and all("reach" not in r for r in rows)
    plain = list(account.get_insights(fields=FIELDS, params=_params(())))
    assert plain and all("reach" in r for r in plain)  # without breakdowns reach stays


def _job_rows(account: AdAccount, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    run = account.get_insights(fields=FIELDS, params=_params(fields), is_async=True)
    for _ in range(10):
        if run.api_get(fields=["async_status"])["async_status"] == "Job Completed":
            break
    return [dict(r) for r in run.get_result(params={"limit": 500})]


def test_report_jobs_get_reach_past_13_months_within_the_daily_allowance(
    sandbox: Sandbox,
) -> None:
    act = sandbox.account("EUR")
    sandbox.http.post(
        "/_sandbox/clock", json={"now": "2027-05-01T12:00:00+00:00"}
    ).raise_for_status()
    sandbox.faults(reach_jobs_per_day=2)
    account = AdAccount(act, api=sandbox.api(sandbox.http.post("/_sandbox/token").json()["token"]))
    truth = _truth(sandbox, act, ("gender",))
    reach = {(t["ad_id"], t["date"], t["key1"]): t["reach"] for t in truth["rows"]}
    for _ in range(2):  # the day's allowance: reach, the truth's
        rows = _job_rows(account, ("gender",))
        assert rows and all(int(r["reach"]) == reach[_key(r, ("gender",))[:3]] for r in rows)
    spent = _job_rows(account, ("gender",))  # past it: left out, the rest of the row kept
    assert spent and all("reach" not in r and "impressions" in r for r in spent)
    synchronous = list(account.get_insights(fields=FIELDS, params=_params(("gender",))))
    assert synchronous and all("reach" not in r for r in synchronous)
    sandbox.http.post(
        "/_sandbox/clock", json={"now": "2027-05-02T12:00:00+00:00"}
    ).raise_for_status()  # a new day, a new allowance
    assert all("reach" in r for r in _job_rows(account, ("gender",)))


def test_meta_errors_for_bad_breakdowns(sandbox: Sandbox) -> None:
    account = AdAccount(sandbox.account("USD"), api=sandbox.api())
    with pytest.raises(FacebookRequestError) as unknown:
        list(account.get_insights(fields=["ad_id"], params=_params(["zodiac"])))
    assert unknown.value.api_error_code() == 100
    assert "breakdowns[0] must be one of" in unknown.value.api_error_message()
    with pytest.raises(FacebookRequestError) as combo:
        list(account.get_insights(fields=["ad_id"], params=_params(["age", "country"])))
    assert (combo.value.api_error_code(), combo.value.api_error_subcode()) == (100, 1504041)
    with pytest.raises(FacebookRequestError) as as_field:
        list(account.get_insights(fields=["ad_id", "age"], params=_params(["age"])))
    assert as_field.value.api_error_code() == 100
    assert "age is not valid for fields param" in as_field.value.api_error_message()
    with pytest.raises(FacebookRequestError):
        account.get_insights(fields=["ad_id"], params=_params(["age", "region"]), is_async=True)


def test_the_fixture_row_parses_as_documented() -> None:
    """A breakdown row as Meta prints it (tests/fixtures/meta): values are top-level keys."""
    row = json.loads(FIXTURE.read_text())
    parsed = parse_breakdown_row(row, "age_gender", {row["adset_id"]: "actions:link_click"})
    assert (parsed.key1, parsed.key2, parsed.impressions, parsed.reach) == (
        "25-34",
        "female",
        1834,
        1502,
    )
    assert parsed.purchases == 3 and str(parsed.purchase_value) == "149.7"
    assert parsed.results == 41 and parsed.link_clicks == 41
    region = parse_breakdown_row(
        {**row, "region": "California"},
        "region",
        {row["adset_id"]: "actions:offsite_conversion.fb_pixel_purchase"},
    )
    assert region.conversions is None and region.purchases is None and region.results is None
    no_reach = {k: v for k, v in row.items() if k != "reach"}
    assert parse_breakdown_row(no_reach, "age_gender").reach is None
