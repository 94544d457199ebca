"""The audit trail of a workspace, for its admins and owners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.audit import service
from app.audit.schemas import AuditEventRead
from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import SessionDep
from app.timeutil import ApiAwareDatetime

router = APIRouter(tags=["audit"])


@router.get("/workspaces/{workspace_id}/audit")
async def list_audit_events(
    member: Annotated[Member, Depends(Authorize(Action.audit_read))],
    db: SessionDep,
    action: Annotated[
        str | None,
        Query(max_length=64, description="Only events of this action, e.g. `member.role_changed`."),
    ] = None,
    before: Annotated[
        ApiAwareDatetime | None,
        Query(
            description="Only events older than this moment (with its zone): pass the "
            "`created_at` of the last event of a page to get the next one."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many events.")] = 100,
) -> list[AuditEventRead]:
    """Who did what in this workspace, when and from where; newest first."""
    events = await service.list_events(
        db, member.workspace.id, limit=limit, before=before, action=action
    )
    return [AuditEventRead.of(event) for event in events]
