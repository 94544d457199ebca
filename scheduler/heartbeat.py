"""The heartbeat job: a row per live process, so pages and /readyz can tell when
no scheduler is running."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import delete, update

from app.db import session_scope
from app.models import SchedulerHeartbeat, utcnow
from scheduler.runtime import SchedulerRuntime

# Rows of processes that died without saying goodbye are removed after this.
FORGET_AFTER = timedelta(days=1)


async def beat(runtime: SchedulerRuntime) -> None:
    now = utcnow()
    async with session_scope(runtime.database.write_session) as session:
        result = await session.execute(
            update(SchedulerHeartbeat)
            .where(SchedulerHeartbeat.process_id == runtime.process_id)
            .values(seen_at=now)
        )
        if result.rowcount == 0:
            session.add(
                SchedulerHeartbeat(
                    process_id=runtime.process_id,
                    hostname=socket.gethostname(),
                    pid=_pid(runtime.process_id),
                    started_at=now,
                    seen_at=now,
                )
            )
        await session.execute(
            delete(SchedulerHeartbeat).where(SchedulerHeartbeat.seen_at < now - FORGET_AFTER)
        )


async def farewell(runtime: SchedulerRuntime) -> None:
    """A clean stop removes the process's row at once."""
    async with session_scope(runtime.database.write_session) as session:
        await session.execute(
            delete(SchedulerHeartbeat).where(SchedulerHeartbeat.process_id == runtime.process_id)
        )


def _pid(process_id: str) -> int:
    return int(process_id.split(":")[-2])
