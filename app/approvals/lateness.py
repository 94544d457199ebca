"""Missed deliveries: the one rule of DESIGN.md's "Late, paused, missed", editorial half.

A delivery of a submitted post (in review, changes requested or approved) that has
not had its first claim by due time + the workspace's lateness limit becomes
``missed``, and the post's author and reviewers are notified. Paused workspaces and
channels are exempt: their deliveries wait, however late, for a decision on resume.
A draft that was never submitted only shows as overdue in the calendar, quietly.

The scheduler's dispatch calls :func:`mark_missed` before each claim.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Channel, Delivery, DeliveryStatus, Post, PostStatus, Workspace
from app.notifications.service import Event, notify, post_people

SUBMITTED = (PostStatus.in_review, PostStatus.changes_requested, PostStatus.approved)


async def mark_missed(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """Mark every delivery past its lateness limit ``missed``; returns their ids.

    One query per distinct lateness limit (workspaces share a handful), each a range
    on the claim index (``next_attempt_at`` equals ``due_at`` before a first claim).
    """
    limits = (await session.scalars(select(Workspace.lateness_limit_minutes).distinct())).all()
    missed: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []
    for minutes in limits:
        cutoff = now - timedelta(minutes=minutes)
        candidates = (
            select(Delivery.id)
            .join(Post, Post.id == Delivery.post_id)
            .join(Workspace, Workspace.id == Delivery.workspace_id)
            .join(Channel, Channel.id == Delivery.channel_id)
            .where(
                Delivery.status == DeliveryStatus.pending,
                Delivery.attempts == 0,
                Delivery.next_attempt_at < cutoff,
                Delivery.due_at < cutoff,
                Post.status.in_(SUBMITTED),
                Workspace.lateness_limit_minutes == minutes,
                Workspace.paused.is_(False),
                Channel.paused.is_(False),
            )
        )
        rows = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(candidates), Delivery.status == DeliveryStatus.pending)
            .values(
                status=DeliveryStatus.missed,
                last_error=f"Not sent within the lateness limit ({minutes} min after its time).",
                updated_at=now,
            )
            .returning(Delivery.id, Delivery.post_id, Delivery.channel_id)
            .execution_options(synchronize_session=False)
        )
        missed.extend((row.id, row.post_id, row.channel_id) for row in rows)
    await _notify_missed(session, missed)
    return [delivery_id for delivery_id, _, _ in missed]


async def _notify_missed(
    session: AsyncSession, missed: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
) -> None:
    for delivery_id, post_id, channel_id in missed:
        post = await session.get(Post, post_id)
        channel = await session.get(Channel, channel_id)
        if post is None or channel is None:
            continue
        await notify(
            session,
            workspace_id=post.workspace_id,
            event=Event.missed,
            text=(
                f"“{post.title}” missed its slot on {channel.name} ({channel.network.value}): "
                "it was not approved or could not be sent in time, and will not go out late."
            ),
            recipients=await post_people(session, post),
            post_id=post.id,
            delivery_id=delivery_id,
            channel_id=channel_id,
        )
