"""`make fuzz`: the long Schemathesis campaign, every operation with many examples, in
METRICX_FUZZ_SHARDS shards of their own seed (one per test process); with
METRICX_FUZZ_PROGRESS=path, each shard appends its counts so far to path.N every 30 s. Run
by `make fuzz` only: the suite's bounded runs are test_openapi_fuzz*.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.campaign import SEED, FuzzTarget, run_campaign

SHARDS = int(os.environ.get("METRICX_FUZZ_SHARDS", "2"))

pytestmark = pytest.mark.skipif(
    not os.environ.get("METRICX_FUZZ_CAMPAIGN"), reason="the long campaign: run `make fuzz`"
)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_long_campaign_finds_nothing_wrong(fuzz_target: FuzzTarget, shard: int) -> None:
    progress = os.environ.get("METRICX_FUZZ_PROGRESS")
    result = run_campaign(
        fuzz_target,
        seed=SEED + shard,
        progress=Path(f"{progress}.{shard}") if progress else None,
    )
    print(f"shard {shard} (seed {SEED + shard}): {result.summary()}")
    for failure in result.failures[:50]:
        print(failure)
    assert not result.errors, "\n".join(result.errors)
    assert not result.failures, result.summary()
