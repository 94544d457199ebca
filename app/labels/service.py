"""Labels: names are unique in a workspace (whatever their case); deleting a label
takes it off every post and out of every plan's content-mix targets.
Services flush; the request commits."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.errors import Conflict
from app.labels.schemas import LabelCreate, LabelRead, LabelUpdate
from app.models import Label, Plan, User, post_label

TARGET = "label"


def to_read(label: Label, posts: int = 0) -> LabelRead:
    return LabelRead(
        id=label.id,
        workspace_id=label.workspace_id,
        name=label.name,
        color=label.color,
        posts=posts,
        created_at=label.created_at,
        updated_at=label.updated_at,
    )


async def post_counts(db: AsyncSession, label_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not label_ids:
        return {}
    rows = await db.execute(
        select(post_label.c.label_id, func.count())
        .where(post_label.c.label_id.in_(label_ids))
        .group_by(post_label.c.label_id)
    )
    return {label_id: count for label_id, count in rows.all()}


async def list_labels(db: AsyncSession, workspace_id: uuid.UUID) -> list[tuple[Label, int]]:
    labels = list(
        (
            await db.scalars(
                select(Label).where(Label.workspace_id == workspace_id).order_by(Label.name)
            )
        ).all()
    )
    counts = await post_counts(db, [label.id for label in labels])
    return [(label, counts.get(label.id, 0)) for label in labels]


def _taken(name: str) -> Conflict:
    return Conflict(f"This workspace already has a label named '{name}'; pick another name.")


async def _check_free(
    db: AsyncSession, workspace_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
) -> None:
    query = select(Label.name).where(
        Label.workspace_id == workspace_id, func.lower(Label.name) == name.lower()
    )
    if other_than is not None:
        query = query.where(Label.id != other_than)
    existing = await db.scalar(query)
    if existing is not None:
        raise _taken(existing)


async def _flush(db: AsyncSession, name: str) -> None:
    # Two requests may take the same name at once: the unique key decides.
    try:
        await db.flush()
    except IntegrityError:
        raise _taken(name) from None


async def create_label(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    data: LabelCreate,
    actor: User,
    request: Request | None = None,
) -> Label:
    await _check_free(db, workspace_id, data.name)
    label = Label(workspace_id=workspace_id, name=data.name, color=data.color)
    db.add(label)
    await _flush(db, data.name)
    await record(
        db,
        action="label.created",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=label.id,
        data={"name": label.name, "color": label.color},
    )
    return label


async def update_label(
    db: AsyncSession,
    label: Label,
    *,
    data: LabelUpdate,
    actor: User,
    request: Request | None = None,
) -> Label:
    changes: dict[str, dict[str, str]] = {}
    if data.name is not None and data.name != label.name:
        await _check_free(db, label.workspace_id, data.name, other_than=label.id)
        changes["name"] = {"from": label.name, "to": data.name}
        label.name = data.name
    if data.color is not None and data.color != label.color:
        changes["color"] = {"from": label.color, "to": data.color}
        label.color = data.color
    if changes:
        await _flush(db, label.name)
        await record(
            db,
            action="label.updated",
            actor=actor,
            request=request,
            workspace_id=label.workspace_id,
            target_type=TARGET,
            target_id=label.id,
            data=changes,
        )
    return label


async def delete_label(
    db: AsyncSession, label: Label, *, actor: User, request: Request | None = None
) -> None:
    """Take the label off its posts (the foreign key would too; said here so it is
    not left to a pragma) and out of the plans' mix targets, then delete it."""
    detached = await db.execute(delete(post_label).where(post_label.c.label_id == label.id))
    key = str(label.id)
    plans = await db.scalars(select(Plan).where(Plan.workspace_id == label.workspace_id))
    for plan in plans:
        if key in (plan.mix_targets or {}):
            plan.mix_targets = {k: v for k, v in plan.mix_targets.items() if k != key}
    await record(
        db,
        action="label.deleted",
        actor=actor,
        request=request,
        workspace_id=label.workspace_id,
        target_type=TARGET,
        target_id=label.id,
        data={"name": label.name, "posts": detached.rowcount or 0},
    )
    await db.delete(label)
    await db.flush()
