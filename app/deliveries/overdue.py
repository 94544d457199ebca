"""Overdue after a pause: parked at resume, each post waiting for a person's decision.

DESIGN.md's one rule: while a workspace or channel is paused nothing is claimed and
its deliveries stay ``pending`` however late they get; on resume, those past their
time are listed and wait for a decision per post (publish now, shift, skip). Left
as they are, the scheduler would do the opposite at the first tick after the
resume: claim them all at once (a burst), or mark those past the lateness limit
``missed``.

So the resume parks them, in the resume's own transaction: their
``next_attempt_at`` becomes :data:`AWAITING_DECISION`, an instant no claim and no
lateness check ever reaches (both compare ``next_attempt_at`` with now), while
``due_at`` keeps the time they were meant for. Nothing in the engine needs to know;
the decision (``app.deliveries.service.decide``) gives them a real time again or
cancels them, and an edit that moves the post does the same (its deliveries follow
its new time). See docs/decisions/0003-overdue-after-resume.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.approvals.lateness import SUBMITTED
from app.models import Channel, Delivery, DeliveryStatus, Post, Workspace, utcnow

# Far beyond any real time, yet a valid timestamp on both databases.
AWAITING_DECISION = datetime(9999, 1, 1, tzinfo=UTC)
WAITING = (DeliveryStatus.pending, DeliveryStatus.retrying)


def awaiting_decision() -> ColumnElement[bool]:
    """SQL: the delivery was parked by a resume and waits for a decision."""
    return Delivery.status.in_(WAITING) & (Delivery.next_attempt_at == AWAITING_DECISION)


async def park_overdue(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> int:
    """Park the deliveries that a resume makes claimable although their time has
    passed; returns how many. ``channel_id``: a channel's resume (only when its
    workspace is not paused); else the workspace's (only channels not paused)."""
    now = now or utcnow()
    released = select(Delivery.id).join(Post, Post.id == Delivery.post_id)
    if channel_id is None:
        released = released.join(Channel, Channel.id == Delivery.channel_id).where(
            Delivery.workspace_id == workspace_id, Channel.paused.is_(False)
        )
    else:
        released = released.join(Workspace, Workspace.id == Delivery.workspace_id).where(
            Delivery.channel_id == channel_id, Workspace.paused.is_(False)
        )
    released = released.where(
        Delivery.status.in_(WAITING),
        Delivery.due_at <= now,
        Delivery.next_attempt_at != AWAITING_DECISION,
        # Drafts and ideas are not parked: they were never going out (the calendar
        # shows them overdue, quietly).
        Post.status.in_(SUBMITTED),
    )
    result = await db.execute(
        update(Delivery)
        .where(Delivery.id.in_(released), Delivery.status.in_(WAITING))
        .values(next_attempt_at=AWAITING_DECISION, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
