"""The Schemathesis run of test_openapi_fuzz.py over the operations that take a time zone:
their coverage phase sends each of the zone names the document lists, so they are a file of
their own, which a second test process can run meanwhile."""

from __future__ import annotations

from tests.fuzz.campaign import ZONE_TAGS, FuzzTarget, run_campaign


def test_schemathesis_finds_nothing_wrong_where_a_time_zone_is_taken(
    fuzz_target: FuzzTarget,
) -> None:
    result = run_campaign(fuzz_target, tags=ZONE_TAGS)
    print(result.summary())
    assert len(result.operations) >= 6, result.operations
    assert not result.errors, "\n".join(result.errors)
    assert not result.failures, f"{result.summary()}\n" + "\n".join(result.failures[:20])
