"""End-to-end fixtures: a real Chromium (Debian's, installed by `make browser`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

FAILURES = Path("test-artifacts/failures")

CHROMIUM = os.environ.get("METRICX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests in a row. Package-scoped, not session-scoped:
    Playwright's sync API leaves its event loop marked as running on this thread while it is
    open, so any later test in the same process that calls asyncio.run() would fail."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: run 'make browser' (the test command does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and isinstance(page, Page):
        report.sections.append(("the browser at failure", _show_failure(page, item.name)))
    return report


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def _show_failure(pg: Page, name: str) -> str:
    """What the browser showed when a test failed: a screenshot in test-artifacts/failures,
    and the page's address and text for the test's report (all CI keeps is its output)."""
    try:
        FAILURES.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(FAILURES / f"{name}.png"), full_page=True)
        text = pg.inner_text("body", timeout=2_000)
    except Exception as exc:  # the page may be gone; the test's own error matters more
        text = f"(could not read the page: {exc})"
    return f"{pg.url}\n{text[:4000]}"
