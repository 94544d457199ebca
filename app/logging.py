"""Structured logs (console or JSON) that never hold a secret.

Every record, ours or a library's, goes through structlog's processors; the
redaction step scrubs bearer tokens, bot tokens in URL paths (Telegram, Discord
webhooks), token-like query parameters and any field whose name says secret.
httpx and httpcore log request URLs at INFO, and those URLs may carry a secret,
so they are held at WARNING.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import sys
from typing import Any, TextIO

import structlog

SECRET_FIELDS = re.compile(r"(password|secret|token|jwt|authorization|credential|api_key)", re.I)
_PATTERNS = [
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1[redacted]"),
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (re.compile(r"(/api/webhooks/\d+/)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (
        re.compile(r"([?&](?:\w*token|\w*secret|key|password|sig|code)=)[^&\s]+", re.I),
        r"\1[redacted]",
    ),
]


# What every pattern above needs somewhere in the text: most logged values (ids,
# names, numbers as text) have none of it and are passed over with one search.
_MAYBE_SECRET = re.compile(r"bearer|/bot|/api/webhooks/|[?&]", re.I)


def redact_text(text: str) -> str:
    if _MAYBE_SECRET.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactRecords(logging.Filter):
    """Rewrites a library's record with its secrets redacted before any handler sees
    it (pytest's caplog and any handler a deployer adds included): httpx puts the
    request URL, a Telegram or Discord secret with it, in its records' arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


def redact_library_records(*names: str) -> None:
    """Install :class:`RedactRecords` on the named loggers, once each."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactRecords) for f in logger.filters):
            logger.addFilter(RedactRecords())


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    """Whether a field's name says secret: a busy process logs the same few names."""
    return SECRET_FIELDS.search(key) is not None


def _is_secret_name(key: object) -> bool:
    return isinstance(key, str) and _secret_key(key)


def _scrub(value: Any) -> Any:
    """Redact a value, looking inside dicts, lists and tuples (request dumps, headers)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: "[redacted]" if _is_secret_name(key) else _scrub(item)
            for key, item in value.items()
        }
    if type(value) in (list, tuple):
        return type(value)(_scrub(item) for item in value)
    return value


def _redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    event.pop("color_message", None)  # uvicorn's ANSI copy of the message
    for key, value in list(event.items()):
        if key != "event" and _is_secret_name(key):
            event[key] = "[redacted]"
        elif not isinstance(value, (int, float)):
            event[key] = _scrub(value)
    return event


def _redact_exception(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Exception messages carry URLs (httpx puts the request URL in its errors)."""
    if isinstance(event.get("exception"), str):
        event["exception"] = redact_text(event["exception"])
    return event


def _redacted_traceback(sio: TextIO, exc_info: Any) -> None:
    # Plain, without the rich formatter's local variables (credentials live there).
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(redact_text(buffer.getvalue()))


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    # Redaction before the level, the logger's name and the time are added: it
    # would only search them (each log line of a busy scheduler counts).
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        _redact,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=_redacted_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else _passthrough,
            _redact_exception,
            renderer,
        ],
    )
    # No renderer prints where a call was made, nor its thread or process: the
    # settings of the logging HOWTO's "Optimization" section skip collecting them for
    # every record (where a call was made is a walk up the stack, once per record: a
    # busy scheduler logs each publish).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # apscheduler.executors logs every run of every job at INFO.
    for name in ("httpx", "httpcore", "alembic", "apscheduler.executors", "apscheduler.scheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _passthrough(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    return event


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
