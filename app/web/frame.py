"""What every page's frame shows (banners, scheduler warning), and the render helper
that pages use so no page forgets it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import system


async def frame_context(request: Request, session: AsyncSession) -> dict[str, Any]:
    settings = request.app.state.settings
    seen_at = await system.last_scheduler_seen(session)
    warning = system.scheduler_warning(
        seen_at, timedelta(seconds=settings.scheduler_stale_after_seconds)
    )
    return {
        "scheduler_warning": warning,
        "banners": [],
        "workspaces": [],
        "current_workspace": None,
    }


async def render(
    request: Request,
    session: AsyncSession,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    full = await frame_context(request, session)
    full.update(context or {})
    return request.app.state.templates.TemplateResponse(
        request, template, full, status_code=status_code
    )
