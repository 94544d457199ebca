"""iCal feed routes.

Management under ``/api/v1/workspaces/{workspace_id}/ical-feed``: every member may
see whether the feed exists (``workspace.read``); admins (``members.manage``) create,
rotate and delete it. ``GET /ical/{feed_token}.ics`` is public: the secret token in
the URL is the permission, as calendar clients send no credentials.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import SessionDep
from app.errors import NotFound
from app.ical import service
from app.ical.schemas import IcalFeedIssued, IcalFeedRead
from app.models import Workspace

router = APIRouter(prefix="/workspaces/{workspace_id}/ical-feed", tags=["ical"])
public_router = APIRouter(tags=["ical"])

Reader = Annotated[Member, Depends(Authorize(Action.workspace_read))]
Admin = Annotated[Member, Depends(Authorize(Action.members_manage))]

CALENDAR_TYPE = "text/calendar; charset=utf-8"


def _base_url(request: Request) -> str:
    return request.app.state.settings.base_url


@router.get("", response_model=IcalFeedRead)
async def read_feed(member: Reader, db: SessionDep) -> IcalFeedRead:
    """Whether the workspace has a calendar feed, and the start of its token. The URL
    itself is shown only when the feed is created or rotated."""
    return service.to_read(await service.get_feed(db, member.workspace.id))


@router.post(
    "",
    response_model=IcalFeedIssued,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The feed was rotated: a new URL, the old one is dead."}},
)
async def issue_feed(
    member: Admin, db: SessionDep, request: Request, response: Response
) -> IcalFeedIssued:
    """Create the calendar feed (201) or rotate it (200). The answer holds the feed's
    URL, shown this once; rotating stops the previous URL at once."""
    issued, created = await service.issue_feed(
        db,
        workspace_id=member.workspace.id,
        base_url=_base_url(request),
        actor=member.user,
        request=request,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Cache-Control"] = "no-store"
    return issued


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_feed(member: Admin, db: SessionDep, request: Request) -> Response:
    """Turn the calendar feed off: its URL answers 404 from now on. Deleting a feed
    that does not exist is not an error."""
    await service.delete_feed(
        db, workspace_id=member.workspace.id, actor=member.user, request=request
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public_router.get(
    "/ical/{feed_token}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "The calendar (iCalendar)."},
        304: {"description": "Unchanged since the ETag sent in If-None-Match."},
        404: {"description": "No feed has this token."},
    },
)
async def ical_feed(feed_token: str, db: SessionDep, request: Request) -> Response:
    """A workspace's dated posts as a calendar to subscribe to. No sign-in: the
    secret token in the URL is the permission."""
    feed = await service.feed_for_token(db, feed_token)
    workspace = await db.get(Workspace, feed.workspace_id) if feed is not None else None
    if feed is None or workspace is None:
        raise NotFound("No such calendar feed.")
    window = service.Window.around()
    base_url = _base_url(request)
    etag = await service.feed_etag(db, workspace, window, base_url)
    headers = {"ETag": etag, "Cache-Control": service.CACHE_CONTROL, "X-Robots-Tag": "noindex"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = await service.render_feed(db, workspace, window, base_url)
    headers["Content-Disposition"] = 'inline; filename="almanac.ics"'
    return Response(content=body, media_type=CALENDAR_TYPE, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match asks."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))
