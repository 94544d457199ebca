"""kill -9 of a scheduler process in the middle of a 2,000-delivery burst, then a new
one: nothing lost, nothing published twice (PostgreSQL, real processes)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models import Channel, Delivery, DeliveryStatus, utcnow
from app.networks.base import Network
from app.settings import Settings
from tests.factories import make_channel
from tests.scheduler.conftest import seal, wait_for
from tests.scheduler.launcher import (
    ON_POSTGRESQL,
    PlatformServer,
    SchedulerProcess,
    insert_due,
    statuses,
    wait_settled,
    webhook_workspace,
)

WEBHOOK_CHANNELS = 40
DISCORD_CHANNELS = 10
N_WEBHOOK = 1800
N_DISCORD = 200


async def discord_channels(
    database: Database, workspace_id: uuid.UUID, platform: PlatformServer, count: int
) -> list[uuid.UUID]:
    """Discord channels whose webhook URL points at the platform (no idempotency key,
    no lookup: an interrupted send cannot be settled safely)."""
    async with database.write_session() as session:
        channels = [
            await make_channel(
                session,
                workspace_id=workspace_id,
                network=Network.discord,
                credentials_encrypted=seal(
                    {"webhook_url": f"{platform.url}/api/webhooks/{i + 1}/token{i}"}
                ),
            )
            for i in range(count)
        ]
        await session.commit()
    return [channel.id for channel in channels]


async def sending_by_network(database: Database) -> dict[Network, int]:
    async with database.read_session() as session:
        rows = await session.execute(
            select(Channel.network, func.count())
            .join(Delivery, Delivery.channel_id == Channel.id)
            .where(Delivery.status == DeliveryStatus.sending)
            .group_by(Channel.network)
        )
        return {key: n for key, n in rows}


@pytest.mark.slow
@ON_POSTGRESQL
async def test_kill_9_mid_burst_then_restart_loses_nothing_and_sends_nothing_twice(
    database: Database, settings: Settings, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """Webhook (the receiver honours Idempotency-Key for ever): every delivery the dead
    process held is re-sent with its key, so all are published once. Discord (no key,
    no lookup): the ones the dead process held become ``uncertain`` — exactly those,
    never more than its sending slots — and none is sent again."""
    platform = PlatformServer(latency=0.25)
    settings.publish_workers = 100
    settings.publish_per_channel = 5
    settings.publish_lease_seconds = 4
    settings.publish_backoff_seconds = 0.2
    first: SchedulerProcess | None = None
    second: SchedulerProcess | None = None
    try:
        workspace_id, webhooks = await webhook_workspace(database, platform, WEBHOOK_CHANNELS)
        discords = await discord_channels(database, workspace_id, platform, DISCORD_CHANNELS)
        first = SchedulerProcess(settings, tmp_path / "scheduler-1.log")
        await first.wait_ready(database)
        # Every tenth delivery on Discord: both networks are in flight together.
        order = [
            discords[i // 10 % DISCORD_CHANNELS] if i % 10 == 9 else webhooks[i % WEBHOOK_CHANNELS]
            for i in range(N_WEBHOOK + N_DISCORD)
        ]
        written = await insert_due(
            database, workspace_id, order, [utcnow() - timedelta(seconds=1)] * len(order)
        )

        await platform.wait_for_count(400, seconds=120)

        async def both_in_flight() -> bool:
            in_flight = await sending_by_network(database)
            return in_flight.get(Network.webhook, 0) > 0 and in_flight.get(Network.discord, 0) > 0

        # Which copies a claim takes among equally due ones is the database's choice:
        # the kill waits for a moment with both networks in flight (a send lasts 250 ms,
        # so what was seen is still in flight at the kill).
        await wait_for(both_in_flight, seconds=30, every=0.01)
        cpu = first.cpu_seconds()
        first.kill()
        in_flight = await sending_by_network(database)
        at_kill = await statuses(database)
        assert in_flight.get(Network.webhook, 0) > 0, at_kill
        assert in_flight.get(Network.discord, 0) > 0, at_kill
        assert sum(in_flight.values()) <= settings.publish_workers

        second = SchedulerProcess(settings, tmp_path / "scheduler-2.log")
        await second.wait_ready(database)
        final = await wait_settled(database, seconds=180)
        cpu += second.cpu_seconds()
    finally:
        for process in (first, second):
            if process is not None:
                await process.stop()
        stats = await platform.stats()
        await platform.close()

    arrivals = stats["arrivals"]
    webhook_sent = written.of(set(webhooks))
    discord_sent = written.of(set(discords))
    async with database.read_session() as session:
        uncertain = {
            row.id.hex: row.channel_id
            for row in await session.scalars(
                select(Delivery).where(Delivery.status == DeliveryStatus.uncertain)
            )
        }
    # Nothing twice: no delivery id was ever posted a second time.
    assert stats["duplicates"] == []
    assert stats["unmarked"] == 0
    # Nothing lost: every webhook delivery published and at the platform, once.
    assert webhook_sent <= set(arrivals)
    assert final == {
        "published": N_WEBHOOK + N_DISCORD - len(uncertain),
        **({"uncertain": len(uncertain)} if uncertain else {}),
    }
    # Discord: exactly the deliveries the dead process was sending are uncertain.
    assert set(uncertain.values()) <= set(discords)
    assert len(uncertain) == in_flight[Network.discord]
    assert len(uncertain) <= settings.publish_workers
    published_discord = discord_sent - set(uncertain)
    assert published_discord <= set(arrivals)
    summary = (
        f"kill -9 mid-burst: {at_kill} at the kill, in flight {dict(in_flight)}; "
        f"after restart {final}; platform: {len(arrivals)} posts, {stats['replays']} "
        f"idempotent replays, 0 duplicates; uncertain {len(uncertain)} "
        f"(of {in_flight[Network.discord]} Discord sends in flight); "
        f"scheduler CPU {cpu:.1f} s (both processes, start-up included)"
    )
    record_property("summary", summary)
    print(summary)
