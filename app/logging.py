"""Structured logs (console or JSON) that never hold a secret.

Every record, ours or a library's, goes through structlog's processors; the
redaction step scrubs bearer tokens, bot tokens in URL paths (Telegram, Discord
webhooks), token-like query parameters and any field whose name says secret.
httpx and httpcore log request URLs at INFO, and those URLs may carry a secret,
so they are held at WARNING.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_FIELDS = re.compile(r"(password|secret|token|authorization|credential|api_key)", re.I)
_PATTERNS = [
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1[redacted]"),
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (re.compile(r"(/api/webhooks/\d+/)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (
        re.compile(r"([?&](?:access_token|token|key|secret|password|sig)=)[^&\s]+", re.I),
        r"\1[redacted]",
    ),
]


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    event.pop("color_message", None)  # uvicorn's ANSI copy of the message
    for key, value in list(event.items()):
        if key != "event" and SECRET_FIELDS.search(key):
            event[key] = "[redacted]"
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
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
            renderer,
        ],
    )
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
