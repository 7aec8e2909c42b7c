"""A report as an e-mail (a plain-text part and an HTML one, every name escaped) and as a
webhook's JSON (Slack's ``text`` plus the figures as data, exactly as the query API gives
them: money as decimal text, counts as integers, ratios as fractions)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from metricx.models import ReportFrequency
from metricx.reports.content import Report, Tile, TopCampaign
from metricx.reports.periods import Period

DASH = "\u2013"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str) -> str:
    """Text for a header or a list line: control characters (line breaks) as one space."""
    return _CONTROL.sub(" ", text).strip()


def figure(value: Any, kind: str, currency: str | None = None) -> str:
    if value is None:
        return DASH
    if kind == "money":
        return f"{Decimal(str(value)):,} {currency}" if currency else f"{Decimal(str(value)):,}"
    if kind == "count":  # whole, or decimal text (conversions may be fractional)
        amount = Decimal(str(value))
        return f"{int(amount):,}" if amount == amount.to_integral_value() else f"{amount:,}"
    if kind == "percent":
        return f"{float(value) * 100:.2f}%"
    return f"{float(value):.2f}\u00d7"  # a multiple (ROAS)


def day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def period_text(start: date, end: date) -> str:
    return day_text(start) if start == end else f"{day_text(start)} {DASH} {day_text(end)}"


def heading(report: Report) -> str:
    what = "Yesterday" if report.frequency is ReportFrequency.DAILY else "Last 7 days"
    return f"{what}: {period_text(report.period.start, report.period.end)}"


def subject(report: Report) -> str:
    return one_line(
        f"[metricx] {report.title}: {report.workspace_name}, "
        f"{period_text(report.period.start, report.period.end)}"
    )


def tile_label(tile: Tile, report: Report) -> str:
    several = len(report.currencies) > 1
    return f"{tile.label} ({tile.currency})" if tile.currency and several else tile.label


def change_text(tile: Tile) -> str:
    previous = figure(tile.change.previous, tile.kind, tile.currency)
    return f"{tile.change.text} (before: {previous})"


def campaign_figures(c: TopCampaign) -> list[str]:
    return [
        figure(c.spend, "money", c.currency),
        figure(c.conversions, "count"),
        figure(c.roas, "multiple"),
        figure(c.cpa, "money", c.currency),
    ]


CAMPAIGN_COLUMNS = ("Campaign", "Account", "Spend", "Conversions", "ROAS", "CPA")


def text(report: Report) -> str:
    lines = [
        f"{report.title} {DASH} {one_line(report.workspace_name)}",
        heading(report),
        f"Compared with {period_text(report.previous.start, report.previous.end)}",
        "",
    ]
    for t in report.tiles:
        lines.append(
            f"{tile_label(t, report)}: {figure(t.value, t.kind, t.currency)}  {change_text(t)}"
        )
    lines += ["", f"Top campaigns by spend ({DASH} spend, conversions, ROAS, CPA)"]
    if not report.top_campaigns:
        lines.append("No campaign spent in this period.")
    for i, c in enumerate(report.top_campaigns, 1):
        spend, conversions, roas, cpa = campaign_figures(c)
        account = f" ({one_line(c.account)})" if c.account else ""
        lines.append(
            f"{i}. {one_line(c.name)}{account}: spend {spend}, conversions {conversions}, "
            f"ROAS {roas}, CPA {cpa}"
        )
    lines += ["", *report.notes, f"Open the dashboard: {report.dashboard_url}"]
    return "\n".join(lines) + "\n"


def html(report: Report) -> str:
    cell = 'style="padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:{}"'
    left, right = cell.format("left"), cell.format("right")
    tiles = "".join(
        f"<tr><td {left}>{escape(tile_label(t, report))}</td>"
        f"<td {right}><strong>{escape(figure(t.value, t.kind, t.currency))}</strong></td>"
        f"<td {right}>{escape(change_text(t))}</td></tr>"
        for t in report.tiles
    )
    head = "".join(
        f"<th {left if i < 2 else right}>{escape(h)}</th>" for i, h in enumerate(CAMPAIGN_COLUMNS)
    )
    rows = (
        "".join(
            f"<tr><td {left}>{escape(c.name)}</td><td {left}>{escape(c.account)}</td>"
            + "".join(f"<td {right}>{escape(v)}</td>" for v in campaign_figures(c))
            + "</tr>"
            for c in report.top_campaigns
        )
        or f'<tr><td {left} colspan="6">No campaign spent in this period.</td></tr>'
    )
    notes = "".join(f"<p>{escape(n)}</p>" for n in report.notes)
    return (
        '<!doctype html><html><body style="font-family:sans-serif;color:#111827">'
        f'<h1 style="font-size:18px">{escape(report.title)} {DASH} '
        f"{escape(report.workspace_name)}</h1>"
        f"<p>{escape(heading(report))}<br>Compared with "
        f"{escape(period_text(report.previous.start, report.previous.end))}</p>"
        f'<table style="border-collapse:collapse">{tiles}</table>'
        '<h2 style="font-size:16px">Top campaigns by spend</h2>'
        f'<table style="border-collapse:collapse"><tr>{head}</tr>{rows}</table>'
        f"{notes}"
        f'<p><a href="{escape(report.dashboard_url)}">Open the dashboard</a></p>'
        "</body></html>"
    )


def _dates(period: Period) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def payload(report: Report) -> dict[str, Any]:
    """Slack's ``text`` (a summary) and the report as data under ``report``."""
    return {
        "text": f"*{subject(report)}*\n{text(report)}",
        "event": "report",
        "report": {
            "workspace_id": str(report.workspace_id),
            "workspace_name": report.workspace_name,
            "name": report.title,
            "frequency": report.frequency.value,
            "period": _dates(report.period),
            "previous_period": _dates(report.previous),
            "tiles": [
                {
                    "metric": t.key,
                    "label": t.label,
                    "currency": t.currency,
                    "value": t.value,
                    "previous": t.change.previous,
                    "change": t.change.ratio,
                }
                for t in report.tiles
            ],
            "top_campaigns": [
                {
                    "id": c.id,
                    "name": c.name,
                    "account": c.account,
                    "currency": c.currency,
                    "spend": c.spend,
                    "conversions": c.conversions,
                    "roas": c.roas,
                    "cpa": c.cpa,
                }
                for c in report.top_campaigns
            ],
            "dashboard_url": report.dashboard_url,
            "notes": report.notes,
        },
    }
