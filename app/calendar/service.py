"""The calendar range query.

Three narrow queries, each driven by the ``ix_post_workspace_id_due_at`` index
(posts of the workspace due in the range): the posts' columns, their variants
joined to their channels' networks, and their label ids. No ORM objects are
built, so a month of 3,000 posts stays fast.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calendar.schemas import CalendarEntry, CalendarRange, CalendarVariant
from app.errors import Invalid
from app.models import Channel, Post, Variant, post_label

MAX_RANGE = timedelta(days=100)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise Invalid(
            "The calendar range must end after it starts.",
            errors=[{"field": "to", "network": None, "message": "must be after from"}],
        )
    if end - start > MAX_RANGE:
        raise Invalid(
            f"A calendar range covers at most {MAX_RANGE.days} days; ask for a shorter one.",
            errors=[{"field": "to", "network": None, "message": f"at most {MAX_RANGE.days} days"}],
        )
    return start, end


async def calendar_range(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime, end: datetime
) -> CalendarRange:
    """Posts due in [start, end) with their copies' networks and their labels."""
    start, end = check_range(start, end)
    in_range = (Post.workspace_id == workspace_id, Post.due_at >= start, Post.due_at < end)
    post_ids = select(Post.id).where(*in_range).scalar_subquery()

    posts = (
        await db.execute(
            select(
                Post.id,
                Post.title,
                Post.status,
                Post.local_at,
                Post.timezone,
                Post.due_at,
                Post.plan_id,
            )
            .where(*in_range)
            .order_by(Post.due_at, Post.id)
        )
    ).all()
    variants: dict[uuid.UUID, list[CalendarVariant]] = defaultdict(list)
    for post_id, channel_id, network, due_at in await db.execute(
        select(Variant.post_id, Variant.channel_id, Channel.network, Variant.due_at)
        .join(Channel, Channel.id == Variant.channel_id)
        .where(Variant.post_id.in_(post_ids))
        .order_by(Channel.network, Channel.id)
    ):
        variants[post_id].append(
            CalendarVariant(channel_id=channel_id, network=network, due_at=due_at)
        )
    labels: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for post_id, label_id in await db.execute(
        select(post_label.c.post_id, post_label.c.label_id).where(
            post_label.c.post_id.in_(post_ids)
        )
    ):
        labels[post_id].append(label_id)

    return CalendarRange(
        start=start,
        end=end,
        entries=[
            CalendarEntry(
                post_id=row.id,
                title=row.title,
                status=row.status,
                local_at=row.local_at,
                timezone=row.timezone,
                due_at=row.due_at,
                plan_id=row.plan_id,
                label_ids=sorted(labels.get(row.id, []), key=str),
                variants=variants.get(row.id, []),
            )
            for row in posts
        ],
    )
