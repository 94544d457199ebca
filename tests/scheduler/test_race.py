"""Edits hammering posts while dispatch claims and publishes them: every published
text is one that was approved, and an edit after the claim gets 409."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.auth.deps import Member
from app.auth.sessions import Principal
from app.db import Database, session_scope
from app.errors import Conflict
from app.models import (
    Delivery,
    DeliveryStatus,
    PostStatus,
    Role,
    SandboxPost,
    User,
    Variant,
    Workspace,
)
from app.posts.content import content_hash, effective_content
from app.posts.schemas import VariantPut
from app.posts.service import get_post, put_variant
from scheduler import publisher
from scheduler.dispatch import claim
from scheduler.runtime import SchedulerRuntime
from tests.factories import make_delivery, make_post, make_variant
from tests.scheduler.conftest import make_world

POSTS = 4
EDITS = 400  # at most: each editor edits until its copy is claimed (409)


def _hash(text: str) -> str:
    return content_hash(
        effective_content(
            base_text="", base_media=[], base_link=None, text=text, media=None, link=None
        )
    )


async def test_edits_racing_claims_publish_only_approved_text(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    approved: set[str] = set()
    targets: list[tuple[uuid.UUID, uuid.UUID]] = []
    async with database.write_session() as session:
        for n in range(POSTS):
            post = await make_post(
                session,
                workspace_id=world.workspace.id,
                author_id=world.author_id,
                status=PostStatus.approved,
                body="",
                local_at=due.replace(tzinfo=None),
                timezone="UTC",
                due_at=due,
            )
            variant = await make_variant(session, post=post, channel=world.channel, text=f"p{n} v0")
            variant.approved_hash = variant.content_hash
            approved.add(variant.content_hash)
            await make_delivery(session, variant=variant, due_at=due)
            targets.append((post.id, world.channel.id))
        await session.commit()
    refused = 0

    async def edit(post_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        nonlocal refused
        for i in range(1, EDITS + 1):
            text = f"{post_id.hex[:6]} v{i}"
            try:
                async with session_scope(database.write_session) as session:
                    user = await session.get(User, world.author_id)
                    ws = await session.get(Workspace, world.workspace.id)
                    assert user is not None and ws is not None
                    member = Member(user, ws, Role.owner, Principal(user))
                    post = await get_post(session, ws.id, post_id, for_update=True)
                    saved = await put_variant(
                        session, member, post, channel_id, VariantPut(text=text), post.version
                    )
                    [variant] = [v for v in saved.post.variants if v.channel_id == channel_id]
                    if i % 2 == 0:  # every other edit is approved in the same save
                        variant.approved_hash = variant.content_hash
                        await session.flush()
            except Conflict as conflict:
                assert "being published" in conflict.detail or "gone out" in conflict.detail
                refused += 1
                return
            if i % 2 == 0:
                approved.add(_hash(text))
            # A breath between edits: four editors in a tight loop can keep SQLite's
            # write lock so busy that the claim's BEGIN IMMEDIATE (whose busy handler
            # backs off up to 100 ms) never gets its turn within EDITS edits.
            await asyncio.sleep(0.001)
        raise AssertionError("the copy was never claimed")

    async def dispatch() -> None:
        while True:
            jobs = await claim(runtime, 3)
            await asyncio.gather(*(publisher.publish(runtime, job) for job in jobs))
            async with database.read_session() as session:
                open_ = await session.scalar(
                    select(Delivery.id).where(
                        Delivery.status.in_((DeliveryStatus.pending, DeliveryStatus.retrying))
                    )
                )
            if open_ is None and all(t.done() for t in editors):
                return
            await asyncio.sleep(0.005)

    editors = [asyncio.create_task(edit(*target)) for target in targets]
    async with asyncio.timeout(60):
        await asyncio.gather(dispatch(), *editors)

    async with database.read_session() as session:
        published = (await session.execute(select(SandboxPost.text))).scalars().all()
        rows = (
            await session.execute(
                select(Delivery.published_content_hash, Variant.approved_hash)
                .join(Variant, Variant.id == Delivery.variant_id)
                .where(Delivery.status == DeliveryStatus.published)
            )
        ).all()
    assert len(published) == POSTS
    assert {_hash(text) for text in published} <= approved
    assert all(row.published_content_hash in approved for row in rows)
    # Every editor kept editing until its copy was claimed, then got 409.
    assert refused == POSTS
