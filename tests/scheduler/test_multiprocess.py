"""Scheduler processes on PostgreSQL against a platform in its own process: dropped
database connections mid-burst, and three processes sharing one burst."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from app.db import Database
from app.models import utcnow
from app.settings import Settings
from tests.scheduler.launcher import (
    ON_POSTGRESQL,
    PlatformServer,
    SchedulerProcess,
    insert_due,
    published_by_process,
    wait_settled,
    webhook_workspace,
)

TERMINATE_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def _dsn(database: Database) -> str:
    url = database.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _terminate_backends(database: Database) -> int:
    """Every other connection to the test database dropped, as a failover or a DBA
    would; how many there were. This process's pool is emptied first, so they are
    the scheduler's."""
    await database.engine.dispose()
    connection = await asyncpg.connect(_dsn(database))
    try:
        rows = await connection.fetch(TERMINATE_OTHERS)
    finally:
        await connection.close()
    return sum(1 for row in rows if row[0])


@pytest.mark.slow
@ON_POSTGRESQL
async def test_dropped_database_connections_mid_burst_lose_nothing(
    database: Database, settings: Settings, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """Three times during a burst every connection of the scheduler (pool and LISTEN)
    is terminated: the same process recovers by itself and publishes everything once."""
    n = 600
    platform = PlatformServer(latency=0.1)
    settings.publish_workers = 20
    settings.publish_lease_seconds = 5
    settings.publish_backoff_seconds = 0.2
    terminated = []
    scheduler: SchedulerProcess | None = None
    try:
        workspace_id, channels = await webhook_workspace(database, platform, 20)
        scheduler = SchedulerProcess(settings, tmp_path / "scheduler.log")
        await scheduler.wait_ready(database)
        written = await insert_due(
            database, workspace_id, channels, [utcnow() - timedelta(seconds=1)] * n
        )
        for threshold in (100, 250, 400):
            await platform.wait_for_count(threshold, seconds=120)
            terminated.append(await _terminate_backends(database))
        final = await wait_settled(database, seconds=120)
        assert scheduler.alive(), scheduler.tail()
    finally:
        if scheduler is not None:
            await scheduler.stop()
        stats = await platform.stats()
        await platform.close()
    # Each round dropped the scheduler's connections (at least its LISTEN one).
    assert all(count >= 1 for count in terminated), terminated
    assert final == {"published": n}
    assert set(written.due) <= set(stats["arrivals"])
    assert stats["duplicates"] == []
    summary = (
        f"connections dropped 3× mid-burst ({terminated} backends terminated): "
        f"{final}, {len(stats['arrivals'])} posts at the platform, {stats['replays']} "
        "idempotent replays, 0 duplicates"
    )
    record_property("summary", summary)
    print(summary)


@pytest.mark.slow
@ON_POSTGRESQL
async def test_three_processes_share_a_burst_without_duplicates(
    database: Database, settings: Settings, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    n = 600
    platform = PlatformServer(latency=0.1)
    settings.publish_workers = 15
    settings.publish_backoff_seconds = 0.2
    processes: list[SchedulerProcess] = []
    try:
        workspace_id, channels = await webhook_workspace(database, platform, 30)
        processes = [SchedulerProcess(settings, tmp_path / f"scheduler-{i}.log") for i in range(3)]
        owners = await asyncio.gather(*(p.wait_ready(database) for p in processes))
        written = await insert_due(
            database, workspace_id, channels, [utcnow() - timedelta(seconds=1)] * n
        )
        final = await wait_settled(database, seconds=120)
    finally:
        for process in processes:
            await process.stop()
        stats = await platform.stats()
        await platform.close()
    shares = await published_by_process(database)
    assert final == {"published": n}
    assert set(written.due) <= set(stats["arrivals"])
    assert stats["duplicates"] == []
    # One published attempt per delivery, and every process published some.
    assert sum(shares.values()) == n
    assert set(shares) == set(owners)
    assert all(count > 0 for count in shares.values()), shares
    share = sorted(shares.values(), reverse=True)
    summary = f"3 scheduler processes, one burst of {n}: published per process {share}"
    record_property("summary", summary)
    print(summary)
