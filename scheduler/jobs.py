"""The scheduler's jobs, registered by fixed ids.

Fixed ids, ``max_instances=1`` and ``coalesce=True``: a job never overlaps itself
and a late wake-up runs it once, not once per missed interval. Jobs keep no state
in APScheduler: the database is the queue, so its job store stays in memory.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.models import utcnow
from scheduler import dispatch, heartbeat, metrics, notifications, reaper, token_refresh
from scheduler.runtime import DISPATCH_JOB, SchedulerRuntime


class JobId(StrEnum):
    heartbeat = "heartbeat"
    notifications = "notifications"
    dispatch = DISPATCH_JOB
    lease_reaper = "lease_reaper"
    token_refresh = "token_refresh"
    metrics = "metrics"
    # Later issues register theirs here: dispatch, lease_reaper, token_refresh,
    # metrics, notifications.


def register_jobs(scheduler: AsyncIOScheduler, runtime: SchedulerRuntime) -> None:
    common = {"max_instances": 1, "coalesce": True, "replace_existing": True}
    scheduler.add_job(
        heartbeat.beat,
        "interval",
        seconds=runtime.settings.heartbeat_interval_seconds,
        args=[runtime],
        id=JobId.heartbeat,
        name="heartbeat",
        next_run_time=utcnow(),
        misfire_grace_time=int(timedelta(minutes=1).total_seconds()),
        **common,
    )
    scheduler.add_job(
        notifications.run,
        "interval",
        seconds=notifications.INTERVAL_SECONDS,
        args=[runtime],
        id=JobId.notifications,
        name="webhook delivery",
        next_run_time=utcnow(),
        misfire_grace_time=int(timedelta(minutes=1).total_seconds()),
        **common,
    )
    # Dispatch re-times itself after every tick (the next due time, at most
    # dispatch_idle_seconds away; a second on SQLite) and is woken by NOTIFY.
    idle = 1.0 if runtime.database.is_sqlite else runtime.settings.dispatch_idle_seconds
    scheduler.add_job(
        dispatch.tick,
        "interval",
        seconds=idle,
        args=[runtime],
        id=JobId.dispatch,
        name="dispatch due deliveries",
        next_run_time=utcnow(),
        misfire_grace_time=None,
        **common,
    )
    scheduler.add_job(
        reaper.reap,
        "interval",
        seconds=reaper_interval(runtime),
        args=[runtime],
        id=JobId.lease_reaper,
        name="reap expired leases",
        next_run_time=utcnow(),
        misfire_grace_time=None,
        **common,
    )
    scheduler.add_job(
        token_refresh.refresh_tokens,
        "interval",
        seconds=runtime.settings.token_refresh_interval_seconds,
        args=[runtime],
        id=JobId.token_refresh,
        name="renew expiring tokens",
        next_run_time=utcnow(),
        misfire_grace_time=None,
        **common,
    )

    scheduler.add_job(
        metrics.collect,
        "interval",
        seconds=metrics.INTERVAL_SECONDS,
        args=[runtime],
        id=JobId.metrics,
        name="collect post metrics",
        next_run_time=utcnow(),
        misfire_grace_time=None,
        **common,
    )


def reaper_interval(runtime: SchedulerRuntime) -> float:
    """A quarter of the lease (between one and thirty seconds)."""
    return min(30.0, max(1.0, runtime.settings.publish_lease_seconds / 4))
