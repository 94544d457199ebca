"""The scheduler's publishing jobs, run by APScheduler in a real scheduler process
(in this event loop): dispatch, the lease reaper, the NOTIFY wake-up, and the
refusal of a second scheduler on SQLite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from app.db import Database
from app.deliveries.wake import wake_dispatch
from app.models import Delivery, DeliveryStatus, SchedulerHeartbeat, utcnow
from app.settings import Settings
from scheduler import dispatch
from scheduler.jobs import JobId
from scheduler.main import build_scheduler, run_scheduler
from scheduler.runtime import SchedulerRuntime
from tests.scheduler.conftest import (
    approved_delivery,
    get_delivery,
    make_world,
    wait_for,
    workers_done,
)


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Settings]:
    """A scheduler process running in this loop until the test ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    await asyncio.sleep(0.3)  # its first ticks
    yield settings
    stop.set()
    await asyncio.wait_for(task, timeout=30)


def _published(database: Database, delivery_id):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return (await get_delivery(database, delivery_id)).status is DeliveryStatus.published

    return check


async def test_dispatch_and_reaper_are_registered(settings: Settings, database: Database) -> None:
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        jobs = {job.id: job for job in build_scheduler(runtime).get_jobs()}
    assert {JobId.dispatch, JobId.lease_reaper} <= set(jobs)
    assert jobs[JobId.dispatch].max_instances == 1 and jobs[JobId.dispatch].coalesce


async def test_dispatch_job_publishes_what_becomes_due(
    database: Database, running: Settings
) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world, due_at=utcnow() + timedelta(seconds=1))
    async with database.write_session() as session:
        await wake_dispatch(session)  # a NOTIFY on PostgreSQL, nothing on SQLite
        await session.commit()

    await wait_for(_published(database, delivery.id), seconds=5)

    row = await get_delivery(database, delivery.id)
    assert row.published_at is not None
    assert row.published_at - row.due_at < timedelta(seconds=1.5)


async def test_notify_wakes_dispatch_at_once_on_postgresql(
    database: Database, settings: Settings
) -> None:
    if database.is_sqlite:
        pytest.skip("NOTIFY is PostgreSQL's; SQLite polls every second")
    settings.dispatch_idle_seconds = 60
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    try:
        await asyncio.sleep(1.0)  # first tick done: next one planned 60 s away
        world = await make_world(database)
        delivery = await approved_delivery(database, world)
        started = time.monotonic()
        async with database.write_session() as session:
            await wake_dispatch(session)
            await session.commit()
        await wait_for(_published(database, delivery.id), seconds=5, every=0.01)
        assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def test_reaper_job_requeues_an_expired_lease_and_it_goes_out(
    database: Database, settings: Settings
) -> None:
    settings.publish_lease_seconds = 4  # reaper every second
    settings.publish_backoff_seconds = 0.2  # the re-queue backs off (under 0.2 s)
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    async with database.write_session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(
                status=DeliveryStatus.sending,
                attempts=1,
                lease_owner="dead:1:x",
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )
        await session.commit()
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    try:
        await wait_for(_published(database, delivery.id), seconds=8)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert (await get_delivery(database, delivery.id)).attempts == 2


async def test_second_scheduler_on_sqlite_refuses_to_dispatch(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    if not database.is_sqlite:
        pytest.skip("several schedulers are supported on PostgreSQL")
    async with database.write_session() as session:
        session.add(
            SchedulerHeartbeat(
                process_id="first:1:a",
                hostname="first",
                pid=1,
                started_at=utcnow() - timedelta(minutes=5),
                seen_at=utcnow(),
            )
        )
        await session.commit()
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        await dispatch.tick(runtime)
        assert runtime.refused_because == "first:1:a"
        assert (await get_delivery(database, delivery.id)).status is DeliveryStatus.pending
        # The first one stops beating for over a minute: this one takes over.
        async with database.write_session() as session:
            await session.execute(
                update(SchedulerHeartbeat).values(seen_at=utcnow() - timedelta(minutes=2))
            )
            await session.commit()
        # It looks at the heartbeats once a second, not on every tick.
        await dispatch.tick(runtime)
        assert runtime.refused_because == "first:1:a"
        runtime.peer_checked_at = utcnow() - dispatch.SQLITE_PEER_CHECK
        await dispatch.tick(runtime)
        assert runtime.refused_because is None
        await workers_done(runtime)
    assert (await get_delivery(database, delivery.id)).status is DeliveryStatus.published


async def test_readyz_warns_of_two_schedulers_on_sqlite(
    database: Database, client: httpx.AsyncClient
) -> None:
    async with database.write_session() as session:
        for n in (1, 2):
            session.add(
                SchedulerHeartbeat(
                    process_id=f"s{n}:1:a",
                    hostname="h",
                    pid=n,
                    started_at=utcnow(),
                    seen_at=utcnow(),
                )
            )
        await session.commit()
    body = (await client.get("/readyz")).json()
    warned = any("scheduler processes share this SQLite" in w for w in body["warnings"])
    assert warned is database.is_sqlite


async def test_the_runtime_makes_credentials_and_adapter_contexts_once(
    settings: Settings, database: Database
) -> None:
    """Per process, not per delivery: one credential box, the OAuth applications read
    once, one adapter context on the process's client."""
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        assert runtime.adapter_context is runtime.adapter_context
        assert runtime.adapter_context.http is http
        assert runtime.adapter_context.oauth_apps is runtime.oauth_apps
        assert runtime.credential_box is runtime.credential_box
        sealed = runtime.credential_box.seal({"token": "t"})
        assert runtime.credential_box.open(sealed) == {"token": "t"}
