"""Item 8's proof: channel credentials never appear in plaintext in a response, a log
line or the database, on SQLite and on PostgreSQL.

The credentials hold distinctive values (a Telegram bot token, a Discord webhook
URL, a password, an access token); every channel route is called, including
failures (a refused body, an unavailable network, a platform that quotes the token
back, a crash whose traceback holds a Telegram URL); then every response body, the
captured logs and every column of every table are searched for them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, text

from app.channels import service as channel_service
from app.db import Database
from app.net.outbound import close_shared_client, shared_client
from app.networks.base import AccountInfo, Network, PermanentError
from tests.test_channels_api import Team, make_team
from tests.test_logging import configured_logging

TELEGRAM_TOKEN = "7012345678:AAHalmanacTelegramSecret-x9Zq_4"
DISCORD_SECRET = "almanacDiscordWebhookSecret-q1W_e2"
DISCORD_WEBHOOK = f"https://discord.com/api/webhooks/112233445566778899/{DISCORD_SECRET}"
PASSWORD = "correct-horse-almanac-pw-51"
ACCESS_TOKEN = "mastodonAccessTokenAlmanac42xyz"
NEW_TOKEN = "7098765432:AAHreplacedTelegramSecret-k3Lm_8"

CREDENTIALS = {
    "handle": "x",
    "bot_token": TELEGRAM_TOKEN,
    "webhook_url": DISCORD_WEBHOOK,
    "app_password": PASSWORD,
    "nested": {"access_token": ACCESS_TOKEN},
}
# Every plaintext that must not leak, and the parts of the URL that are secret alone.
SECRETS = [TELEGRAM_TOKEN, DISCORD_WEBHOOK, DISCORD_SECRET, PASSWORD, ACCESS_TOKEN, NEW_TOKEN]
FERNET_PREFIX = b"gAAAAA"  # a Fernet token's version byte, base64-encoded


def leaks(haystack: str | bytes) -> list[str]:
    if isinstance(haystack, bytes):
        return [s for s in SECRETS if s.encode() in haystack]
    return [s for s in SECRETS if s in haystack]


@pytest.fixture
def platform() -> Iterator[str]:
    """A local "platform" that refuses every request with 401."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
async def _close_http(app: FastAPI) -> AsyncIterator[None]:
    yield
    await close_shared_client(app)


class _Quoting:
    """A platform that quotes the token it refused (some do)."""

    network = Network.sandbox

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        raise PermanentError(
            f"token {credentials['bot_token']} rejected for {credentials['webhook_url']}"
        )


class _Crashing:
    """An adapter with a bug: it lets a library error holding the URL escape."""

    network = Network.sandbox

    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        response = await self.http.get(f"{self.base}/bot{credentials['bot_token']}/getMe")
        try:
            response.raise_for_status()  # its message holds the URL, with the token
        except httpx.HTTPStatusError as exc:
            raise RuntimeError("the adapter fell over") from exc
        raise AssertionError("the platform should have refused")


