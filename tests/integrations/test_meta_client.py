"""MetaAdsClient through the real facebook-business SDK against the sandbox."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.errors import (
    PermissionLostError,
    ThrottledError,
    TokenInvalidError,
    TransientError,
)
from metricx.logging import configure_logging
from tests.meta_sandbox import MetaSandbox


def client_for(
    box: MetaSandbox, tmp_path: Path, token: str | None = None, **settings: object
) -> MetaAdsClient:
    # Sleeping moves the sandbox's frozen clock: waits are real to Meta, instant to the test.
    return MetaAdsClient.from_settings(
        box.settings(tmp_path, None, **settings), token or box.token(), sleep=box.advance
    )


def test_hierarchy_includes_deleted_and_archived_in_few_calls(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    client = client_for(meta_sandbox, tmp_path)
    account = meta_sandbox.state.world.accounts[0]
    ads = list(client.iter_ads(account.id))
    assert sorted(a["id"] for a in ads) == sorted(ad.id for ad in account.ads)
    statuses = {a["effective_status"] for a in ads}
    assert {"DELETED", "ARCHIVED", "ACTIVE"} <= statuses
    assert client.stats.calls == 3  # 2,200 ads at 1,000 per page
    assert len(list(client.iter_campaigns(account.id))) == len(account.campaigns)
    assert len(list(client.iter_adsets(account.id, include_deleted=False))) < len(account.adsets)


def test_accounts_are_listed_with_currency_and_timezone(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    accounts = list(client_for(meta_sandbox, tmp_path).iter_ad_accounts())
    assert [a.id for a in accounts] == meta_sandbox.accounts()
    assert all(a.currency and a.timezone and a.account_status == 1 for a in accounts)


def test_sync_and_async_insights_return_the_same_rows(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    client = client_for(meta_sandbox, tmp_path)
    account = meta_sandbox.accounts()[0]
    query = {
        "level": "campaign",
        "fields": ["campaign_id", "spend", "impressions", "date_start"],
        "time_range": {"since": "2026-03-15", "until": "2026-03-18"},
        "time_increment": 1,
        "page_size": 25,
    }
    rows = list(client.get_insights(account, **query))  # type: ignore[arg-type]
    assert len(rows) > 25  # more than one page, streamed
    run_id = client.start_async_insights(account, **query)  # type: ignore[arg-type]
    status = client.wait_for_report(run_id, first_poll=1, max_poll=1)
    assert status["async_status"] == "Job Completed"
    assert float(status["async_percent_completion"]) == 100
    async_rows = list(client.iter_report_results(run_id, page_size=50))

    def key(r: dict) -> tuple:  # type: ignore[type-arg]
        return (r["campaign_id"], r["date_start"], r["spend"], r["impressions"])

    assert sorted(map(key, rows)) == sorted(map(key, async_rows))


def test_expired_token_is_token_invalid(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    client = client_for(meta_sandbox, tmp_path, token=meta_sandbox.token(ttl=60))
    meta_sandbox.advance(120)
    with pytest.raises(TokenInvalidError, match="expired"):
        client.get_ad_account(meta_sandbox.accounts()[0])


def test_revoked_token_is_token_invalid(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    token = meta_sandbox.token()
    meta_sandbox.revoke(token)
    with pytest.raises(TokenInvalidError, match="password or revoked") as err:
        client_for(meta_sandbox, tmp_path, token=token).get_ad_account(meta_sandbox.accounts()[0])
    assert err.value.subcode == 460


def test_lost_permission_is_permission_lost(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    meta_sandbox.faults(permission_loss="200")
    with pytest.raises(PermissionLostError, match="Meta denies access"):
        list(client_for(meta_sandbox, tmp_path).iter_campaigns(meta_sandbox.accounts()[0]))


def test_throttling_waits_as_long_as_meta_says(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    meta_sandbox.tier("development")  # 60 points, blocked 300 s when reached
    client = client_for(meta_sandbox, tmp_path, meta_slowdown_usage_pct=100.0)
    account = meta_sandbox.accounts()[0]
    for _ in range(70):
        client.get_ad_account(account)
    assert client.stats.throttled_seconds == 300  # Meta's estimated_time_to_regain_access


def test_slows_down_before_the_budget_runs_out(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    meta_sandbox.tier("development")
    client = client_for(meta_sandbox, tmp_path)
    account = meta_sandbox.accounts()[0]
    for _ in range(120):
        client.get_ad_account(account)
    assert client.transport.governor.paused_seconds > 0
    assert client.stats.throttled_seconds == 0  # never hit the limit


def test_throttled_call_waits_metas_reset_time_once_then_goes_on(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    # The account's score is used up by other traffic: 7 s of the block left, in seconds in
    # x-ad-account-usage (the BUC quotas are fine, so no minute estimate).
    meta_sandbox.faults(throttle_rate=1.0, throttle_seconds=7)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        meta_sandbox.advance(seconds)
        meta_sandbox.http.delete("/_sandbox/faults")  # the block is over

    client = MetaAdsClient.from_settings(
        meta_sandbox.settings(tmp_path, None), meta_sandbox.token(), sleep=sleep
    )
    account = meta_sandbox.accounts()[0]
    assert client.get_ad_account(account).id == account
    # Meta's estimate, waited once: the 100% reading that came with the error is over with
    # the block, so the slow-down governor adds no second pause before the retry.
    assert waits == [7]
    assert client.stats.throttled_seconds == 7 and client.stats.calls == 2
    assert client.transport.governor.paused_seconds == 0


def test_throttle_longer_than_the_cap_is_raised(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    meta_sandbox.tier("development")
    client = client_for(
        meta_sandbox, tmp_path, meta_slowdown_usage_pct=100.0, meta_max_throttle_wait_seconds=10
    )
    with pytest.raises(ThrottledError) as err:
        for _ in range(70):
            client.get_ad_account(meta_sandbox.accounts()[0])
    assert err.value.retry_after == 300


def test_transient_errors_are_retried_with_backoff(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    meta_sandbox.faults(transient_rate=0.4, error_500_rate=0.2)
    client = client_for(meta_sandbox, tmp_path, meta_max_retries=8)
    account = meta_sandbox.state.world.accounts[0]
    ads = list(client.iter_edge(account.id, "ads", ["id"], page_size=200))
    assert len(ads) == len(account.ads)
    assert client.stats.retries > 0


def test_persistent_failure_gives_up_after_the_retries(
    meta_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    meta_sandbox.faults(error_500_rate=1.0)
    client = client_for(meta_sandbox, tmp_path, meta_max_retries=3)
    with pytest.raises(TransientError):
        client.get_ad_account(meta_sandbox.accounts()[0])
    assert client.stats.calls == 4


def test_every_call_has_a_timeout(meta_sandbox: MetaSandbox, tmp_path: Path) -> None:
    meta_sandbox.faults(timeout_rate=1.0, timeout_seconds=5)
    client = client_for(meta_sandbox, tmp_path, meta_read_timeout_seconds=0.3, meta_max_retries=1)
    started = time.monotonic()
    with pytest.raises(TransientError, match="in time"):
        client.get_ad_account(meta_sandbox.accounts()[0])
    assert time.monotonic() - started < 3


@pytest.fixture
def log_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Production logging at DEBUG (urllib3's URL lines too) into a buffer, put back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging("json", "DEBUG")
    # pytest swaps sys.stderr between phases; write structlog's lines to the buffer itself.
    structlog.configure(logger_factory=lambda *_a: structlog.PrintLogger(file=buffer))
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        root.handlers, level = saved
        root.setLevel(level)
        logging.getLogger("urllib3").setLevel(logging.WARNING)


def test_no_token_or_proof_reaches_logs_or_errors(
    meta_sandbox: MetaSandbox,
    tmp_path: Path,
    log_output: io.StringIO,
) -> None:
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    token = meta_sandbox.token()
    client = client_for(meta_sandbox, tmp_path, token=token, meta_max_retries=2)
    proof = client.transport.api._session.appsecret_proof
    meta_sandbox.faults(error_500_rate=1.0)
    messages = []
    with pytest.raises(TransientError) as err:
        client.get_ad_account(meta_sandbox.accounts()[0])
    messages.append(str(err.value))
    meta_sandbox.faults(reset=True, timeout_rate=1.0, timeout_seconds=3)
    fast = client_for(meta_sandbox, tmp_path, token=token, meta_read_timeout_seconds=0.2)
    with pytest.raises(TransientError) as err2:
        fast.get_ad_account(meta_sandbox.accounts()[0])
    messages.append(str(err2.value))
    meta_sandbox.faults(reset=True)
    meta_sandbox.revoke(token)
    with pytest.raises(TokenInvalidError) as err3:
        client.get_ad_account(meta_sandbox.accounts()[0])
    messages.append(str(err3.value))
    everything = log_output.getvalue() + "\n".join(messages)
    assert "retrying" in everything  # the retries were logged
    assert "appsecret_proof=***" in everything  # urllib3 logged the URL, redacted
    assert "access_token=" not in everything  # the token is in a header, never a URL
    for secret in (token, proof, meta_sandbox.config.app_secret):
        assert secret not in everything
