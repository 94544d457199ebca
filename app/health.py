"""Liveness and readiness probes."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import system
from app.deps import DatabaseDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    """Ready when the database answers and its migrations are at head (503 otherwise).
    A missing scheduler is a warning, not a failure: the web app still serves."""
    state = await system.readiness(
        database, timedelta(seconds=settings.scheduler_stale_after_seconds)
    )
    body = {
        "status": "ready" if state.ready else "not ready",
        "problems": state.problems,
        "warnings": state.warnings,
        "scheduler_seen_at": state.scheduler_seen_at.isoformat()
        if state.scheduler_seen_at
        else None,
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)
