"""structlog set-up: JSON lines in production, readable in a terminal; secrets never logged."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = re.compile(
    r"^(.*_)?(token|secret|password|authorization|api_key|apikey|cookie|appsecret_proof|key)$",
    re.IGNORECASE,
)
NOT_SECRET_KEYS = frozenset({"idempotency_key", "natural_key", "key_prefix", "event"})
# access_token=..., appsecret_proof=..., client_secret=... inside URLs or messages.
SECRET_IN_TEXT = re.compile(
    r"((?:access_token|input_token|fb_exchange_token|client_secret|appsecret_proof|code|password)"
    r"=)[^&\s\"']+",
    re.IGNORECASE,
)
BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_text(text: str) -> str:
    return BEARER.sub(r"\1***", SECRET_IN_TEXT.sub(r"\1***", text))


def redact(value: Any, key: str = "") -> Any:
    if (
        key
        and key not in NOT_SECRET_KEYS
        and SECRET_KEYS.search(key)
        and value is not None
        and not isinstance(value, bool)
    ):
        return "***"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


# One lock for every writer of stderr (structlog's and the stdlib handler's), and each record
# written in one call with its newline: `print` writes the text and the newline separately,
# so two threads logging at once (a worker's sync threads) produced `{...}{...}` lines.
_WRITE_LOCK = threading.RLock()
# A child forked while another thread held the lock starts with it free (as the stdlib does
# for its handlers' own locks).
os.register_at_fork(after_in_child=_WRITE_LOCK._at_fork_reinit)  # type: ignore[attr-defined]


class _StderrHandler(logging.StreamHandler):
    """The stdlib's stream handler, sharing the structlog writer's lock."""

    def createLock(self) -> None:
        self.lock = _WRITE_LOCK


class _StderrLogger:
    """Writes each line to the ``sys.stderr`` of the moment: a stream bound once may be
    closed or replaced later (a test runner's capture), and logging must never raise."""

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            stream = sys.stderr
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


def _stderr_logger(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(log_format: str = "json", level: str = "INFO") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # Libraries' stdlib logging goes through the same redaction and format.
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_processor,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
