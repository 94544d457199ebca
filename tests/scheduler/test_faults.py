"""Fault tests of the publishing engine (single process, in this event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.db import Database
from app.models import Delivery, DeliveryStatus, Workspace, utcnow
from app.networks import _FACTORIES, AdapterContext
from app.networks.base import Network
from app.settings import Settings
from scheduler import publisher
from scheduler.dispatch import claim
from scheduler.main import run_scheduler
from scheduler.runtime import SchedulerRuntime
from tests.scheduler.conftest import (
    add_channel,
    approved_delivery,
    count_status,
    make_world,
    wait_for,
    workers_done,
)
from tests.scheduler.platform import LoopbackAdapter, LoopbackPlatform, flaky


@pytest.fixture
def loopback_adapter() -> Iterator[None]:
    original = _FACTORIES.get(Network.webhook)

    def build(ctx: AdapterContext) -> LoopbackAdapter:
        return LoopbackAdapter(ctx.http)

    _FACTORIES[Network.webhook] = build
    yield
    if original is None:
        del _FACTORIES[Network.webhook]
    else:
        _FACTORIES[Network.webhook] = original


@pytest.fixture
def platform() -> Iterator[LoopbackPlatform]:
    server = LoopbackPlatform()
    server.start()
    yield server
    server.stop()


async def _run(settings: Settings, until: Any, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    try:
        await wait_for(until, seconds=seconds, every=0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _by_status(database: Database) -> dict[str, int]:
    async with database.read_session() as session:
        rows = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        return {status.value: n for status, n in rows}


async def test_flaky_platform_everything_published_once(
    database: Database, settings: Settings, platform: LoopbackPlatform, loopback_adapter: None
) -> None:
    """30 % 5xx and 5 % timeouts: every post goes out within the retry limit, once."""
    platform.fault = flaky(0.30, 0.05)
    settings.publish_backoff_seconds = 0.05
    settings.publish_max_attempts = 10
    creds = {"url": platform.url}
    world = await make_world(database, network=Network.webhook, credentials=creds)
    channels = [world.channel] + [
        await add_channel(database, world, network=Network.webhook, credentials=creds)
        for _ in range(3)
    ]
    n = 60
    for i in range(n):
        await approved_delivery(database, world, channel=channels[i % 4], text=f"d{i}")

    async def done() -> bool:
        return await count_status(database, DeliveryStatus.published) == n

    await _run(settings, done, seconds=60)
    assert len(platform.count) == n
    assert max(platform.count.values()) == 1
    assert await _by_status(database) == {"published": n}


async def test_rate_limit_reset_is_respected(
    database: Database, settings: Settings, platform: LoopbackPlatform, loopback_adapter: None
) -> None:
    """A 429 naming its reset: no request reaches that channel before it."""
    fates = iter(["429"])
    platform.fault = lambda: next(fates, "ok")
    platform.reset_after = 1.5
    world = await make_world(database, network=Network.webhook, credentials={"url": platform.url})
    for i in range(5):
        await approved_delivery(database, world, text=f"r{i}")
    settings.publish_per_channel = 1

    async def done() -> bool:
        return await count_status(database, DeliveryStatus.published) == 5

    await _run(settings, done, seconds=20)
    first_time, _ = platform.arrivals[0]
    later = [t for t, _ in platform.arrivals[1:]]
    assert later and min(later) >= first_time + platform.reset_after - 0.05


async def test_pause_during_a_burst_starts_nothing_new(
    database: Database, settings: Settings, platform: LoopbackPlatform, loopback_adapter: None
) -> None:
    platform.fault = lambda: "ok"
    settings.publish_workers = 4
    creds = {"url": platform.url}
    world = await make_world(database, network=Network.webhook, credentials=creds)
    channels = [world.channel] + [
        await add_channel(database, world, network=Network.webhook, credentials=creds)
        for _ in range(3)
    ]
    for i in range(400):
        await approved_delivery(database, world, channel=channels[i % 4], text=f"p{i}")
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    try:
        await wait_for(lambda: _some_published(database), seconds=10, every=0.02)
        async with database.write_session() as session:  # what the pause API does
            await session.execute(
                update(Workspace)
                .where(Workspace.id == world.workspace.id)
                .values(paused=True, paused_at=utcnow())
            )
            await session.commit()
        started = {
            status: n
            for status, n in (await _by_status(database)).items()
            if status in ("published", "sending")
        }
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    after = await _by_status(database)
    assert after.get("sending", 0) == 0
    assert after["published"] == sum(started.values())
    assert after["pending"] == 400 - after["published"] > 0
    assert len(platform.count) == after["published"]


async def _some_published(database: Database) -> bool:
    return await count_status(database, DeliveryStatus.published) >= 20


async def test_scheduler_down_past_the_lateness_limit_marks_missed(
    database: Database, settings: Settings
) -> None:
    world = await make_world(database)
    limit = world.workspace.lateness_limit_minutes
    late = [
        await approved_delivery(database, world, due_at=utcnow() - timedelta(minutes=limit + 5))
        for _ in range(3)
    ]
    fresh = await approved_delivery(database, world, due_at=utcnow() - timedelta(minutes=1))

    async def settled() -> bool:
        return await count_status(database, DeliveryStatus.published) == 1

    await _run(settings, settled, seconds=10)
    status = await _by_status(database)
    assert status == {"missed": len(late), "published": 1}
    assert fresh.id not in {row.id for row in late}


async def test_a_slot_is_held_until_the_outcome_is_committed(
    runtime: SchedulerRuntime,
    database: Database,
    platform: LoopbackPlatform,
    loopback_adapter: None,
) -> None:
    """A claimed delivery holds its sending slot until its outcome is committed, so
    the deliveries ``sending`` never outnumber the slots (what a crash can leave to
    settle): with the outcome writes held up by another transaction, the platform has
    answered and the slots are still taken; once the writes go through, every outcome
    is committed and the slots are free."""
    world = await make_world(database, network=Network.webhook, credentials={"url": platform.url})
    deliveries = [await approved_delivery(database, world, text=f"d{i}") for i in range(3)]
    runtime.settings.publish_workers = 3
    jobs = await claim(runtime, runtime.free_slots)
    assert len(jobs) == 3

    async with database.write_session() as blocker:
        # Holds the rows (PostgreSQL) or the write lock (SQLite) the outcomes need.
        await blocker.execute(
            update(Delivery)
            .where(Delivery.id.in_([d.id for d in deliveries]))
            .values(updated_at=utcnow())
        )
        for job in jobs:
            publisher.start(runtime, job)

        async def answered() -> bool:
            return len(platform.count) == 3

        await wait_for(answered, seconds=10)
        await asyncio.sleep(0.2)
        assert runtime.free_slots == 0
        assert await claim(runtime, runtime.free_slots) == []
        await blocker.commit()

    await workers_done(runtime)
    assert runtime.free_slots == 3
    assert await _by_status(database) == {"published": 3}
    assert max(platform.count.values()) == 1


async def test_the_outcome_transaction_claims_the_next_deliveries_for_the_slots_it_frees(
    runtime: SchedulerRuntime,
    database: Database,
    platform: LoopbackPlatform,
    loopback_adapter: None,
) -> None:
    """While dispatch runs, the transaction that writes published outcomes claims the
    next due deliveries for the slots it frees, and their workers take the slots over:
    with no dispatch job at all, two slots carry a queue of seven through, never more
    than two ``sending`` at once. Once the scheduler stops, outcomes claim nothing."""
    world = await make_world(database, network=Network.webhook, credentials={"url": platform.url})
    for i in range(7):
        await approved_delivery(database, world, text=f"queued {i}")
    runtime.settings.publish_workers = 2
    sending_seen = await _published_without_dispatch(runtime, database, 7)

    async def slots_free() -> bool:
        return runtime.free_slots == 2

    await wait_for(slots_free)
    assert max(sending_seen) <= 2
    assert sorted(platform.count.values()) == [1] * 7

    # Stopped: a finishing worker writes its outcome and claims nothing more.
    for i in range(3):
        await approved_delivery(database, world, text=f"after the stop {i}")
    [job] = await claim(runtime, 1)
    await asyncio.wait_for(publisher.start(runtime, job), timeout=10)
    assert await _by_status(database) == {"published": 8, "pending": 2}


async def test_the_outcome_claim_does_not_count_what_it_just_published_as_busy(
    runtime: SchedulerRuntime,
    database: Database,
    platform: LoopbackPlatform,
    loopback_adapter: None,
) -> None:
    """One send at a time on the channel: the outcome that frees the channel's only
    place claims the next delivery of that channel (the row it publishes no longer
    counts against the channel's limit)."""
    world = await make_world(database, network=Network.webhook, credentials={"url": platform.url})
    for i in range(4):
        await approved_delivery(database, world, text=f"one at a time {i}")
    runtime.settings.publish_workers = 2
    runtime.settings.publish_per_channel = 1
    sending_seen = await _published_without_dispatch(runtime, database, 4)
    await workers_done(runtime)
    assert max(sending_seen) <= 1
    assert sorted(platform.count.values()) == [1] * 4


async def _published_without_dispatch(
    runtime: SchedulerRuntime, database: Database, published: int
) -> list[int]:
    """Claim for the free slots once, then let only the outcomes' transactions claim
    (a clock with no dispatch job) until ``published`` deliveries are out; the counts
    of ``sending`` seen meanwhile."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    clock = AsyncIOScheduler()
    clock.start()
    runtime.scheduler = clock
    sending_seen: list[int] = []
    try:
        for job in await claim(runtime, runtime.free_slots):
            publisher.start(runtime, job)

        async def all_published() -> bool:
            sending_seen.append(await count_status(database, DeliveryStatus.sending))
            return (await _by_status(database)).get("published") == published

        await wait_for(all_published, seconds=20)
    finally:
        clock.shutdown(wait=False)
    return sending_seen
