"""Runs Schemathesis's engine over the ASGI app as its command line does (every phase:
examples, coverage, fuzzing, stateful), with every check on (see schemathesis.toml for the
few per-operation allowances, each with its reason), and counts requests and failures.

Used by the suite's bounded runs (tests/fuzz/test_openapi_fuzz*.py) and `make fuzz`."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
import structlog
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.generation.case import Case
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER, HookContext
from schemathesis.schemas import BaseSchema

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The operations that take a time zone: the coverage phase sends each of the zone names the
# document lists (some 600), so they are a run of their own (a file of their own in the
# suite, so that two test processes share the work).
ZONE_TAGS = ["workspaces", "metrics"]

# NDJSON bodies are strings on the wire: send the generated text as it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


# Examples per operation in the fuzzing phase (`make fuzz` asks for many more), and the seed
# that makes a failure reproducible.
EXAMPLES = int(os.environ.get("METRICX_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("METRICX_FUZZ_SEED", "20260"))


@dataclass
class FuzzTarget:
    app: FastAPI
    headers: dict[str, str]  # the owner's credentials
    paths: dict[str, str]  # path parameters naming real rows: {"workspace_id": ...}


@dataclass
class CampaignResult:
    requests: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    operations: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        phases = ", ".join(f"{name} {count}" for name, count in self.by_phase.items())
        return (
            f"{self.requests} requests ({phases}) over {len(self.operations)} operations: "
            f"{len(self.failures)} failures, {len(self.errors)} errors"
        )


@contextmanager
def _aimed_at(paths: dict[str, str], seed: int) -> Iterator[None]:
    """Half of the cases aim their path parameters at the real workspace (and connection), so
    that what lies behind the 404 is fuzzed too."""
    rng = random.Random(seed)

    def before_call(_context: HookContext, case: Case, _kwargs: dict[str, Any]) -> None:
        # A case made to break its path keeps it broken: aimed at real rows, what is left of
        # it (an unknown query parameter, ignored) was answered 200 and reported as a
        # schema-violating request accepted.
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
            return
        if case.path_parameters and rng.random() < 0.5:
            for name, value in paths.items():
                if name in case.path_parameters:
                    case.path_parameters[name] = value

    schemathesis.hook("before_call")(before_call)
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)


def run_campaign(
    target: FuzzTarget,
    *,
    max_examples: int = EXAMPLES,
    seed: int = SEED,
    tags: list[str] | None = None,
    exclude_tags: list[str] | None = None,
    progress: Path | None = None,
) -> CampaignResult:
    """One run of every phase over the operations of ``tags`` (all but ``exclude_tags``);
    the counts so far are appended to ``progress`` every 30 s."""
    config = SchemathesisConfig.from_path(CONFIG)
    schema = schemathesis.openapi.from_asgi("/openapi.json", target.app, config=config)
    # (`include` adds to a filter that lets every operation through: exclude the others.)
    if tags:
        schema = schema.exclude(lambda ctx: not set(ctx.operation.tags or ()) & set(tags))
    if exclude_tags:
        schema = schema.exclude(lambda ctx: bool(set(ctx.operation.tags or ()) & set(exclude_tags)))
    schema.config.seed = seed
    schema.config.update(headers=target.headers, workers=1, continue_on_failure=True)
    schema.config.generation.update(max_examples=max_examples, deterministic=True, database="none")
    result = CampaignResult()
    with _aimed_at(target.paths, seed), _quiet():
        _execute(schema, result, progress)
    return result


@contextmanager
def _quiet() -> Iterator[None]:
    """Warnings and errors only: a log line per request otherwise."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        structlog.configure(**saved)


def _execute(schema: BaseSchema, result: CampaignResult, progress: Path | None) -> None:
    reported, told = time.monotonic(), 0
    for event in from_schema(schema).execute():
        if progress is not None and (
            time.monotonic() - reported > 30 or len(result.failures) > told
        ):
            reported = time.monotonic()
            with progress.open("a") as out:
                print(f"{time.strftime('%H:%M:%S')} {result.summary()}", file=out)
                for failure in result.failures[told:]:  # each as it is found, in full
                    print(failure, file=out)
            told = len(result.failures)
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            _record(result, event.recorder, str(getattr(event, "phase", "fuzzing")))
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"fatal: {event.exception!r}")


def _record(result: CampaignResult, recorder: ScenarioRecorder, phase: str) -> None:
    result.requests += len(recorder.interactions)
    result.by_phase[phase] = result.by_phase.get(phase, 0) + len(recorder.interactions)
    result.operations.add(recorder.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            interaction = recorder.interactions.get(case_id)
            sent = ""
            if interaction is not None:
                request = interaction.request
                response = interaction.response
                status = response.status_code if response else None
                answer = response.content[:500] if response else b""
                sent = f"{request.method} {request.uri} -> {status} {answer!r}"
            result.failures.append(
                f"[{check.name}] {recorder.label}: {failure.title}: {sent}\n"
                f"{failure.message}\n{check.failure_info.code_sample}"
            )
