"""Calendar route: compact entries for a range of at most 100 days."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.calendar import service
from app.calendar.schemas import CalendarRange
from app.deps import SessionDep

router = APIRouter(prefix="/workspaces/{workspace_id}/calendar", tags=["calendar"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]


@router.get("", response_model=CalendarRange)
async def calendar(
    member: Reader,
    db: SessionDep,
    start: Annotated[datetime, Query(alias="from", description="Range start (ISO instant).")],
    end: Annotated[datetime, Query(alias="to", description="Range end, excluded (ISO instant).")],
) -> CalendarRange:
    """Posts due in [from, to): title, status, local time and zone, due time, the
    networks and channels of their copies, labels and plan."""
    return await service.calendar_range(db, member.workspace.id, start, end)