async def exercise_every_route(
    client: httpx.AsyncClient,
    crashing_client: httpx.AsyncClient,
    app: FastAPI,
    team: Team,
    platform: str,
    monkeypatch: pytest.MonkeyPatch,
) -> list[httpx.Response]:
    owner = team.owner
    responses: list[httpx.Response] = []

    async def call(
        method: str, url: str, *, expect: int, via: httpx.AsyncClient | None = None, **kw: Any
    ) -> dict[str, Any] | list[Any] | None:
        response = await (via or client).request(method, url, headers=owner, **kw)
        assert response.status_code == expect, (method, url, response.text)
        responses.append(response)
        return response.json() if response.content else None

    created = await call(
        "POST",
        team.url,
        expect=201,
        json={"network": "sandbox", "name": "Outbox", "credentials": CREDENTIALS},
    )
    assert isinstance(created, dict)
    assert created["credentials_set"] == sorted(CREDENTIALS)
    item = f"{team.url}/{created['id']}"

    await call("GET", team.url, expect=200)
    await call("GET", item, expect=200)
    verified = await call("POST", f"{item}/verify", expect=200)
    assert isinstance(verified, dict) and verified["status"] == "connected"
    await call("POST", f"{item}/pause", expect=200, json={"reason": "checking secrets"})
    await call("POST", f"{item}/resume", expect=200)
    await call(
        "PATCH", item, expect=200, json={"credentials": {**CREDENTIALS, "bot_token": NEW_TOKEN}}
    )

    # Refused bodies do not echo what was sent.
    await call(
        "POST",
        team.url,
        expect=422,
        json={"network": "myspace", "name": "Bad", "credentials": CREDENTIALS},
    )
    await call("PATCH", item, expect=422, json={"credentials": TELEGRAM_TOKEN})
    await call("PATCH", item, expect=422, json={"credentials": CREDENTIALS, "token": PASSWORD})

    # A network without an adapter yet.
    telegram = await call(
        "POST",
        team.url,
        expect=201,
        json={"network": "tiktok", "name": "Bot", "credentials": CREDENTIALS},
    )
    assert isinstance(telegram, dict)
    await call("POST", f"{team.url}/{telegram['id']}/verify", expect=422)

    # A platform that quotes the token back: the stored message is scrubbed.
    monkeypatch.setattr(channel_service, "get_adapter", lambda network, ctx: _Quoting())
    refused = await call("POST", f"{item}/verify", expect=200)
    assert isinstance(refused, dict) and refused["status"] == "error"
    assert "[redacted]" in refused["status_message"]

    # An adapter crash whose traceback holds a Telegram URL with the token.
    http = shared_client(app)
    monkeypatch.setattr(
        channel_service, "get_adapter", lambda network, ctx: _Crashing(http, platform)
    )
    crashed = await call("POST", f"{item}/verify", expect=500, via=crashing_client)
    assert isinstance(crashed, dict)

    await call("GET", item, expect=200)
    await call("GET", team.url, expect=200)
    await call("GET", f"/api/v1/workspaces/{team.workspace_id}/audit", expect=200)
    await call("DELETE", f"{team.url}/{telegram['id']}", expect=204)
    return responses


async def dump_database(database: Database) -> list[tuple[str, str, Any]]:
    """Every value of every column of every table, read with plain SQL."""

    def table_names(connection: Any) -> list[str]:
        return inspect(connection).get_table_names()

    values: list[tuple[str, str, Any]] = []
    async with database.engine.connect() as connection:
        for table in await connection.run_sync(table_names):
            result = await connection.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                values.extend((table, c, v) for c, v in zip(columns, row, strict=True))
    return values


def as_text(value: Any) -> str | bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def test_no_credential_in_responses_logs_or_database(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    platform: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    team = await make_team(database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    capsys.readouterr()
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as crashing:
        with configured_logging("json"):
            logging.getLogger().setLevel(logging.DEBUG)
            responses = await exercise_every_route(
                client, crashing, app, team, platform, monkeypatch
            )
            log_text = capsys.readouterr().err

    # Responses: bodies and headers.
    assert len(responses) == 18
    for response in responses:
        where = f"{response.request.method} {response.request.url.path}"
        assert leaks(response.text) == [], where
        assert leaks(json.dumps(dict(response.headers))) == [], where

    # Logs: something was logged (the crash, with its traceback), and nothing leaked.
    records = [json.loads(line) for line in log_text.splitlines() if line.strip()]
    crash = [r for r in records if r.get("event") == "unhandled error"]
    assert len(crash) == 1, records
    assert "HTTPStatusError" in crash[0]["exception"]
    assert "/bot[redacted]/getMe" in crash[0]["exception"]
    assert leaks(log_text) == []

    # The database: every column of every table, then the SQLite files themselves.
    values = await dump_database(database)
    found = [(t, c) for t, c, v in values if v is not None and leaks(as_text(v))]
    assert found == []
    sealed = [v for t, c, v in values if (t, c) == ("channel", "credentials_encrypted")]
    assert sealed and all(bytes(v).startswith(FERNET_PREFIX) for v in sealed)
    if database.is_sqlite:
        path = Path(database.engine.url.database or "")
        files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
        assert files
        for file in files:
            assert leaks(file.read_bytes()) == [], file
