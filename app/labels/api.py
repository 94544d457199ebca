"""Label routes: the workspace's content pillars. Reading needs ``posts.read``,
writing ``posts.write``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from app.auth.deps import Authorize, Member, in_workspace
from app.auth.policy import Action
from app.deps import SessionDep
from app.labels import service
from app.labels.schemas import LabelCreate, LabelRead, LabelUpdate
from app.models import Label

router = APIRouter(prefix="/workspaces/{workspace_id}/labels", tags=["labels"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]
Writer = Annotated[Member, Depends(Authorize(Action.posts_write))]


async def _readable_label(label_id: uuid.UUID, member: Reader, db: SessionDep) -> Label:
    return await in_workspace(db, Label, label_id, member, "label")


async def _writable_label(label_id: uuid.UUID, member: Writer, db: SessionDep) -> Label:
    return await in_workspace(db, Label, label_id, member, "label")


ReadableLabel = Annotated[Label, Depends(_readable_label)]
WritableLabel = Annotated[Label, Depends(_writable_label)]


async def _read(db: SessionDep, label: Label) -> LabelRead:
    counts = await service.post_counts(db, [label.id])
    return service.to_read(label, counts.get(label.id, 0))


@router.get("", response_model=list[LabelRead])
async def list_labels(member: Reader, db: SessionDep) -> list[LabelRead]:
    """The workspace's labels by name, each with how many posts carry it."""
    return [
        service.to_read(label, n) for label, n in await service.list_labels(db, member.workspace.id)
    ]


@router.post("", response_model=LabelRead, status_code=status.HTTP_201_CREATED)
async def create_label(
    data: LabelCreate, member: Writer, db: SessionDep, request: Request
) -> LabelRead:
    """A new label; its name must not be taken in this workspace (409)."""
    label = await service.create_label(
        db, workspace_id=member.workspace.id, data=data, actor=member.user, request=request
    )
    return service.to_read(label)


@router.get("/{label_id}", response_model=LabelRead)
async def read_label(member: Reader, label: ReadableLabel, db: SessionDep) -> LabelRead:
    """One label."""
    return await _read(db, label)


@router.patch("/{label_id}", response_model=LabelRead)
async def update_label(
    data: LabelUpdate, member: Writer, label: WritableLabel, db: SessionDep, request: Request
) -> LabelRead:
    """Rename a label or change its colour."""
    label = await service.update_label(db, label, data=data, actor=member.user, request=request)
    return await _read(db, label)


@router.delete("/{label_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_label(
    member: Writer, label: WritableLabel, db: SessionDep, request: Request
) -> Response:
    """Delete a label: it is taken off every post and out of the plans' mix targets."""
    await service.delete_label(db, label, actor=member.user, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
