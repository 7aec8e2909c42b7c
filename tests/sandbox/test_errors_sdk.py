"""Faults, throttling and token errors arrive as the SDK's FacebookRequestError."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.exceptions import FacebookRequestError

from metricx.sandbox.config import SandboxConfig
from tests.sandbox.conftest import START, Sandbox, start_sandbox


def _error(call: Callable[[], Any]) -> FacebookRequestError:
    with pytest.raises(FacebookRequestError) as info:
        call()
    return info.value


def _campaigns(sandbox: Sandbox, token: str | None = None) -> Callable[[], Any]:
    account = AdAccount(sandbox.account("USD"), api=sandbox.api(token))
    return lambda: list(account.get_campaigns(fields=["id"]))


@pytest.mark.parametrize(
    ("faults", "status", "code", "subcode"),
    [
        ({"error_500_rate": 1.0}, 500, 2, None),
        ({"permission_loss": "200"}, 403, 200, None),
        ({"permission_loss": "10"}, 400, 10, None),
    ],
)
def test_injected_faults_are_typed_errors_with_usage_headers(
    sandbox: Sandbox, faults: dict[str, Any], status: int, code: int, subcode: int | None
) -> None:
    sandbox.faults(**faults)
    err = _error(_campaigns(sandbox))
    assert (err.http_status(), err.api_error_code(), err.api_error_subcode()) == (
        status,
        code,
        subcode,
    )
    assert "x-business-use-case-usage" in err.http_headers()
    assert json.loads(err.http_headers()["x-ad-account-usage"])["acc_id_util_pct"] >= 0
    assert err.body()["error"]["fbtrace_id"]


def test_transient_faults_alternate_codes_1_and_2(sandbox: Sandbox) -> None:
    sandbox.faults(transient_rate=1.0)
    codes = {_error(_campaigns(sandbox)).api_error_code() for _ in range(12)}
    assert codes == {1, 2}
    assert _error(_campaigns(sandbox)).api_transient_error()


def test_timeout_fault_raises_read_timeout(sandbox: Sandbox) -> None:
    sandbox.faults(timeout_rate=1.0, timeout_seconds=1.0)
    account = AdAccount(sandbox.account("USD"), api=sandbox.api(timeout=0.3))
    with pytest.raises(requests.exceptions.ReadTimeout):
        list(account.get_campaigns(fields=["id"]))


def test_token_errors_unknown_revoked_expired(sandbox: Sandbox) -> None:
    err = _error(_campaigns(sandbox, "EAASnot-a-real-token-000000000000000000000000"))
    assert (err.api_error_code(), err.api_error_subcode()) == (190, 467)
    short = sandbox.http.post("/_sandbox/token", json={"ttl": 3600}).json()["token"]
    list(_campaigns(sandbox, short)())  # valid now
    sandbox.http.post("/_sandbox/clock/advance", json={"seconds": 3601})
    err = _error(_campaigns(sandbox, short))
    assert (err.api_error_code(), err.api_error_subcode()) == (190, 463)
    assert "Session has expired on" in err.api_error_message()
    other = sandbox.http.post("/_sandbox/token", json={}).json()["token"]
    sandbox.http.post("/_sandbox/tokens/revoke", json={"token": other})
    err = _error(_campaigns(sandbox, other))
    assert (err.api_error_code(), err.api_error_subcode()) == (190, 460)


def test_scheduled_revocation_hits_at_the_given_sandbox_time(sandbox: Sandbox) -> None:
    sandbox.faults(revoke_at=START.replace(hour=13).isoformat())
    list(_campaigns(sandbox)())
    sandbox.http.post("/_sandbox/clock/advance", json={"hours": 1})
    assert _error(_campaigns(sandbox)).api_error_subcode() == 460


@pytest.mark.parametrize(
    ("throttle_code", "code", "subcode"), [("17", 17, 2446079), ("613", 613, 1487742)]
)
def test_development_tier_score_blocks_then_recovers(
    sandbox: Sandbox, throttle_code: str, code: int, subcode: int
) -> None:
    sandbox.http.post("/_sandbox/tier", json={"tier": "development"})
    sandbox.faults(throttle_code=throttle_code)
    account = AdAccount(sandbox.account("EUR"), api=sandbox.api())
    for _ in range(60):  # read = 1 point, max score 60
        account.api_get(fields=["id"])
    err = _error(lambda: account.api_get(fields=["id"]))
    assert (err.api_error_code(), err.api_error_subcode()) == (code, subcode)
    buc = json.loads(err.http_headers()["x-business-use-case-usage"])
    entry = next(iter(buc.values()))[0]
    assert entry["estimated_time_to_regain_access"] == 5  # minutes: the 300 s block
    assert entry["ads_api_access_tier"] == "development_access"
    sandbox.http.post("/_sandbox/clock/advance", json={"seconds": 299})
    _error(lambda: account.api_get(fields=["id"]))
    sandbox.http.post("/_sandbox/clock/advance", json={"seconds": 2})
    assert account.api_get(fields=["id"])["id"] == account["id"]


@pytest.mark.parametrize(
    ("throttle_code", "code", "subcode"), [("17", 17, 2446079), ("613", 613, 1487742)]
)
def test_throttle_fault_refuses_with_the_seconds_left_of_the_block(
    sandbox: Sandbox, throttle_code: str, code: int, subcode: int
) -> None:
    sandbox.faults(throttle_rate=1.0, throttle_seconds=7.5, throttle_code=throttle_code)
    err = _error(_campaigns(sandbox))
    assert (err.api_error_code(), err.api_error_subcode()) == (code, subcode)
    assert err.api_transient_error()
    headers = err.http_headers()
    account = json.loads(headers["x-ad-account-usage"])
    assert (account["acc_id_util_pct"], account["reset_time_duration"]) == (100, 8)
    assert json.loads(headers["x-fb-ads-insights-throttle"])["acc_id_util_pct"] == 100
    # the BUC quotas are not what ran out: no minute estimate there
    buc = next(iter(json.loads(headers["x-business-use-case-usage"]).values()))
    assert all(e["estimated_time_to_regain_access"] == 0 and e["call_count"] < 100 for e in buc)
    sandbox.faults(throttle_rate=0.3)
    outcomes = []
    for _ in range(40):
        try:
            list(_campaigns(sandbox)())
            outcomes.append("ok")
        except FacebookRequestError as exc:
            outcomes.append(str(exc.api_error_code()))
    assert set(outcomes) == {"ok", throttle_code}  # a share of calls, not all of them


@pytest.fixture(scope="module")
def tight_buc() -> Iterator[Sandbox]:
    box, stop = start_sandbox(
        SandboxConfig(
            seed=3,
            accounts=1,
            campaigns=1,
            adsets_per_campaign=1,
            ads_per_adset=2,
            days=10,
            tier="standard",
            clock=START,
            frozen_clock=True,
            buc_insights_quota=3,
            buc_management_quota=5,
        )
    )
    yield box
    stop()


def test_business_use_case_quotas_give_80000_and_80004(tight_buc: Sandbox) -> None:
    account = AdAccount(tight_buc.info()["accounts"][0]["id"], api=tight_buc.api())
    for _ in range(3):
        list(account.get_insights(fields=["impressions"]))
    err = _error(lambda: list(account.get_insights(fields=["impressions"])))
    assert (err.api_error_code(), err.api_error_subcode()) == (80000, 2446079)
    for _ in range(5):
        account.api_get(fields=["id"])
    err = _error(lambda: account.api_get(fields=["id"]))
    assert (err.api_error_code(), err.api_error_subcode()) == (80004, 2446079)
    entries = json.loads(err.http_headers()["x-business-use-case-usage"])
    assert all(e["call_count"] == 100 for e in next(iter(entries.values())))
