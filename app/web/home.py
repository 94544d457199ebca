"""The home page: what Almanac is, whether this install is healthy, what to do next.

No account exists yet on a fresh install, so the page shows no workspace data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app import __version__, system
from app.db import Database
from app.deps import DatabaseDep, SessionDep, SettingsDep
from app.models import utcnow
from app.web.auth_pages import FirstRunGate
from app.web.frame import render

router = APIRouter()

CheckState = Literal["ok", "warning", "problem"]


@dataclass(frozen=True)
class StatusCheck:
    """One line of the system status card."""

    name: str
    state: CheckState
    summary: str
    seen_at: datetime | None = None


def time_ago(moment: datetime, now: datetime) -> str:
    seconds = max(int((now - moment).total_seconds()), 0)
    if seconds < 10:
        return "just now"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return f"{seconds} seconds ago"


async def status_checks(database: Database, stale_after: timedelta) -> list[StatusCheck]:
    """The same checks as ``/readyz``, worded for a person."""
    state = await system.readiness(database, stale_after)
    backend = "SQLite" if database.is_sqlite else "PostgreSQL"
    checks = [StatusCheck("Web app", "ok", f"Running, version {__version__}.")]
    if state.ready:
        checks.append(StatusCheck("Database", "ok", f"{backend} reachable, migrations up to date."))
    else:
        checks.append(StatusCheck("Database", "problem", " ".join(state.problems)))
    seen_at = state.scheduler_seen_at
    if not state.ready:
        checks.append(StatusCheck("Scheduler", "warning", "Unknown until the database is ready."))
    elif seen_at is None:
        checks.append(
            StatusCheck("Scheduler", "warning", "Never seen. Nothing is published until one runs.")
        )
    else:
        ago = time_ago(seen_at, utcnow())
        if system.scheduler_warning(seen_at, stale_after):
            summary = f"Last seen {ago}. Scheduled posts are not going out."
            checks.append(StatusCheck("Scheduler", "warning", summary, seen_at))
        else:
            checks.append(StatusCheck("Scheduler", "ok", f"Running, last seen {ago}.", seen_at))
    return checks


@router.get("/", response_class=HTMLResponse, dependencies=[FirstRunGate])
async def home(
    request: Request, session: SessionDep, database: DatabaseDep, settings: SettingsDep
) -> HTMLResponse:
    """What Almanac is, the state of this install, and where to go next."""
    stale_after = timedelta(seconds=settings.scheduler_stale_after_seconds)
    checks = await status_checks(database, stale_after)
    return await render(request, session, "home.html", {"checks": checks})
