"""The natural key of a metric fact: what makes the same fact from the same source one row.

    natural_key = uuid5(FACT_NAMESPACE,
                        f"{workspace_id}|{provider}|{level}|{external_id}|{granularity}|{utc}")

where ``workspace_id`` is the workspace's UUID in canonical lower-case form, ``provider``,
``level`` and ``granularity`` are the enum values (``meta``, ``ad``, ``hour``...),
``external_id`` is the provider's id of the entity exactly as stored, and ``utc`` is the
bucket's start in UTC as ``YYYY-MM-DDTHH:MM:SSZ``. ``FACT_NAMESPACE`` is
``uuid5(NAMESPACE_URL, "https://metricx.dev/ns/metric-fact")``
= ``aad77e3d-f59c-5d6c-bd01-5ab6d089f40b``.

Every part but ``external_id`` has a fixed alphabet without ``|``, so the string splits
unambiguously from both ends: two different facts never share a key, across workspaces,
providers, levels or granularities. The key is computed by the server; clients never send it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

FACT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://metricx.dev/ns/metric-fact")
_NAMESPACE_BYTES = FACT_NAMESPACE.bytes
_VARIANT = "89ab89ab89ab89ab"  # RFC 4122 variant bits over the 17th hex digit


def utc_stamp(event_at_utc: datetime) -> str:
    """The bucket start as it enters the key: UTC, second precision, ``Z`` suffix."""
    if event_at_utc.tzinfo is None:
        raise ValueError("event_at_utc must be timezone-aware")
    return event_at_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def natural_key_for(
    workspace_id: uuid.UUID,
    provider: str,
    level: str,
    external_id: str,
    granularity: str,
    event_at_utc: datetime,
) -> uuid.UUID:
    """The fact's natural key (see the module docstring for the formula)."""
    return uuid.uuid5(
        FACT_NAMESPACE,
        f"{workspace_id}|{provider}|{level}|{external_id}|{granularity}|{utc_stamp(event_at_utc)}",
    )


def natural_key_text(key_prefix: str, granularity: str, stamp: str) -> str:
    """The same key as ``natural_key_for``, as its canonical text, without building UUID
    objects: the ingest hot path. ``key_prefix`` is ``f"{workspace_id}|{provider}|{level}|
    {external_id}|"`` and ``stamp`` is ``utc_stamp(event_at_utc)``."""
    h = hashlib.sha1(
        _NAMESPACE_BYTES + f"{key_prefix}{granularity}|{stamp}".encode(), usedforsecurity=False
    ).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:32]}"
