"""``almanac rotate-key``: re-encrypt every channel's credentials with the current key,
all or nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.crypto import CredentialBox, CredentialsUnreadable
from app.db import Database, create_engine, session_scope
from app.models import Channel, WebhookEndpoint
from app.rotation import rotate_keys
from tests.conftest import TEST_SECRET
from tests.factories import make_channel, make_workspace
from tests.test_cli import almanac, almanac_env

T = TypeVar("T")
KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))
ALPHA = {"access_token": "alpha-token-0123456789"}
BETA = {"bot_token": "123456:beta-secret", "handle": "beta"}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def add_channels(url: str, sealed: dict[str, bytes | None]) -> dict[str, uuid.UUID]:
    database = Database(create_engine(url))
    try:
        async with session_scope(database.write_session) as session:
            workspace = await make_workspace(session)
            ids = {}
            for name, token in sealed.items():
                channel = await make_channel(
                    session, workspace_id=workspace.id, name=name, credentials_encrypted=token
                )
                ids[name] = channel.id
        return ids
    finally:
        await database.dispose()


async def stored(url: str) -> dict[uuid.UUID, tuple[bytes | None, datetime]]:
    database = Database(create_engine(url))
    try:
        async with database.read_session() as session:
            rows = await session.execute(
                select(Channel.id, Channel.credentials_encrypted, Channel.updated_at)
            )
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        await database.dispose()


@pytest.mark.slow
def test_rotate_key_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data / 'almanac.db'}"
    with_a = almanac_env(data, ALMANAC_SECRET_KEY=TEST_SECRET, ALMANAC_ENCRYPTION_KEYS=KEY_A)
    with_b_a = {**with_a, "ALMANAC_ENCRYPTION_KEYS": f"{KEY_B},{KEY_A}"}
    migrated = almanac("migrate", env=with_a)
    assert migrated.returncode == 0, migrated.stderr

    box_a = CredentialBox([KEY_A])
    ids = run(
        add_channels(url, {"alpha": box_a.seal(ALPHA), "beta": box_a.seal(BETA), "demo": None})
    )
    before = run(stored(url))

    result = almanac("rotate-key", env=with_b_a)
    assert result.returncode == 0, result.stderr
    assert "Re-encrypted 2 stored secrets with the current key." in result.stdout

    after = run(stored(url))
    box_b = CredentialBox([KEY_B])
    assert box_b.open(after[ids["alpha"]][0] or b"") == ALPHA
    assert box_b.open(after[ids["beta"]][0] or b"") == BETA
    with pytest.raises(CredentialsUnreadable):
        box_a.open(after[ids["alpha"]][0] or b"")
    assert after[ids["demo"]][0] is None
    # Re-encryption is not an edit of the channel.
    assert {i: row[1] for i, row in after.items()} == {i: row[1] for i, row in before.items()}

    # A channel sealed with a key nobody configured: reported, and nothing changes.
    lost = run(add_channels(url, {"lost": CredentialBox([KEY_C]).seal({"token": "gone"})}))
    before = run(stored(url))
    refused = almanac("rotate-key", env=with_b_a)
    assert refused.returncode == 1
    assert f"channel {lost['lost']} (lost): no key in ALMANAC_ENCRYPTION_KEYS" in refused.stderr
    assert "nothing was re-encrypted" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert refused.stdout == ""
    assert run(stored(url)) == before


async def test_rotate_keys_on_both_backends(database: Database) -> None:
    box_a = CredentialBox([KEY_A])
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session)
        kept = await make_channel(
            session, workspace_id=workspace.id, credentials_encrypted=box_a.seal(ALPHA)
        )
        await make_channel(session, workspace_id=workspace.id, credentials_encrypted=None)
        hook = WebhookEndpoint(
            workspace_id=workspace.id,
            url_encrypted=box_a.seal({"url": "https://hooks.example.org/T0/B0/secret"}),
            host="hooks.example.org",
            secret_encrypted=box_a.seal({"secret": "whsec"}),
            event_types=["missed"],
        )
        session.add(hook)

    async with session_scope(database.write_session) as session:
        result = await rotate_keys(session, CredentialBox([KEY_B, KEY_A]))
    assert result.rotated == 3 and result.unreadable == []

    box_b = CredentialBox([KEY_B])
    async with database.read_session() as session:
        token = await session.scalar(
            select(Channel.credentials_encrypted).where(Channel.id == kept.id)
        )
        url, secret = (
            await session.execute(
                select(WebhookEndpoint.url_encrypted, WebhookEndpoint.secret_encrypted)
            )
        ).one()
    assert token is not None
    assert box_b.open(token) == ALPHA
    assert box_b.open(url) == {"url": "https://hooks.example.org/T0/B0/secret"}
    assert box_b.open(secret) == {"secret": "whsec"}

    async with session_scope(database.write_session) as session:
        refused = await rotate_keys(session, CredentialBox([KEY_C]))
    assert refused.rotated == 0
    assert ("channel", kept.id, kept.name) in refused.unreadable
    assert ("webhook", hook.id, "hooks.example.org") in refused.unreadable
    async with database.read_session() as session:
        unchanged = await session.scalar(
            select(Channel.credentials_encrypted).where(Channel.id == kept.id)
        )
    assert unchanged == token
