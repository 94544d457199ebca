"""Logs never hold a secret: redaction of texts, fields, library records and tracebacks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog

from app.logging import configure_logging, redact_text

TELEGRAM_URL = "https://api.telegram.org/bot123456:ABC-def_GHI/sendMessage"
DISCORD_URL = "https://discord.com/api/webhooks/123/abcDEF-ghi_JKL"


# -- redact_text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("Authorization: Bearer eyJhbGciOi.J9-_x~+/=", "eyJhbGciOi", "Authorization: Bearer "),
        ("authorization: bearer abc123", "abc123", "bearer [redacted]"),
        (
            f"POST {TELEGRAM_URL}",
            "ABC-def_GHI",
            "https://api.telegram.org/bot[redacted]/sendMessage",
        ),
        ("GET https://api.telegram.org/bot98765:xyz/getMe", "98765:xyz", "/bot[redacted]/getMe"),
        (f"POST {DISCORD_URL} 204", "abcDEF-ghi_JKL", "/api/webhooks/123/[redacted] 204"),
        (
            "GET https://graph.example/me?fields=id&access_token=EAAB123xyz&limit=5",
            "EAAB123xyz",
            "?fields=id&access_token=[redacted]&limit=5",
        ),
        ("https://x.example/cb?ACCESS_TOKEN=s3cr3t", "s3cr3t", "?ACCESS_TOKEN=[redacted]"),
        ("https://x.example/feed?token=feedtok", "feedtok", "?token=[redacted]"),
        ("https://media.example/a.png?exp=1&sig=abcdef", "abcdef", "&sig=[redacted]"),
    ],
)
def test_redact_text_scrubs_secrets(text: str, secret: str, kept: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert kept in redacted
    assert "[redacted]" in redacted


def test_redact_text_leaves_ordinary_text_alone() -> None:
    text = "published post 42 to https://social.example/@almanac/1099 in 0.3 s (bot ok)"
    assert redact_text(text) == text
    assert redact_text("") == ""


def test_redact_text_scrubs_every_occurrence() -> None:
    text = f"{TELEGRAM_URL} then {TELEGRAM_URL} with Bearer a and Bearer b"
    redacted = redact_text(text)
    assert "ABC-def" not in redacted
    assert redacted.count("[redacted]") == 4


# -- the configured pipeline ----------------------------------------------------------


@contextmanager
def configured_logging(fmt: str = "json") -> Iterator[None]:
    """configure_logging(), then every logger and structlog put back as they were."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (logger.level, logger.handlers[:], logger.propagate)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        configure_logging(level="INFO", fmt=fmt)
        yield
    finally:
        for handler in root.handlers:
            if handler not in saved_root[0]:
                handler.close()
        root.handlers[:], level = saved_root
        root.setLevel(level)
        for name, logger in logging.root.manager.loggerDict.items():
            if not isinstance(logger, logging.Logger):
                continue
            if name in saved:
                logger.level, logger.handlers[:], logger.propagate = saved[name]
            else:
                logger.setLevel(logging.NOTSET)
        structlog.reset_defaults()


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_records_skip_collecting_what_no_renderer_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Where a call was made (a walk up the stack per record), its thread and its
    process are not collected: nothing renders them, and a busy scheduler logs every
    publish."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    with configured_logging():
        logging.getLogger().addHandler(keep)
        try:
            structlog.stdlib.get_logger("almanac.test").info("published", delivery_id="d-1")
        finally:
            logging.getLogger().removeHandler(keep)
    [record] = records
    assert record.funcName == "(unknown function)"
    assert record.thread is None and record.process is None
    [line] = json_lines(capsys)
    assert line["event"] == "published" and line["delivery_id"] == "d-1"


def test_structlog_fields_named_secret_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    with configured_logging():
        structlog.stdlib.get_logger("almanac.test").info(
            "channel verified",
            channel="mastodon main",
            password="hunter2",
            token="tok-123",
            access_token="acc-456",
            credentials={"access_token": "acc-789"},
            Authorization="Bearer xyz",
            attempts=3,
        )
    [line] = json_lines(capsys)
    assert line["event"] == "channel verified"
    assert line["channel"] == "mastodon main"
    assert line["attempts"] == 3
    for field in ("password", "token", "access_token", "credentials", "Authorization"):
        assert line[field] == "[redacted]", field
    assert line["level"] == "info" and line["logger"] == "almanac.test"
    assert "timestamp" in line


