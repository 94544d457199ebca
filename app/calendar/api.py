"""Calendar route: compact entries for a range of at most 100 days."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.calendar import service
from app.calendar.schemas import CalendarRange
from app.deps import SessionDep
from app.timeutil import ApiDatetime

router = APIRouter(prefix="/workspaces/{workspace_id}/calendar", tags=["calendar"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]


# response_model documents the body in OpenAPI; the body itself is built by the
# database (see app.calendar.service), so FastAPI neither validates nor re-encodes it.
@router.get("", response_model=CalendarRange)
async def calendar(
    member: Reader,
    db: SessionDep,
    start: Annotated[ApiDatetime, Query(alias="from", description="Range start (ISO instant).")],
    end: Annotated[
        ApiDatetime, Query(alias="to", description="Range end, excluded (ISO instant).")
    ],
) -> Response:
    """Posts due in [from, to): title, status, local time and zone, due time, the
    networks and channels of their copies, labels and plan."""
    body = await service.calendar_json(db, member.workspace.id, start, end)
    return Response(content=body, media_type="application/json")
