"""The scheduler process skeleton: its jobs, the heartbeat, a clean start and stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from app.db import Database
from app.models import SchedulerHeartbeat, utcnow
from app.settings import Settings
from scheduler import heartbeat
from scheduler.jobs import JobId
from scheduler.main import build_scheduler, run_scheduler
from scheduler.runtime import SchedulerRuntime


async def _rows(database: Database) -> list[SchedulerHeartbeat]:
    async with database.read_session() as session:
        return list((await session.scalars(select(SchedulerHeartbeat))).all())


async def test_jobs_registered_by_fixed_ids(settings: Settings, database: Database) -> None:
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        scheduler = build_scheduler(runtime)
        jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {member.value for member in JobId}
    beat = jobs[JobId.heartbeat]
    assert beat.max_instances == 1
    assert beat.coalesce is True


async def test_heartbeat_records_refreshes_and_says_goodbye(
    settings: Settings, database: Database
) -> None:
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        await heartbeat.beat(runtime)
        [row] = await _rows(database)
        assert row.process_id == runtime.process_id
        first_seen = row.seen_at

        await asyncio.sleep(0.01)
        await heartbeat.beat(runtime)
        [row] = await _rows(database)
        assert row.seen_at > first_seen
        assert row.started_at == first_seen

        await heartbeat.farewell(runtime)
        assert await _rows(database) == []


async def test_heartbeat_forgets_long_dead_processes(
    settings: Settings, database: Database
) -> None:
    async with database.write_session() as session:
        session.add(
            SchedulerHeartbeat(
                process_id="gone:1:x",
                hostname="gone",
                pid=1,
                seen_at=utcnow() - timedelta(days=2),
            )
        )
        await session.commit()
    async with httpx.AsyncClient() as http:
        await heartbeat.beat(SchedulerRuntime(settings=settings, database=database, http=http))
    assert [row.hostname for row in await _rows(database)] != ["gone"]
    assert all(row.process_id != "gone:1:x" for row in await _rows(database))


async def test_scheduler_process_runs_heartbeat_and_stops_cleanly(
    settings: Settings, database: Database
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    async with asyncio.timeout(10):
        while not await _rows(database):
            await asyncio.sleep(0.05)
    [row] = await _rows(database)
    assert utcnow() - row.seen_at < timedelta(seconds=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(SchedulerHeartbeat)) == 0
