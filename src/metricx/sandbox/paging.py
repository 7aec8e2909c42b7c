"""Graph cursor paging: `{"data": [...], "paging": {"cursors": {...}, "previous", "next"}}`.

Cursors are positions, encoded as Meta's insights cursors look ("MAZDZD" = base64 "0" with
"=" spelled "ZD"). The SDK ignores `next` and re-sends its params with `after`, so every
edge and report reads `after` (and `before`) itself.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from metricx.sandbox import errors

DEFAULT_LIMIT = 25
MAX_LIMIT = 5000


def encode_cursor(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode().replace("=", "ZD")


def decode_cursor(cursor: str) -> int:
    text = cursor
    pad = 0
    while text.endswith("ZD") and pad < 2:
        text, pad = text[:-2], pad + 1
    try:
        value = int(base64.b64decode(text + "=" * pad, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.invalid_param("The after cursor is not valid") from None
    if value < 0:
        raise errors.invalid_param(
            "The After Cursor specified exceeds the max limit supported by this endpoint"
        )
    return value


def parse_limit(params: dict[str, str], default: int = DEFAULT_LIMIT) -> int:
    raw = params.get("limit")
    if raw in (None, ""):
        return default
    try:
        limit = int(str(raw))
    except ValueError:
        raise errors.invalid_param("Param limit must be an integer") from None
    return max(1, min(limit, MAX_LIMIT))


def start_position(params: dict[str, str], limit: int) -> int:
    if params.get("after"):
        return decode_cursor(params["after"])
    if params.get("before"):
        return max(0, decode_cursor(params["before"]) - limit)
    return 0


def paging_block(
    base_url: str, params: dict[str, str], start: int, end: int, has_more: bool, returned: int
) -> dict[str, Any]:
    """`end` is the position after the last scanned item (the next page starts there)."""
    keep = {k: v for k, v in params.items() if k not in ("after", "before")}
    block: dict[str, Any] = {
        "cursors": {"before": encode_cursor(start), "after": encode_cursor(end)}
    }
    if start > 0:
        block["previous"] = f"{base_url}?{urlencode({**keep, 'before': encode_cursor(start)})}"
    if has_more:
        block["next"] = f"{base_url}?{urlencode({**keep, 'after': encode_cursor(end)})}"
    if returned == 0 and not has_more and start == 0:
        return {}
    return block
