"""The scheduler process: start, run the jobs, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import math
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
# Publishing connections per client: see publishing_clients.
CONNECTIONS_PER_CLIENT = 10


def publishing_clients(settings: Settings) -> list[httpx.AsyncClient]:
    """A few long-lived clients, made once per process: ``ceil(workers / 10)``.

    The issue asks for one long-lived client per process; this keeps its point
    (connections reused, no client per request) but splits the pool: httpcore's pool
    walks every connection it holds on each request and each response (the expiry
    check polls every idle socket; encode/httpcore#1035): with 50 requests in flight,
    one client cost 5.7 ms of CPU per request here and 5 clients of 10 connections
    1.7 ms (bench/README.md, publish_lag.py). A delivery's channel picks its
    client by a stable hash (:meth:`SchedulerRuntime.client_for`). Each client is
    guarded like the web process's: instances, webhooks and homeservers are
    user-given hosts (private addresses refused unless allowed).
    """
    count = max(1, math.ceil(settings.publish_workers / CONNECTIONS_PER_CLIENT))
    # The same total as one client had: twice the worker slots, at least 100.
    total = max(100, settings.publish_workers * 2)
    limits = httpx.Limits(max_connections=math.ceil(total / count))
    return [
        new_client(allow_private=settings.allow_private_hosts, timeout=HTTP_TIMEOUT, limits=limits)
        for _ in range(count)
    ]


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
    async with contextlib.AsyncExitStack() as clients:
        publishing = tuple(
            [await clients.enter_async_context(client) for client in publishing_clients(settings)]
        )
        runtime = SchedulerRuntime(
            settings=settings, database=database, http=publishing[0], publishing=publishing
        )
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
    _done, pending = await asyncio.wait(set(runtime.workers), timeout=DRAIN_SECONDS)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
