"""The calendar body is built by the database and assembled as text; it must be
byte for byte what the CalendarRange schema would serialise, on both backends."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select, update

from app.calendar import service
from app.calendar.schemas import CalendarEntry, CalendarRange, CalendarVariant
from app.db import Database, session_scope
from app.models import Channel, Delivery, DeliveryStatus, Post, PostStatus, Variant, post_label
from app.networks.base import Network
from tests.factories import (
    make_channel,
    make_delivery,
    make_label,
    make_plan,
    make_post,
    make_variant,
    make_workspace,
)

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def expected_shown(workflow: PostStatus, statuses: list[DeliveryStatus]) -> str:
    """DESIGN: the workflow status until a delivery leaves pending, then the outcome."""
    counted = [s for s in statuses if s not in (DeliveryStatus.canceled, DeliveryStatus.removed)]
    if all(s is DeliveryStatus.pending for s in counted):
        return workflow.value
    trouble = {DeliveryStatus.failed, DeliveryStatus.uncertain, DeliveryStatus.missed}
    if any(s in trouble for s in counted):
        return "failed" if all(s is DeliveryStatus.failed for s in counted) else "needs_attention"
    if any(s in (DeliveryStatus.sending, DeliveryStatus.retrying) for s in counted):
        return "publishing"
    if all(s is DeliveryStatus.published for s in counted):
        return "published"
    return "partially_published"


async def oracle(db, workspace_id: uuid.UUID) -> CalendarRange:  # type: ignore[no-untyped-def]
    """The straightforward ORM version of the query."""
    posts = (
        await db.scalars(
            select(Post)
            .where(Post.workspace_id == workspace_id, Post.due_at >= START, Post.due_at < END)
            .order_by(Post.due_at, Post.id)
        )
    ).all()
    ids = [post.id for post in posts]
    variants: dict[uuid.UUID, list[CalendarVariant]] = defaultdict(list)
    for variant, network in await db.execute(
        select(Variant, Channel.network)
        .join(Channel, Channel.id == Variant.channel_id)
        .where(Variant.post_id.in_(ids))
        .order_by(Channel.network, Channel.id)
    ):
        variants[variant.post_id].append(
            CalendarVariant(channel_id=variant.channel_id, network=network, due_at=variant.due_at)
        )
    labels: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for post_id, label_id in await db.execute(
        select(post_label.c.post_id, post_label.c.label_id).where(post_label.c.post_id.in_(ids))
    ):
        labels[post_id].append(label_id)
    deliveries: dict[uuid.UUID, list[DeliveryStatus]] = defaultdict(list)
    for post_id, delivery_status in await db.execute(
        select(Delivery.post_id, Delivery.status).where(Delivery.post_id.in_(ids))
    ):
        deliveries[post_id].append(DeliveryStatus(delivery_status))
    return CalendarRange(
        start=START,
        end=END,
        entries=[
            CalendarEntry(
                post_id=post.id,
                version=post.version,
                title=post.title,
                status=post.status,
                shown_status=expected_shown(post.status, deliveries[post.id]),
                local_at=post.local_at,
                fold=post.fold,
                timezone=post.timezone,
                due_at=post.due_at,
                plan_id=post.plan_id,
                label_ids=sorted(labels[post.id], key=str),
                variants=variants[post.id],
            )
            for post in posts
        ],
    )


async def test_the_body_is_what_the_schema_would_write(database: Database) -> None:
    async with session_scope(database.write_session) as db:
        workspace = await make_workspace(db, timezone="Europe/Paris")
        other = await make_workspace(db)
        channels = [
            await make_channel(db, workspace=workspace, network=network, name=network.value)
            for network in (Network.x, Network.mastodon, Network.x, Network.bluesky)
        ]
        labels = [await make_label(db, workspace=workspace) for _ in range(3)]
        plan = await make_plan(db, workspace=workspace)

        def post(**kw):  # type: ignore[no-untyped-def]
            return make_post(db, workspace=workspace, timezone="Europe/Paris", **kw)

        full = await post(
            title='Quotes " and \\ backslash, é, 日本, emoji 🎉, a\nnewline, tab\t',
            local_at=datetime(2026, 12, 10, 9, 0),
            due_at=datetime(2026, 12, 10, 8, 0, tzinfo=UTC),
            status=PostStatus.in_review,
            plan_id=plan.id,
            labels=labels,
        )
        for channel in channels:
            own = channel is channels[2]
            await make_variant(
                db,
                post=full,
                channel=channel,
                local_at=datetime(2026, 12, 10, 10, 15) if own else None,
                due_at=datetime(2026, 12, 10, 9, 15, tzinfo=UTC) if own else None,
            )
        # Edited six times (the version is SQLAlchemy's version counter, so set directly).
        await db.execute(update(Post).where(Post.id == full.id).values(version=7))
        # A fraction of a second (not made by the service, but the format must hold).
        await post(
            local_at=datetime(2026, 12, 31, 23, 59, 59, 500000),
            due_at=datetime(2026, 12, 31, 22, 59, 59, 500000, tzinfo=UTC),
        )
        bare = await post(
            local_at=datetime(2026, 12, 1, 1, 0), due_at=datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
        )
        await make_variant(db, post=bare, channel=channels[1])
        # Outside the range, undated, or another workspace's: not listed.
        await post(local_at=datetime(2027, 1, 1, 1, 0), due_at=END)
        await post(status=PostStatus.idea)
        await make_post(
            db,
            workspace=other,
            local_at=datetime(2026, 12, 5),
            due_at=datetime(2026, 12, 5, tzinfo=UTC),
        )

    async with database.read_session() as db:
        body = await service.calendar_json(db, workspace.id, START, END)
        expected = await oracle(db, workspace.id)
        as_model = await service.calendar_range(db, workspace.id, START, END)
    assert len(expected.entries) == 3
    assert [len(e.variants) for e in expected.entries] == [1, 4, 0]
    assert [e.version for e in expected.entries] == [1, 7, 1]
    assert body.decode() == expected.model_dump_json()
    assert as_model == expected


async def test_an_empty_range(database: Database) -> None:
    async with session_scope(database.write_session) as db:
        workspace = await make_workspace(db)
    async with database.read_session() as db:
        body = await service.calendar_json(db, workspace.id, START, END)
    assert body == CalendarRange(start=START, end=END, entries=[]).model_dump_json().encode()


# Per post: its deliveries' statuses (one variant each) → what the calendar shows.
OUTCOMES: list[tuple[list[DeliveryStatus], str]] = [
    ([], "approved"),
    ([DeliveryStatus.pending, DeliveryStatus.pending], "approved"),
    ([DeliveryStatus.canceled, DeliveryStatus.pending], "approved"),
    ([DeliveryStatus.sending, DeliveryStatus.pending], "publishing"),
    ([DeliveryStatus.retrying, DeliveryStatus.published], "publishing"),
    ([DeliveryStatus.published, DeliveryStatus.published], "published"),
    ([DeliveryStatus.published, DeliveryStatus.canceled], "published"),
    ([DeliveryStatus.published, DeliveryStatus.pending], "partially_published"),
    ([DeliveryStatus.failed, DeliveryStatus.failed], "failed"),
    ([DeliveryStatus.failed, DeliveryStatus.published], "needs_attention"),
    ([DeliveryStatus.uncertain, DeliveryStatus.pending], "needs_attention"),
    ([DeliveryStatus.missed], "needs_attention"),
]


async def test_the_calendar_shows_the_deliveries_outcome_once_publishing_started(
    database: Database,
) -> None:
    async with session_scope(database.write_session) as db:
        workspace = await make_workspace(db, timezone="Europe/Paris")
        channels = [await make_channel(db, workspace=workspace) for _ in range(2)]
        posts = []
        for day, (statuses, _) in enumerate(OUTCOMES, start=1):
            post = await make_post(
                db,
                workspace=workspace,
                status=PostStatus.approved,
                local_at=datetime(2026, 12, day, 10, 0),
                due_at=datetime(2026, 12, day, 9, 0, tzinfo=UTC),
            )
            posts.append(post.id)
            for channel, delivery_status in zip(channels, statuses, strict=False):
                variant = await make_variant(db, post=post, channel=channel)
                extra: dict[str, object] = {}
                if delivery_status is DeliveryStatus.published:
                    extra["published_at"] = datetime(2026, 12, day, 9, 0, tzinfo=UTC)
                if delivery_status is DeliveryStatus.sending:
                    extra.update(
                        lease_owner="test", lease_expires_at=datetime(2026, 12, day, tzinfo=UTC)
                    )
                await make_delivery(db, variant=variant, status=delivery_status, **extra)
    async with database.read_session() as db:
        body = await service.calendar_json(db, workspace.id, START, END)
        expected = await oracle(db, workspace.id)
    shown = CalendarRange.model_validate_json(body).entries
    assert [e.post_id for e in shown] == posts
    assert [e.shown_status for e in shown] == [want for _, want in OUTCOMES]
    assert {e.status for e in shown} == {PostStatus.approved}
    assert body.decode() == expected.model_dump_json()
