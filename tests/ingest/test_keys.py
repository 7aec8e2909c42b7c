"""The natural key's documented formula."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from metricx.ingest.keys import FACT_NAMESPACE, natural_key_for


def test_natural_key_is_the_documented_uuid5() -> None:
    ws = uuid.UUID("00000000-0000-0000-0000-000000000001")
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    expected = uuid.uuid5(FACT_NAMESPACE, f"{ws}|meta|ad|123|hour|2026-01-05T10:00:00Z")
    assert natural_key_for(ws, "meta", "ad", "123", "hour", at) == expected
    assert uuid.UUID("aad77e3d-f59c-5d6c-bd01-5ab6d089f40b") == FACT_NAMESPACE
    shifted = at.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert natural_key_for(ws, "meta", "ad", "123", "hour", shifted) == expected
    assert natural_key_for(ws, "meta", "ad", "123", "day", at) != expected
    assert natural_key_for(uuid.uuid4(), "meta", "ad", "123", "hour", at) != expected


def test_hot_path_key_text_matches_the_formula() -> None:
    from metricx.ingest.keys import natural_key_text

    ws = uuid.uuid4()
    for ext in ("1", "23842", "a|b", "ünï"):
        for hour in range(0, 24, 5):
            at = datetime(2026, 2, 3, hour, tzinfo=UTC)
            assert natural_key_text(
                f"{ws}|meta|ad|{ext}|", "hour", at.strftime("%Y-%m-%dT%H:%M:%SZ")
            ) == str(natural_key_for(ws, "meta", "ad", ext, "hour", at))
