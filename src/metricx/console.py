"""What every ``metricx`` command shares: printing (``--json`` or human), failing with a clear
message and exit code, and a runtime or a unit of work on the configured database.

Domain CLI modules (``connections/cli.py``, ``sync/cli.py``, ``ops/cli.py``) import these from
here and are mounted by ``metricx.cli``; they never import the entry point itself."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy.orm import Session

from metricx.config import Settings, get_settings
from metricx.db import unit_of_work
from metricx.errors import MetricxError
from metricx.logging import configure_logging
from metricx.runtime import Runtime, build_runtime

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
# Exit codes (README, "Exit codes"): 2 is click's usage error.
EXIT_FAILED = 1
EXIT_PARTIAL = 3


def fail(message: str, *, as_json: bool = False, code: str = "error") -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": {"code": code, "message": message}}), err=True)
    else:
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(EXIT_FAILED)


def emit(data: dict[str, Any], as_json: bool, human: str) -> None:
    typer.echo(json.dumps(data, default=str) if as_json else human)


@contextmanager
def runtime_for(settings: Settings | None = None, *, as_json: bool = False) -> Iterator[Runtime]:
    settings = settings or get_settings()
    configure_logging("console" if sys.stderr.isatty() else settings.log_format, "WARNING")
    try:
        runtime = build_runtime(settings)
    except Exception as exc:
        fail(f"cannot reach the database: {exc}", as_json=as_json, code="database_unreachable")
    try:
        yield runtime
    finally:
        runtime.dispose()


def in_transaction(as_json: bool, work: Callable[[Session, Runtime], Any]) -> Any:
    with runtime_for(as_json=as_json) as runtime:
        try:
            with unit_of_work(runtime.sessions) as session:
                return work(session, runtime)
        except MetricxError as exc:
            fail(exc.message, as_json=as_json, code=exc.code)


def parse_uuid(value: str, what: str, as_json: bool) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{what} must be a UUID, got {value!r}", as_json=as_json, code="invalid_input")
