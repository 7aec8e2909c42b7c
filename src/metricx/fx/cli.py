"""`metricx fx load FILE` and `metricx fx fetch`: the operator's exchange rates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from metricx.console import JsonFlag, emit, fail, in_transaction
from metricx.runtime import Runtime

MAX_FILE_BYTES = 100 * 1024 * 1024


def _summary(loaded: Any) -> dict[str, Any]:
    return {
        "rates": loaded.rates,
        "changed": loaded.changed,
        "first_day": str(loaded.first_day) if loaded.first_day else None,
        "last_day": str(loaded.last_day) if loaded.last_day else None,
        "currencies": loaded.currencies,
    }


def _human(out: dict[str, Any]) -> str:
    return (
        f"{out['rates']} rates ({out['changed']} new or changed) for "
        f"{len(out['currencies'])} currencies, {out['first_day']} to {out['last_day']}"
    )


def register(app: typer.Typer) -> None:
    fx_app = typer.Typer(help="Exchange rates (units per one euro).", no_args_is_help=True)
    app.add_typer(fx_app, name="fx")

    @fx_app.command("load")
    def fx_load(
        file: Annotated[Path, typer.Argument(help="The ECB's CSV or XML, or date,currency,rate.")],
        carry_forward: Annotated[
            int,
            typer.Option(
                min=0,
                max=7,
                help="Fill the days after each rate that have none (weekends, holidays) with "
                "it, marked as carried; a published rate later replaces it.",
            ),
        ] = 0,
        as_json: JsonFlag = False,
    ) -> None:
        """Load operator-wide rates from a file: the ECB's reference-rate CSV (a Date column,
        then one column per currency) or XML, or a CSV with the header date,currency,rate.
        All or nothing: a bad line is reported with its number and nothing is stored."""
        from metricx.fx.formats import FormatError, parse_any
        from metricx.fx.service import problems, store

        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                fail(f"{file}: larger than 100 MB", as_json=as_json, code="invalid_input")
            content = file.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}", as_json=as_json, code="invalid_input")
        except UnicodeDecodeError:
            fail(f"{file}: not UTF-8 text", as_json=as_json, code="invalid_input")
        try:
            parsed = parse_any(content)
        except FormatError as exc:
            fail(f"{file}: {exc}; nothing stored", as_json=as_json, code="invalid_input")
        bad = problems(parsed)
        if not bad and not parsed.rates:
            bad = ["the file holds no rates"]
        if bad:
            fail(
                f"{file}: {len(bad)} problem(s), nothing stored:\n  " + "\n  ".join(bad),
                as_json=as_json,
                code="invalid_input",
            )

        def work(session: Session, _rt: Runtime) -> dict[str, Any]:
            loaded = store(
                session,
                parsed.rates,
                workspace_id=None,
                source="file",
                carry_days=carry_forward,
            )
            return _summary(loaded)

        out = in_transaction(as_json, work)
        emit(out, as_json, _human(out))

    @fx_app.command("fetch")
    def fx_fetch(as_json: JsonFlag = False) -> None:
        """Fetch the rates at METRICX_FX_URL now (what the worker does every hour)."""
        from metricx.config import get_settings
        from metricx.fx.service import fetch_and_store

        settings = get_settings()
        if not settings.fx_url:
            fail("METRICX_FX_URL is not set", as_json=as_json, code="not_configured")
        url = settings.fx_url

        def work(session: Session, rt: Runtime) -> dict[str, Any]:
            loaded = fetch_and_store(
                session,
                url,
                timeout=rt.settings.fx_timeout_seconds,
                carry_days=rt.settings.fx_carry_forward_days,
            )
            return _summary(loaded)

        try:
            out = in_transaction(as_json, work)
        except Exception as exc:  # the feed unreachable or malformed: say so, exit 1
            if isinstance(exc, typer.Exit):
                raise
            fail(f"cannot fetch {url}: {exc}", as_json=as_json, code="fetch_failed")
        emit(out, as_json, _human(out))
