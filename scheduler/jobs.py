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
from scheduler import heartbeat
from scheduler.runtime import SchedulerRuntime


class JobId(StrEnum):
    heartbeat = "heartbeat"
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
