"""The scheduler process: start, run the jobs, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import __version__
from app.db import Database, create_engine
from app.logging import get_logger
from app.settings import Settings
from scheduler import heartbeat
from scheduler.jobs import register_jobs
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler")
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def build_scheduler(runtime: SchedulerRuntime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    register_jobs(scheduler, runtime)
    return scheduler


async def run_scheduler(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or a SIGINT/SIGTERM arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    database = Database(create_engine(settings.database))
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        scheduler = build_scheduler(runtime)
        scheduler.start()
        log.info(
            "scheduler started",
            process_id=runtime.process_id,
            version=__version__,
            jobs=[str(job.id) for job in scheduler.get_jobs()],
        )
        try:
            await stop.wait()
        finally:
            log.info("scheduler stopping", process_id=runtime.process_id)
            scheduler.shutdown(wait=False)
            await heartbeat.farewell(runtime)
            await database.dispose()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            log.info("scheduler stopped", process_id=runtime.process_id)
