"""Every action type under every attribution window of a daily ad-level insights row, and
Meta's custom conversions: the one place that reads the window keys of ``actions`` /
``action_values`` elements (AdsActionStats) and the ``customconversions`` edge.

An AdsActionStats element is ``{"action_type": t, "value": v, "<window>": w, ...}``, numbers as
strings: ``value`` is the figure under the ad set's own attribution setting (kept as the window
``default``), and each window asked with ``action_attribution_windows`` has its own key, present
only when that window counted something (an absent key is no figure, not 0). Counts come from
``actions``, values from ``action_values``; an action type with a count and no value has a null
value (and the reverse). A type repeated in the list (Meta does that only with action
breakdowns) is summed.

``attribution_setting`` (e.g. "7d_click_1d_view", "1d_view_7d_click", "1d_click") is stored
normalised: its window tokens sorted and comma-joined ("1d_view,7d_click"), since Meta's token
order varies; a value without window tokens is kept as sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from metricx.config import ATTRIBUTION_WINDOWS, RETIRED_ATTRIBUTION_WINDOWS
from metricx.integrations.meta.actions import number
from metricx.integrations.meta.client import MetaAdsClient, act_id

DEFAULT_WINDOW = "default"
# The insights fields the action facts need besides ``actions``/``action_values``.
ACTION_FIELDS = ("attribution_setting",)
# Window keys read from an element: the ones Meta returns today and the retired ones (an old
# report may still carry them); which of them a row has depends on what was asked.
WINDOW_KEYS = (*ATTRIBUTION_WINDOWS, *RETIRED_ATTRIBUTION_WINDOWS)
CUSTOM_PREFIX = "offsite_conversion.custom."
CUSTOM_CONVERSION_FIELDS = (
    "id",
    "account_id",
    "name",
    "custom_event_type",
    "rule",
    "is_archived",
    "is_unavailable",
    "creation_time",
    "default_conversion_value",
)
_TOKEN = re.compile(r"\d+d_(?:click|view|ev)")


@dataclass(frozen=True, slots=True)
class ActionFigure:
    """One action type under one window: its count and its value (None: not reported)."""

    action_type: str
    window: str
    count: Decimal | None
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class AdDayActions:
    """Every action figure of one ad's local day, and the attribution setting it was under."""

    ad_id: str
    day: date
    attribution_setting: str | None
    figures: tuple[ActionFigure, ...]


@dataclass(frozen=True, slots=True)
class CustomConversionRecord:
    external_id: str
    account_external_id: str  # act_<id>
    name: str
    custom_event_type: str | None
    rule: str | None
    is_archived: bool
    is_unavailable: bool
    default_conversion_value: Decimal | None
    creation_time: datetime | None


def normalize_setting(value: Any) -> str | None:
    """ "7d_click_1d_view" -> "1d_view,7d_click"; None or "" -> None."""
    if value in (None, ""):
        return None
    text = str(value)
    tokens = sorted(set(_TOKEN.findall(text)))
    return ",".join(tokens) if tokens else text


def _figures(items: Iterable[Any] | None) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = {}
    for item in items or ():
        if not isinstance(item, Mapping) or not item.get("action_type"):
            continue
        action_type = str(item["action_type"])
        for key, window in (("value", DEFAULT_WINDOW), *((w, w) for w in WINDOW_KEYS)):
            if item.get(key) is None:
                continue
            at = (action_type, window)
            out[at] = out.get(at, Decimal(0)) + number(item[key])
    return out


def action_figures(
    actions: Iterable[Any] | None, action_values: Iterable[Any] | None
) -> tuple[ActionFigure, ...]:
    """Every (action type, window) of a row's ``actions`` and ``action_values``, sorted."""
    counts = _figures(actions)
    values = _figures(action_values)
    return tuple(
        ActionFigure(action_type=t, window=w, count=counts.get((t, w)), value=values.get((t, w)))
        for t, w in sorted(counts.keys() | values.keys())
    )


def parse_ad_day_actions(row: Mapping[str, Any]) -> AdDayActions:
    """The action facts of one daily ad-level insights row."""
    return AdDayActions(
        ad_id=str(row["ad_id"]),
        day=date.fromisoformat(str(row["date_start"])[:10]),
        attribution_setting=normalize_setting(row.get("attribution_setting")),
        figures=action_figures(row.get("actions"), row.get("action_values")),
    )


def custom_action_id(action_type: str) -> str | None:
    """``offsite_conversion.custom.123`` -> "123"; other types -> None."""
    if action_type.startswith(CUSTOM_PREFIX):
        return action_type[len(CUSTOM_PREFIX) :] or None
    return None


def custom_action_type(external_id: str) -> str:
    return f"{CUSTOM_PREFIX}{external_id}"


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value)
    try:
        when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_custom_conversion(row: Mapping[str, Any], account_id: str) -> CustomConversionRecord:
    value = row.get("default_conversion_value")
    rule = row.get("rule")
    return CustomConversionRecord(
        external_id=str(row["id"]),
        account_external_id=act_id(str(row.get("account_id") or account_id)),
        name=str(row.get("name") or row["id"]),
        custom_event_type=str(row["custom_event_type"]) if row.get("custom_event_type") else None,
        rule=None if rule is None else rule if isinstance(rule, str) else str(rule),
        is_archived=_flag(row.get("is_archived")),
        is_unavailable=_flag(row.get("is_unavailable")),
        default_conversion_value=None if value in (None, "") else number(value),
        creation_time=_time(row.get("creation_time")),
    )


def fetch_custom_conversions(
    client: MetaAdsClient, account_id: str
) -> Iterator[CustomConversionRecord]:
    """Every custom conversion of the account (``act_X/customconversions``, paged)."""
    account = act_id(account_id)
    for row in client.iter_edge(
        account, "customconversions", CUSTOM_CONVERSION_FIELDS, include_deleted=False
    ):
        yield parse_custom_conversion(row, account)
