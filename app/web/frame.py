"""What every page's frame shows, and the render helper pages use so none forgets it.

The frame (``templates/base.html``) reads these context keys; a page passes its
own values through ``render(..., context)`` and they win over the defaults:

- ``scheduler_warning``: a sentence, or ``None`` when a scheduler was seen lately;
- ``scheduler_seen_at``: when a scheduler process last reported (aware UTC) or ``None``;
- ``banners``: a list of :class:`Banner` (level ``info`` | ``warning`` | ``danger``);
- ``nav_items``: a list of :class:`NavItem`; the top bar shows only the brand without it;
- ``workspaces`` and ``current_workspace``: :class:`WorkspaceLink` view-models for
  the switcher (shown when ``workspaces`` is not empty); by default the signed-in
  user's workspaces, the current one being the ``{workspace_id}`` of the path;
- ``current_user``: a :class:`SignedInUser` or ``None`` (the account menu, with the
  sign-out form);
- ``csrf_token``: the session's CSRF token, or ``None``; every form of a signed-in
  page carries it as ``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``.

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
from app.auth import service as auth_service
from app.auth.deps import resolve_principal
from app.auth.sessions import Principal
from app.deps import SAFE_METHODS
from app.errors import AppError

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


@dataclass(frozen=True)
class SignedInUser:
    """Who the account menu says is signed in."""

    display_name: str
    email: str


def workspace_url(workspace_id: object) -> str:
    """Where the switcher sends you for a workspace (the web issue owns that page)."""
    return f"/w/{workspace_id}"


async def _principal(request: Request, session: AsyncSession) -> Principal | None:
    """The caller, if the route already resolved it or a safe request can cheaply.

    An unsafe request that did not resolve its caller (an anonymous form such as the
    sign-in page) is rendered anonymously rather than tripping the CSRF check."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    if request.method not in SAFE_METHODS:
        return None
    try:
        return await resolve_principal(request, session)
    except AppError:  # e.g. a bad Authorization header on a page: render it anonymously
        return None


async def frame_context(request: Request, session: AsyncSession) -> dict[str, Any]:
    settings = request.app.state.settings
    seen_at = await system.last_scheduler_seen(session)
    warning = system.scheduler_warning(
        seen_at, timedelta(seconds=settings.scheduler_stale_after_seconds)
    )
    principal = await _principal(request, session)
    workspaces: list[WorkspaceLink] = []
    current_user: SignedInUser | None = None
    if principal is not None:
        current_user = SignedInUser(principal.user.display_name, principal.user.email)
        workspaces = [
            WorkspaceLink(str(ws.id), ws.name, workspace_url(ws.id))
            for ws, _role in await auth_service.memberships(session, principal.user)
        ]
    here = str(request.path_params.get("workspace_id", ""))
    return {
        "scheduler_warning": warning,
        "scheduler_seen_at": seen_at,
        "banners": [],
        "nav_items": [],
        "workspaces": workspaces,
        "current_workspace": next((ws for ws in workspaces if ws.id == here), None),
        "current_user": current_user,
        "csrf_token": principal.session.csrf_token if principal and principal.session else None,
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
