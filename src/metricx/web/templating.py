"""The Jinja2 environment of the web app, its filters, and the page renderer."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from metricx.web import formatting
from metricx.web.assets import STATIC_DIR, asset_url
from metricx.web.dashboard_view import column_value

__all__ = ["STATIC_DIR", "is_htmx", "render", "templates"]

templates = Environment(
    loader=PackageLoader("metricx.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    money=formatting.money,
    number=formatting.number,
    percent=formatting.percent,
    multiple=formatting.multiple,
    seconds=formatting.seconds,
    result_label=formatting.result_label,
    ago=formatting.ago,
    in_=formatting.in_,
    local_time=formatting.local_time,
    column=column_value,
)
templates.globals["asset"] = asset_url


def is_htmx(request: Request) -> bool:
    """An htmx request for a fragment; a history restore (Back to a page htmx no longer has
    in its cache) wants the whole page."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"
    )


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)
