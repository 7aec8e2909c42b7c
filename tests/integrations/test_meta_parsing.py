"""Meta's wire format, parsed from real payloads kept in tests/fixtures/meta/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricx.integrations.meta.entities import child_record, goal_for, parse_meta_time
from metricx.integrations.meta.errors import (
    BadRequestError,
    PermissionLostError,
    ThrottledError,
    TokenInvalidError,
    TransientError,
    classify,
    scrub,
)
from metricx.integrations.meta.insights import is_complete
from metricx.integrations.meta.rate_limit import UsageGovernor, parse_usage, retry_after

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((PAYLOADS / name).read_text())


def outcome(name: str) -> type:
    err = load(name)["error"]
    return type(
        classify(
            code=err.get("code"),
            subcode=err.get("error_subcode"),
            message=err.get("message", ""),
            http_status=400,
            is_transient=bool(err.get("is_transient")),
            retry_after=60,
        )
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("error_190_463_expired.real_2023.json", TokenInvalidError),
        ("error_190_460_password_changed.airbyte_test.json", TokenInvalidError),
        ("error_190_458_app_not_authorized.airbyte_test.json", TokenInvalidError),
        ("error_200_requires_business_management.airbyte_test.json", PermissionLostError),
        ("error_100_33_unsupported_get.airbyte_test.json", PermissionLostError),
        ("error_17_user_request_limit.real_2017.json", ThrottledError),
        ("error_4_application_request_limit.real_2019.json", ThrottledError),
        ("error_80000_ads_insights_buc.airbyte_test.json", ThrottledError),
        ("error_80004_ads_management_buc.real_2021.json", ThrottledError),
        ("error_2_service_unavailable_transient.airbyte_test.json", TransientError),
        ("error_2601_adreport_not_ready.real_2017.json", TransientError),
        ("error_100_cursor_limit.doc.json", BadRequestError),
    ],
)
def test_real_error_payloads_become_typed_outcomes(payload: str, expected: type) -> None:
    assert outcome(payload) is expected


def test_usage_headers_from_the_docs_are_read() -> None:
    samples = load("rate_limit_headers.json")
    buc = samples["x-business-use-case-usage"]["doc_sample_ads_insights"]
    usage = parse_usage({"X-Business-Use-Case-Usage": buc})
    assert usage is not None and usage.pct == 97 and usage.regain_seconds == 0
    throttled = samples["x-business-use-case-usage"]["doc_sample_throttled_template"]
    assert retry_after({"x-business-use-case-usage": throttled}) == 19 * 60
    account = samples["x-ad-account-usage"]["doc_sample"]
    assert parse_usage({"x-ad-account-usage": account}).pct == pytest.approx(9.67)  # type: ignore[union-attr]
    assert parse_usage({"x-ad-account-usage": "not json"}) is None


def test_governor_slows_down_only_above_the_threshold() -> None:
    slept: list[float] = []
    gov = UsageGovernor(threshold=75, max_pause=20, sleep=slept.append)
    gov.observe({"x-ad-account-usage": json.dumps({"acc_id_util_pct": 50})})
    gov.before_call()
    gov.observe({"x-ad-account-usage": json.dumps({"acc_id_util_pct": 95})})
    gov.before_call()
    assert slept == [pytest.approx(16.0)]


def test_report_is_complete_only_when_completed_and_at_100() -> None:
    running = load("adreportrun_status.running_at_100pct.real_2017.json")
    done = load("adreportrun_status.completed.real_2018.json")
    assert not is_complete(running)
    assert is_complete(done)


def test_entities_parse_meta_times_and_map_objectives() -> None:
    ad = load("ads_page.json")["data"][0]
    rec = child_record("ad", ad, {str(ad.get("campaign_id")): "OUTCOME_SALES"})
    assert rec.external_id == str(ad["id"]) and rec.parent_external_id == str(ad["adset_id"])
    assert rec.created_time is not None and rec.created_time.tzinfo is not None
    assert parse_meta_time("2024-03-12T15:02:47-0700").utcoffset().total_seconds() == -25200  # type: ignore[union-attr]
    assert goal_for("LINK_CLICKS") == "traffic" and goal_for("CONVERSIONS") == "sales"
    assert goal_for("SOMETHING_NEW") is None


def test_scrub_removes_tokens_proofs_and_query_strings() -> None:
    text = (
        "HTTPSConnectionPool: Max retries exceeded with url: /v25.0/act_1/ads?access_token=EAAB"
        "xyz&appsecret_proof=abc123 (token EAABsecretvalue)"
    )
    out = scrub(text, ["EAABsecretvalue"])
    assert "EAAB" not in out and "abc123" not in out and "/v25.0/act_1/ads" in out
