"""Numbers as a marketer reads them: currencies, thousands separators, percentages, ages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "AUD": "A$",
    "CAD": "CA$",
    "BRL": "R$",
    "CHF": "CHF ",
}
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD"})
DASH = "\u2013"  # en dash


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: object, currency: str, *, precise: bool = False) -> str:
    """``$12,345.67``, ``¥1,235``; small unit prices (CPC, CPM) keep cents with ``precise``."""
    amount = _decimal(value)
    if amount is None:
        return DASH
    places = 0 if currency in ZERO_DECIMAL and not precise else 2
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.{places}f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def number(value: object, places: int = 0) -> str:
    """``1,234,567``; a decimal count (conversions can be fractional) keeps ``places``."""
    amount = _decimal(value)
    if amount is None:
        return DASH
    if places == 0 and amount != amount.to_integral_value():
        places = 1
    return f"{amount:,.{places}f}"


def percent(value: object, places: int = 2) -> str:
    """A ratio as a percentage: 0.01234 -> ``1.23%``."""
    ratio = _decimal(value)
    if ratio is None:
        return DASH
    return f"{ratio * 100:,.{places}f}%"


def multiple(value: object) -> str:
    """ROAS as a multiple: ``3.45x`` with a multiplication sign."""
    ratio = _decimal(value)
    return DASH if ratio is None else f"{ratio:,.2f}\u00d7"


def compact(value: float) -> str:
    """Axis labels: 1.2k, 3.4M."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return in_(when, now)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def in_(when: datetime | None, now: datetime | None = None) -> str:
    """``in 5 min``, ``in 3 h``, ``in 12 days``; ``due now`` once passed."""
    if when is None:
        return "not scheduled"
    now = now or datetime.now(UTC)
    seconds = (when - now).total_seconds()
    if seconds <= 60:
        return "due now"
    if seconds < 3600:
        return f"in {int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"in {int(seconds // 3600)} h"
    return f"in {int(seconds // 86400)} days"


def local_time(when: datetime | None, tz: str) -> str:
    """``26 Nov 2026, 14:05`` in the viewer's time zone."""
    if when is None:
        return DASH
    return when.astimezone(ZoneInfo(tz)).strftime("%-d %b %Y, %H:%M")


def seconds(value: object) -> str:
    """An average play time: ``7.4 s``."""
    amount = _decimal(value)
    return DASH if amount is None else f"{amount:,.1f} s"


# What Ads Manager calls a result, by the result indicator the query rows carry.
RESULT_LABELS = {
    "actions:offsite_conversion.fb_pixel_purchase": "Website purchases",
    "actions:purchase": "Purchases",
    "actions:omni_purchase": "Purchases",
    "actions:link_click": "Link clicks",
    "actions:landing_page_view": "Landing page views",
    "actions:omni_landing_page_view": "Landing page views",
    "actions:lead": "Leads",
    "actions:onsite_conversion.lead_grouped": "Leads",
    "actions:onsite_conversion.messaging_conversation_started_7d": "Messaging conversations",
    "actions:post_engagement": "Post engagements",
    "actions:video_view": "3-second video plays",
    "video_thruplay_watched_actions": "ThruPlays",
    "reach": "Reach",
    "impressions": "Impressions",
    "total_profile_visits": "Profile visits",
}


def result_label(kind: object) -> str:
    """A result type as Ads Manager names it (``actions:link_click`` -> ``Link clicks``)."""
    text = str(kind or "")
    if text in RESULT_LABELS:
        return RESULT_LABELS[text]
    name = text.removeprefix("actions:")
    if name.startswith("offsite_conversion.custom."):
        return "Custom conversion"
    if name.startswith("offsite_conversion.fb_pixel_"):
        return "Website " + name.removeprefix("offsite_conversion.fb_pixel_").replace("_", " ")
    return name.replace("_", " ").replace(".", " ").capitalize()
