"""JSON routes: workspaces, the crisis switch, members and invitations.

Every route gets the caller through ``app.auth.deps``: ``CurrentUser`` outside a
workspace, ``Authorize(action)`` inside one (404 for non-members, 403 when the
role may not). The rules live in ``service.py``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.auth.deps import Authorize, CurrentUser, Member, current_principal, in_workspace
from app.auth.policy import Action
from app.deps import SessionDep, SettingsDep
from app.models import Invitation, Role, Workspace
from app.workspaces import service
from app.workspaces.schemas import (
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    MemberRead,
    MemberUpdate,
    PauseRequest,
    WorkspaceCreate,
    WorkspaceRead,
    WorkspaceUpdate,
)

router = APIRouter(tags=["workspaces"])


class ManageMemberOrSelf(Authorize):
    """``members.manage`` on someone else; any member may remove themselves (leave)."""

    def __init__(self) -> None:
        super().__init__(Action.members_manage)

    async def __call__(  # type: ignore[override]
        self, request: Request, workspace_id: uuid.UUID, user_id: uuid.UUID, db: SessionDep
    ) -> Member:
        principal = await current_principal(request, db)
        if principal.user.id == user_id:
            return await Authorize(Action.members_read)(request, workspace_id, db)
        return await super().__call__(request, workspace_id, db)


Reader = Annotated[Member, Depends(Authorize(Action.workspace_read))]
Updater = Annotated[Member, Depends(Authorize(Action.workspace_update))]
Pauser = Annotated[Member, Depends(Authorize(Action.workspace_pause))]
MembersReader = Annotated[Member, Depends(Authorize(Action.members_read))]
MembersManager = Annotated[Member, Depends(Authorize(Action.members_manage))]
MemberRemover = Annotated[Member, Depends(ManageMemberOrSelf())]


def _workspace(workspace: Workspace, role: Role) -> WorkspaceRead:
    fields = {
        name: getattr(workspace, name) for name in WorkspaceRead.model_fields if name != "role"
    }
    return WorkspaceRead.model_validate({**fields, "role": role})


def _member(row: service.MemberRow) -> MemberRead:
    return MemberRead(
        user_id=row.user.id,
        email=row.user.email,
        display_name=row.user.display_name,
        role=row.membership.role,
        joined_at=row.membership.created_at,
    )


def _invitation(invitation: Invitation) -> InvitationRead:
    return InvitationRead.model_validate(invitation, from_attributes=True)


# -- workspaces -------------------------------------------------------------------


@router.get("/workspaces")
async def list_workspaces(db: SessionDep, user: CurrentUser) -> list[WorkspaceRead]:
    """The workspaces you are a member of, with your role in each."""
    return [_workspace(ws, role) for ws, role in await service.list_workspaces(db, user)]


@router.post("/workspaces", status_code=201)
async def create_workspace(
    data: WorkspaceCreate, request: Request, db: SessionDep, user: CurrentUser
) -> WorkspaceRead:
    """Create a workspace; you become its owner. The slug is made from the name if left out."""
    workspace = await service.create_workspace(db, user=user, data=data, request=request)
    return _workspace(workspace, Role.owner)


@router.get("/workspaces/{workspace_id}")
async def read_workspace(member: Reader) -> WorkspaceRead:
    """A workspace: its time zone, approval policy, lateness limit and pause state."""
    return _workspace(member.workspace, member.role)


@router.patch("/workspaces/{workspace_id}")
async def update_workspace(
    data: WorkspaceUpdate, request: Request, db: SessionDep, member: Updater
) -> WorkspaceRead:
    """Change a workspace's settings; only the fields sent change."""
    workspace = await service.update_workspace(db, member=member, data=data, request=request)
    return _workspace(workspace, member.role)


@router.post("/workspaces/{workspace_id}/pause")
async def pause_workspace(
    data: PauseRequest, request: Request, db: SessionDep, member: Pauser
) -> WorkspaceRead:
    """The crisis switch: stop all publishing of this workspace until it is resumed.

    Deliveries stay pending however late they get; 409 if already paused."""
    workspace = await service.pause_workspace(
        db, member=member, reason=data.reason, request=request
    )
    return _workspace(workspace, member.role)


@router.post("/workspaces/{workspace_id}/resume")
async def resume_workspace(request: Request, db: SessionDep, member: Pauser) -> WorkspaceRead:
    """Start publishing again after a pause; 409 if the workspace is not paused."""
    workspace = await service.resume_workspace(db, member=member, request=request)
    return _workspace(workspace, member.role)


# -- members ----------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/members")
async def list_members(db: SessionDep, member: MembersReader) -> list[MemberRead]:
    """The members of this workspace and their roles, owners first."""
    return [_member(row) for row in await service.list_members(db, member.workspace.id)]


@router.patch("/workspaces/{workspace_id}/members/{user_id}")
async def change_member_role(
    user_id: uuid.UUID,
    data: MemberUpdate,
    request: Request,
    db: SessionDep,
    member: MembersManager,
) -> MemberRead:
    """Give a member another role. Only owners touch owners; the last owner stays owner."""
    row = await service.change_role(
        db, member=member, user_id=user_id, role=data.role, request=request
    )
    return _member(row)


@router.delete("/workspaces/{workspace_id}/members/{user_id}", status_code=204)
async def remove_member(
    user_id: uuid.UUID, request: Request, db: SessionDep, member: MemberRemover
) -> None:
    """Remove a member, or leave the workspace (your own user id). The last owner stays."""
    await service.remove_member(db, member=member, user_id=user_id, request=request)


# -- invitations ------------------------------------------------------------------


@router.post("/workspaces/{workspace_id}/invitations", status_code=201)
async def create_invitation(
    data: InvitationCreate,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    member: MembersManager,
) -> InvitationCreated:
    """Invite someone by e-mail. The answer holds the single-use link, shown only this
    once (no mail is sent: copy it to them). It works for seven days."""
    invitation, link = await service.create_invitation(
        db,
        member=member,
        email=data.email,
        role=data.role,
        base_url=settings.base_url,
        request=request,
    )
    return InvitationCreated(**_invitation(invitation).model_dump(), link=link)


@router.get("/workspaces/{workspace_id}/invitations")
async def list_invitations(db: SessionDep, member: MembersManager) -> list[InvitationRead]:
    """Invitations not used, withdrawn or expired yet (their links are never shown again)."""
    return [_invitation(i) for i in await service.list_invitations(db, member.workspace.id)]


@router.delete("/workspaces/{workspace_id}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(
    invitation_id: uuid.UUID, request: Request, db: SessionDep, member: MembersManager
) -> None:
    """Withdraw an invitation: its link stops working at once."""
    invitation = await in_workspace(db, Invitation, invitation_id, member, "invitation")
    await service.revoke_invitation(db, member=member, invitation=invitation, request=request)
