"""What the service knows about itself: database reachability, migrations, scheduler."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrate
from app.db import Database
from app.models import SchedulerHeartbeat, utcnow


@dataclass
class Readiness:
    ready: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scheduler_seen_at: datetime | None = None


async def last_scheduler_seen(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(SchedulerHeartbeat.seen_at)))


def scheduler_warning(seen_at: datetime | None, stale_after: timedelta) -> str | None:
    if seen_at is None:
        return "No scheduler process has been seen: nothing will be published until one runs."
    if utcnow() - seen_at > stale_after:
        minutes = int((utcnow() - seen_at).total_seconds() // 60)
        return (
            f"No scheduler has been seen for {max(minutes, 1)} minute(s): "
            "scheduled posts are not going out."
        )
    return None


async def readiness(database: Database, stale_after: timedelta) -> Readiness:
    try:
        async with database.read_session() as session:
            await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        return Readiness(False, [f"database unreachable: {type(exc).__name__}"])
    try:
        at_head = await migrate.is_at_head(database.engine)
    except (SQLAlchemyError, OSError) as exc:
        return Readiness(False, [f"cannot read the migration state: {type(exc).__name__}"])
    if not at_head:
        return Readiness(False, ["database migrations are not at head: run `almanac migrate`"])
    async with database.read_session() as session:
        seen_at = await last_scheduler_seen(session)
        live = await session.scalar(
            select(func.count())
            .select_from(SchedulerHeartbeat)
            .where(SchedulerHeartbeat.seen_at > utcnow() - stale_after)
        )
    warnings = [w for w in [scheduler_warning(seen_at, stale_after)] if w]
    if database.is_sqlite and (live or 0) > 1:
        warnings.append(
            f"{live} scheduler processes share this SQLite database: only the first one "
            "publishes. Run one scheduler with SQLite, or use PostgreSQL for several."
        )
    return Readiness(True, [], warnings, seen_at)