def test_secrets_inside_messages_and_values_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with configured_logging():
        structlog.stdlib.get_logger("almanac.test").warning(
            f"publish failed for {TELEGRAM_URL}",
            url=DISCORD_URL,
            header="Bearer abc.def",
        )
    [line] = json_lines(capsys)
    assert line["event"] == "publish failed for https://api.telegram.org/bot[redacted]/sendMessage"
    assert line["url"] == "https://discord.com/api/webhooks/123/[redacted]"
    assert line["header"] == "Bearer [redacted]"


def test_stdlib_records_go_through_the_same_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    with configured_logging():
        logger = logging.getLogger("some.library")
        logger.warning("HTTP Request: POST %s %r", TELEGRAM_URL, "HTTP/1.1 200 OK")
        logger.warning("calling %s", DISCORD_URL, extra={"api_key": "k-1", "attempt": 2})
    first, second = json_lines(capsys)
    assert "ABC-def" not in first["event"]
    assert "/bot[redacted]/sendMessage" in first["event"]
    assert first["logger"] == "some.library" and first["level"] == "warning"
    assert second["event"] == "calling https://discord.com/api/webhooks/123/[redacted]"
    assert second["api_key"] == "[redacted]"
    assert second["attempt"] == 2


def test_httpx_request_lines_are_held_back(capsys: pytest.CaptureFixture[str]) -> None:
    """httpx logs every request URL at INFO; those may carry a secret."""
    with configured_logging():
        logging.getLogger("httpx").info('HTTP Request: GET %s "HTTP/1.1 200 OK"', TELEGRAM_URL)
        logging.getLogger("httpcore.connection").info("connect_tcp.started host=api.telegram.org")
        logging.getLogger("httpx").warning("retrying %s", TELEGRAM_URL)
    [line] = json_lines(capsys)
    assert line["event"].startswith("retrying https://api.telegram.org/bot[redacted]/")


def test_secrets_in_nested_values_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    with configured_logging():
        structlog.stdlib.get_logger("almanac.test").info(
            "request",
            request={
                "url": TELEGRAM_URL,
                "headers": {"Authorization": "Bearer abc", "Accept": "application/json"},
                "attempts": [DISCORD_URL, 2],
            },
        )
    [line] = json_lines(capsys)
    request = line["request"]
    assert request["url"] == "https://api.telegram.org/bot[redacted]/sendMessage"
    assert request["headers"] == {"Authorization": "[redacted]", "Accept": "application/json"}
    assert request["attempts"] == ["https://discord.com/api/webhooks/123/[redacted]", 2]


class _PublishFailed(Exception):
    pass


def _fail(url: str) -> None:
    raise _PublishFailed(f"Client error '401 Unauthorized' for url '{url}'")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_tracebacks_are_redacted(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    """Library exceptions (httpx's among them) put the request URL in their message."""
    with configured_logging(fmt):
        log = structlog.stdlib.get_logger("almanac.test")
        try:
            _fail(TELEGRAM_URL)
        except _PublishFailed:
            log.exception("publish failed")
        try:
            _fail(DISCORD_URL)
        except _PublishFailed:
            logging.getLogger("some.library").exception("request failed")
    err = capsys.readouterr().err
    assert "_PublishFailed" in err
    assert "ABC-def" not in err
    assert "abcDEF" not in err
    assert "/bot[redacted]/sendMessage" in err
    if fmt == "json":
        lines = [json.loads(line) for line in err.splitlines() if line.strip()]
        assert [line["event"] for line in lines] == ["publish failed", "request failed"]
        assert all("Traceback" in line["exception"] for line in lines)


def test_console_format_redacts_too(capsys: pytest.CaptureFixture[str]) -> None:
    with configured_logging("console"):
        structlog.stdlib.get_logger("almanac.test").info(
            f"sending to {TELEGRAM_URL}", password="hunter2"
        )
        logging.getLogger("some.library").warning("GET %s", DISCORD_URL)
    err = capsys.readouterr().err
    assert "hunter2" not in err and "ABC-def" not in err and "abcDEF" not in err
    assert "sending to https://api.telegram.org/bot[redacted]/sendMessage" in err


def test_logging_is_restored_after_the_tests() -> None:
    # Guard for the helper above: nothing configure_logging set leaks out of it.
    with configured_logging():
        assert any(
            isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
            for h in logging.getLogger().handlers
        )
    assert not any(
        isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
        for h in logging.getLogger().handlers
    )
