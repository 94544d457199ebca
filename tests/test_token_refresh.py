"""The token-refresh job against X's token endpoint played on 127.0.0.1: expiring
tokens renewed and stored sealed, a refused refresh expires the channel and tells
the workspace, two processes never spend one refresh token, failures back off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.crypto import CredentialBox
from app.db import Database, session_scope
from app.models import Channel, ChannelStatus, Event, Notification, Role, utcnow
from app.networks.base import Network
from app.settings import Settings
from scheduler import token_refresh
from scheduler.runtime import SchedulerRuntime
from scheduler.token_refresh import refresh_margin, refresh_tokens
from tests.contract.harness import platform_fixture
from tests.contract.platforms.x import (
    ACCESS_LIFETIME,
    CLIENT_ID,
    REFRESH_TOKEN,
    TOKEN,
    FakeX,
    server_settings,
)
from tests.factories import make_channel, make_membership, make_user, make_workspace

platform = platform_fixture(FakeX)


@pytest.fixture
def x_settings(database: Database, tmp_path: Path, platform: FakeX) -> Settings:
    platform.reset()
    return server_settings(platform, database, tmp_path / "data")


@pytest.fixture
async def runtime(x_settings: Settings, database: Database) -> AsyncIterator[SchedulerRuntime]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield SchedulerRuntime(settings=x_settings, database=database, http=http)


async def _x_channel(
    database: Database,
    settings: Settings,
    *,
    expires_in: timedelta,
    lifetime: timedelta = timedelta(seconds=ACCESS_LIFETIME),
    credentials: dict[str, str] | None = None,
) -> Channel:
    box = CredentialBox(settings.encryption_keys)
    now = utcnow()
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session)
        owner = await make_user(session)
        await make_membership(session, workspace=workspace, user=owner, role=Role.owner)
        return await make_channel(
            session,
            workspace=workspace,
            network=Network.x,
            name="X @almanac",
            credentials_encrypted=box.seal(
                credentials or {"access_token": TOKEN, "refresh_token": REFRESH_TOKEN}
            ),
            token_expires_at=now + expires_in,
            last_refresh_at=now + expires_in - lifetime,
        )


async def _reload(database: Database, channel: Channel) -> Channel:
    async with database.read_session() as session:
        found = await session.get(Channel, channel.id)
        assert found is not None
        return found


def test_the_margin_is_a_tenth_of_the_lifetime_within_bounds() -> None:
    now = utcnow()
    assert refresh_margin(now, now - timedelta(hours=2)) == timedelta(minutes=12)
    assert refresh_margin(now, now - timedelta(days=60)) == timedelta(hours=24)
    assert refresh_margin(now, now - timedelta(minutes=30)) == timedelta(minutes=10)
    assert refresh_margin(now, None) == timedelta(minutes=10)


async def test_an_expiring_token_is_renewed_and_stored_sealed(
    runtime: SchedulerRuntime, database: Database, platform: FakeX
) -> None:
    channel = await _x_channel(database, runtime.settings, expires_in=timedelta(minutes=5))
    before = utcnow()

    run = await refresh_tokens(runtime)

    assert run.renewed == [channel.id]
    [form] = platform.token_requests
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
    }
    stored = await _reload(database, channel)
    credentials = CredentialBox(runtime.settings.encryption_keys).open(
        stored.credentials_encrypted or b""
    )
    # The new pair works at X; the old refresh token was spent (X rotates them).
    assert credentials["access_token"] in platform.access_tokens
    assert credentials["access_token"] != TOKEN
    assert credentials["refresh_token"] in platform.refresh_tokens
    assert REFRESH_TOKEN not in platform.refresh_tokens
    for secret in (credentials["access_token"], credentials["refresh_token"]):
        assert secret.encode() not in (stored.credentials_encrypted or b"")
    assert stored.token_expires_at is not None
    lifetime = stored.token_expires_at - before
    assert (
        timedelta(seconds=ACCESS_LIFETIME - 5) < lifetime < timedelta(seconds=ACCESS_LIFETIME + 5)
    )
    assert stored.last_refresh_at is not None and stored.last_refresh_at >= before
    assert stored.refresh_failures == 0 and stored.refresh_lease_until is None
    assert stored.status is ChannelStatus.connected

    # Renewed for two hours: the next run leaves it alone.
    assert (await refresh_tokens(runtime)).renewed == []
    assert len(platform.token_requests) == 1


async def test_a_token_outside_its_margin_is_left_alone(
    runtime: SchedulerRuntime, database: Database, platform: FakeX
) -> None:
    # 2-hour token, 30 minutes left: its margin is 12 minutes.
    await _x_channel(database, runtime.settings, expires_in=timedelta(minutes=30))
    run = await refresh_tokens(runtime)
    assert run.renewed == run.expired == run.failed == []
    assert platform.token_requests == []


async def test_a_refused_refresh_expires_the_channel_and_notifies(
    runtime: SchedulerRuntime, database: Database, platform: FakeX
) -> None:
    channel = await _x_channel(
        database,
        runtime.settings,
        expires_in=timedelta(minutes=5),
        credentials={"access_token": TOKEN, "refresh_token": "revoked-refresh-token"},
    )
    run = await refresh_tokens(runtime)

    assert run.expired == [channel.id]
    stored = await _reload(database, channel)
    assert stored.status is ChannelStatus.expired
    assert stored.status_message is not None
    assert "Value passed for the token was invalid" in stored.status_message
    assert "revoked-refresh-token" not in stored.status_message
    async with database.read_session() as session:
        notes = list(
            (
                await session.scalars(
                    select(Notification).where(Notification.channel_id == channel.id)
                )
            ).all()
        )
    assert [note.event for note in notes] == [Event.channel_expired]
    assert "must be reconnected" in notes[0].text
    # An expired channel is not tried again.
    assert (await refresh_tokens(runtime)).expired == []
    assert len(platform.token_requests) == 1


async def test_two_processes_never_spend_one_refresh_token(
    x_settings: Settings, database: Database, platform: FakeX
) -> None:
    channel = await _x_channel(database, x_settings, expires_in=timedelta(minutes=5))
    async with httpx.AsyncClient(timeout=5) as one, httpx.AsyncClient(timeout=5) as two:
        runs = await asyncio.gather(
            refresh_tokens(SchedulerRuntime(settings=x_settings, database=database, http=one)),
            refresh_tokens(SchedulerRuntime(settings=x_settings, database=database, http=two)),
        )
    assert sorted(len(run.renewed) for run in runs) == [0, 1]
    assert len(platform.token_requests) == 1
    assert (await _reload(database, channel)).status is ChannelStatus.connected


async def test_a_server_error_backs_off_and_keeps_the_channel(
    runtime: SchedulerRuntime, database: Database, platform: FakeX
) -> None:
    channel = await _x_channel(database, runtime.settings, expires_in=timedelta(minutes=5))
    platform.token_outage = 1
    run = await refresh_tokens(runtime)
    assert run.failed == [channel.id]
    stored = await _reload(database, channel)
    assert stored.status is ChannelStatus.connected
    assert stored.refresh_failures == 1
    assert stored.refresh_lease_until is not None and stored.refresh_lease_until > utcnow()
    assert REFRESH_TOKEN in platform.refresh_tokens  # not spent
    # Backing off: the next run does not try it.
    assert (await refresh_tokens(runtime)).failed == []
    assert len(platform.token_requests) == 1


async def test_without_a_refresh_token_the_channel_waits_for_expiry(
    runtime: SchedulerRuntime, database: Database, platform: FakeX
) -> None:
    channel = await _x_channel(
        database,
        runtime.settings,
        expires_in=timedelta(minutes=5),
        credentials={"access_token": TOKEN},
    )
    run = await refresh_tokens(runtime)
    assert run.failed == [channel.id]
    stored = await _reload(database, channel)
    assert stored.status is ChannelStatus.connected  # usable until it expires
    assert stored.status_message is not None and "connect it again" in stored.status_message
    assert stored.refresh_lease_until == stored.token_expires_at
    assert platform.token_requests == []


async def test_a_process_that_looked_before_another_renewed_does_not_spend_the_token_again(
    runtime: SchedulerRuntime, database: Database, platform: FakeX
) -> None:
    """Process A lists the channel as due; process B renews it and releases its lease;
    A's claim must then see that the expiry moved (X rotates refresh tokens: a second
    use would be refused and the channel wrongly expired)."""
    channel = await _x_channel(database, runtime.settings, expires_in=timedelta(minutes=5))
    seen_by_a = await token_refresh._due(runtime)
    assert [channel_id for channel_id, _ in seen_by_a] == [channel.id]
    assert len((await refresh_tokens(runtime)).renewed) == 1  # process B
    ((_, old_expiry),) = seen_by_a
    assert await token_refresh._claim(runtime, channel.id, old_expiry) is None
    assert len(platform.token_requests) == 1
    assert (await _reload(database, channel)).status is ChannelStatus.connected
