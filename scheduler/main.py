"""The scheduler process: start, run the jobs, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from datetime import UTC
from functools import partial

import httpx
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import __version__
from app.db import Database, create_engine
from app.logging import get_logger
from app.net.outbound import new_client
from app.observability import serve_scheduler_metrics
from app.settings import Settings
from scheduler import heartbeat, wake
from scheduler.jobs import register_jobs
from scheduler.runtime import DISPATCH_JOB, SchedulerRuntime

log = get_logger("almanac.scheduler")
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# On a clean stop, publishes in flight get this long to finish before they are
# cancelled (their leases then expire and the reaper settles them).
DRAIN_SECONDS = 20.0


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, classes, the tables' metadata,
    compiled statements: ~160,000 objects) out of the cyclic garbage collector's reach.

    They live as long as the process, yet every full collection walked them all: under
    a burst that was a pause of 50-100 ms every few seconds, with every worker slot
    waiting (bench/README.md, publish_lag). Called by ``almanac scheduler`` before
    it starts, never in a test process (whose objects are not long-lived)."""
    gc.collect()
    gc.freeze()


def publishing_client(settings: Settings) -> httpx.AsyncClient:
    """The process's one long-lived client, guarded like the web process's: instances,
    webhooks and homeservers are user-given hosts (private addresses refused unless
    allowed). Twice the worker slots in connections, at least 100. Its transport is
    aiohttp's pool (``app.net.aio``): httpcore's scanned every connection on each
    request and response, so one busy client cost 3-4 times the CPU per request
    (bench/README.md, publish_lag)."""
    limits = httpx.Limits(max_connections=max(100, settings.publish_workers * 2))
    return new_client(
        allow_private=settings.allow_private_hosts, timeout=HTTP_TIMEOUT, limits=limits
    )


def build_scheduler(runtime: SchedulerRuntime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    register_jobs(scheduler, runtime)
    runtime.scheduler = scheduler

    def skipped(event: JobSubmissionEvent) -> None:
        # A wake that reaches APScheduler after a tick returned but before APScheduler
        # counted it finished (its done callback runs on the next loop pass) is skipped
        # as "max instances reached", and the job re-timed to its interval: up to
        # dispatch_idle_seconds of sleep with work waiting. Wake again once that done
        # callback ran (it was queued before this one); a tick still running just goes
        # round once more.
        if event.job_id == DISPATCH_JOB:
            asyncio.get_running_loop().call_soon(partial(runtime.wake, again=True))

    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES)
    return scheduler


async def run_scheduler(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or a SIGINT/SIGTERM arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    database = Database(create_engine(settings.database))
    async with publishing_client(settings) as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        scheduler = build_scheduler(runtime)
        scheduler.start()
        listener = (
            None
            if database.is_sqlite
            else asyncio.create_task(wake.listen(runtime, stop), name="dispatch-listener")
        )
        stop_metrics = None
        if settings.scheduler_metrics_port:
            port, stop_metrics = serve_scheduler_metrics(settings.scheduler_metrics_port)
            log.info("scheduler metrics served", address=f"127.0.0.1:{port}")
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
            if stop_metrics is not None:
                stop_metrics()
            scheduler.shutdown(wait=False)
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            await _drain(runtime)
            await heartbeat.farewell(runtime)
            await database.dispose()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            log.info("scheduler stopped", process_id=runtime.process_id)


async def _drain(runtime: SchedulerRuntime) -> None:
    if not runtime.workers:
        return
    log.info("waiting for publishes in flight", count=len(runtime.workers))
    deadline = asyncio.get_running_loop().time() + DRAIN_SECONDS
    # A transaction of published outcomes that was claiming when dispatch stopped
    # starts the workers it claimed: they are waited for as well.
    while runtime.workers and (left := deadline - asyncio.get_running_loop().time()) > 0:
        await asyncio.wait(set(runtime.workers), timeout=left)
    pending = set(runtime.workers)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
