"""OAuth connect routes: start (JSON API, admins and owners) and the network's
callback (the browser comes back here; the session's person must be the one who
started)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from app.auth.deps import Authorize, Member, PageUser
from app.auth.policy import Action
from app.crypto import CredentialBox
from app.db import session_scope
from app.deps import DatabaseDep, SessionDep, SettingsDep
from app.net.outbound import shared_client
from app.networks.base import Network
from app.oauth import service
from app.oauth.schemas import OAuthStartRead

router = APIRouter(prefix="/workspaces/{workspace_id}/channels/oauth", tags=["channels"])
callback_router = APIRouter(include_in_schema=False)

Manager = Annotated[Member, Depends(Authorize(Action.channels_manage))]


@router.post("/{network}/start", response_model=OAuthStartRead)
async def start(
    network: Network, member: Manager, db: SessionDep, settings: SettingsDep
) -> OAuthStartRead:
    """Start connecting an account (X, LinkedIn, Facebook, Instagram, Threads): send the
    browser to ``authorize_url``; the network sends it back to Almanac, which creates the
    channel (for Facebook and Instagram, one per Page or linked account granted)."""
    started = await service.start_connect(
        db,
        workspace_id=member.workspace.id,
        user=member.user,
        network=network,
        settings=settings,
        box=CredentialBox(settings.encryption_keys),
    )
    return OAuthStartRead(authorize_url=started.authorize_url, expires_at=started.expires_at)


@callback_router.get("/oauth/callback/{network}")
async def callback(
    network: Network,
    user: PageUser,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    state: Annotated[str, Query(min_length=1, max_length=500)],
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """The network's redirect after the person consented (``code``) or declined
    (``error``); ends on the workspace's channels page. A GET that writes (the
    network's redirect is a GET): it gets a write session of its own, since a GET's
    request session is the read one."""
    app = request.app
    async with session_scope(database.write_session) as db:
        outcome = await service.complete_connect(
            db,
            user=user,
            network=network,
            state=state,
            code=code,
            error=error,
            settings=settings,
            box=CredentialBox(settings.encryption_keys),
            adapters=service.adapter_context(settings, shared_client(app), database.write_session),
            request=request,
        )
    return RedirectResponse(outcome.location, status_code=303)
