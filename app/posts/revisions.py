"""Revisions of a post: list, show, restore. A restore is itself a new revision,
made through the same write path as any edit (so it is checked like one)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Member
from app.errors import NotFound
from app.models import Channel, Label, Plan, Post, PostStatus, Revision
from app.posts import service
from app.posts.schemas import RevisionRead, RevisionSummary


async def list_revisions(db: AsyncSession, post: Post) -> list[Revision]:
    query = (
        select(Revision)
        .where(Revision.post_id == post.id)
        .order_by(Revision.version.desc(), Revision.created_at.desc())
    )
    return list((await db.scalars(query)).all())


async def get_revision(db: AsyncSession, post: Post, revision_id: uuid.UUID) -> Revision:
    revision = await db.get(Revision, revision_id)
    if revision is None or revision.post_id != post.id:
        raise NotFound("No such revision of this post.")
    return revision


async def restore(
    db: AsyncSession, member: Member, post: Post, revision: Revision, version: int | None
) -> service.Saved:
    """Bring back the post as it was after ``revision``: content, time, plan, labels and
    copies. The workflow status is kept (unless both are idea/draft); labels, plans
    and channels deleted since are left out."""
    service.check_version(post, version)
    target = service.PostState.from_snapshot(revision.after)
    current = service.state_of(post)
    workspace_id = member.workspace.id
    labels = set(
        await db.scalars(
            select(Label.id).where(Label.workspace_id == workspace_id, Label.id.in_(target.labels))
        )
    )
    channels = set(
        await db.scalars(
            select(Channel.id).where(
                Channel.workspace_id == workspace_id, Channel.id.in_(list(target.variants))
            )
        )
    )
    plan_id = target.plan_id
    if plan_id is not None:
        plan = await db.get(Plan, plan_id)
        plan_id = plan.id if plan is not None and plan.workspace_id == workspace_id else None
    editorial = (PostStatus.idea, PostStatus.draft)
    status = (
        target.status
        if current.status in editorial and target.status in editorial
        else current.status
    )
    state = replace(
        target,
        labels=[label for label in target.labels if label in labels],
        plan_id=plan_id,
        status=status,
        variants={cid: v for cid, v in target.variants.items() if cid in channels},
    )
    return await service.save(
        db, member, post, state, action="restored", plan_explicit=True, restored_from=revision
    )


def to_summary(revision: Revision) -> RevisionSummary:
    return RevisionSummary(
        id=revision.id,
        post_id=revision.post_id,
        author_id=revision.author_id,
        created_at=revision.created_at,
        version=revision.version,
        action=revision.action,
        changed=revision.changed,
        restored_from_id=revision.restored_from_id,
    )


def to_read(revision: Revision) -> RevisionRead:
    return RevisionRead(
        **to_summary(revision).model_dump(), before=revision.before, after=revision.after
    )
