"""What every page's frame shows, and the render helper pages use so none forgets it.

The frame (``templates/base.html``) reads these context keys; a page passes its
own values through ``render(..., context)`` and they win over the defaults:

- ``scheduler_warning``: a sentence, or ``None`` when a scheduler was seen lately;
- ``scheduler_seen_at``: when a scheduler process last reported (aware UTC) or ``None``;
- ``banners``: a list of :class:`Banner` (level ``info`` | ``warning`` | ``danger``);
- ``nav_items``: a list of :class:`NavItem`; the top bar shows only the brand without it;
- ``workspaces`` and ``current_workspace``: :class:`WorkspaceLink` view-models for
  the switcher (shown when ``workspaces`` is not empty).

Pages get view-models, never ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import system

BannerLevel = Literal["info", "warning", "danger"]


@dataclass(frozen=True)
class Banner:
    """A message across the top of the page."""

    level: BannerLevel
    text: str


@dataclass(frozen=True)
class NavItem:
    """One link of the main navigation; ``badge`` is an optional count (e.g. the inbox)."""

    label: str
    href: str
    badge: int | None = None


@dataclass(frozen=True)
class WorkspaceLink:
    """A workspace as the switcher shows it: its id, name and the page to go to."""

    id: str
    name: str
    url: str


async def frame_context(request: Request, session: AsyncSession) -> dict[str, Any]:
    settings = request.app.state.settings
    seen_at = await system.last_scheduler_seen(session)
    warning = system.scheduler_warning(
        seen_at, timedelta(seconds=settings.scheduler_stale_after_seconds)
    )
    return {
        "scheduler_warning": warning,
        "scheduler_seen_at": seen_at,
        "banners": [],
        "nav_items": [],
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
