"""The dashboard's reporting currency: the marker over converted figures, the one-click
switch between converted and per-currency figures, the message for missing rates, and the
form that sets the workspace's reporting currency.

The conversion itself is the query layer's (``metrics/currency.py``): with a reporting
currency the answer's totals, series and groups are already converted, so the tiles, chart
and table sort follow without a change of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from metricx.auth.dependencies import DbSession
from metricx.errors import InvalidInput
from metricx.ingest.currencies import is_known_currency
from metricx.kit.inputs import Text
from metricx.metrics.currency import MISSING_NOTE
from metricx.metrics.schemas import MetricQueryResult
from metricx.web.context import CsrfViewer, PageWorkspace
from metricx.web.dashboard_view import DashboardFilters
from metricx.workspaces.service import update_workspace

router = APIRouter(include_in_schema=False)
# Offered besides the currencies in view and the workspace's.
COMMON = ("EUR", "USD", "GBP", "JPY")
MAX_MISSING_SHOWN = 6


@dataclass
class CurrencyBar:
    target: str | None  # what the figures are converted to; None: per currency
    workspace_default: str | None
    sources: list[str] = field(default_factory=list)
    native_url: str = ""  # the same view per currency
    convert_urls: list[tuple[str, str]] = field(default_factory=list)  # (code, url)
    missing: list[str] = field(default_factory=list)  # "JPY on 2026-11-04"
    missing_more: int = 0
    choices: list[str] = field(default_factory=list)

    @property
    def sources_text(self) -> str:
        names = {
            "operator:file": "loaded rates",
            "operator:fetch": "the rate feed",
            "workspace:api": "this workspace's rates",
        }
        return ", ".join(names.get(s, s) for s in self.sources)


def currency_bar(
    result: MetricQueryResult | None, filters: DashboardFilters, base: str, default: str | None
) -> CurrencyBar | None:
    """What the bar shows for this answer; None when there is nothing to say (one currency
    and no reporting currency)."""
    if result is None:
        return None
    target = result.reporting_currency
    in_view = sorted({c for t in result.totals for c in (t.original_currencies or [t.currency])})
    if target is None and len(in_view) <= 1 and not default:
        return None
    bar = CurrencyBar(target=target, workspace_default=default, sources=result.rate_sources)
    bar.native_url = filters.url(base, currency="native")
    offered = list(dict.fromkeys([*([default] if default else []), *in_view]))
    bar.convert_urls = [
        (c, filters.url(base, currency="" if c == default else c)) for c in offered if c != target
    ]
    missing = [f"{m.currency} on {m.day:%-d %b %Y}" for m in result.missing_rates]
    bar.missing, bar.missing_more = (
        missing[:MAX_MISSING_SHOWN],
        max(0, len(missing) - MAX_MISSING_SHOWN),
    )
    bar.choices = list(dict.fromkeys([*COMMON, *in_view]))
    return bar


def without_missing_note(result: MetricQueryResult | None) -> MetricQueryResult | None:
    """The answer without its note on missing rates, which the bar says in full (a copy:
    answers are shared through the query cache)."""
    if result is None or not result.missing_rates:
        return result
    notes = [n for n in result.notes if not n.startswith(MISSING_NOTE)]
    return result.model_copy(update={"notes": notes})


@router.post("/w/{workspace_id}/reporting-currency")
def set_reporting_currency(
    ws: PageWorkspace,
    _viewer: CsrfViewer,
    session: DbSession,
    currency: Annotated[Text, Form()] = "",
    back: Annotated[Text, Form()] = "",
) -> Response:
    """The workspace's reporting currency ("" for none), from the dashboard's form."""
    ws.require_admin()
    code = currency.strip().upper()
    if code and not is_known_currency(code):
        raise InvalidInput(f"unknown currency {code[:10]!r}: use an ISO 4217 code such as EUR")
    update_workspace(
        session,
        workspace=ws.workspace,
        name=None,
        timezone=None,
        reporting_currency=code,
    )
    home = f"/w/{ws.workspace.id}"
    target = back if back.startswith(home + "?") or back == home else home
    return RedirectResponse(target, status_code=303)
