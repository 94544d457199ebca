"""Fixtures of the publishing engine's tests: a scheduler runtime without APScheduler
(jobs are called directly) and approved, due deliveries built with the factories."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.crypto import CredentialBox
from app.db import Database
from app.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Membership,
    Notification,
    Post,
    PostStatus,
    Role,
    SandboxPost,
    Variant,
    Workspace,
    utcnow,
)
from app.settings import Settings
from scheduler.runtime import SchedulerRuntime
from tests.conftest import TEST_KEYS
from tests.factories import (
    make_channel,
    make_delivery,
    make_membership,
    make_post,
    make_user,
    make_variant,
    make_workspace,
)


def seal(credentials: dict[str, Any]) -> bytes:
    return CredentialBox(TEST_KEYS).seal(credentials)


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> AsyncIterator[SchedulerRuntime]:
    settings.publish_lease_seconds = 30
    settings.publish_backoff_seconds = 1.0
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        rt = SchedulerRuntime(settings=settings, database=database, http=http)
        yield rt
        if rt.workers:
            await asyncio.wait(set(rt.workers), timeout=10)


@dataclass
class World:
    """A workspace with a reviewer and an author, one sandbox channel."""

    workspace: Workspace
    channel: Channel
    author_id: uuid.UUID
    reviewer_id: uuid.UUID


async def make_world(
    database: Database, *, credentials: dict[str, Any] | None = None, **channel: Any
) -> World:
    async with database.write_session() as session:
        workspace = await make_workspace(session)
        author = await make_user(session)
        reviewer = await make_user(session)
        await make_membership(session, workspace=workspace, user=author, role=Role.editor)
        await make_membership(session, workspace=workspace, user=reviewer, role=Role.reviewer)
        ch = await make_channel(
            session,
            workspace=workspace,
            credentials_encrypted=seal(credentials or {"handle": "almanac"}),
            **channel,
        )
        await session.commit()
    return World(workspace, ch, author.id, reviewer.id)


async def add_channel(
    database: Database, world: World, *, credentials: dict[str, Any] | None = None, **kw: Any
) -> Channel:
    async with database.write_session() as session:
        ch = await make_channel(
            session,
            workspace_id=world.workspace.id,
            credentials_encrypted=seal(credentials or {"handle": "almanac"}),
            **kw,
        )
        await session.commit()
    return ch


async def approved_delivery(
    database: Database,
    world: World,
    *,
    channel: Channel | None = None,
    due_at: datetime | None = None,
    text: str | None = None,
    post_status: PostStatus = PostStatus.approved,
    approved: bool = True,
    **delivery: Any,
) -> Delivery:
    """A post with one variant on the channel, approved (or not), and its delivery due."""
    due = due_at or utcnow() - timedelta(seconds=1)
    async with database.write_session() as session:
        post = await make_post(
            session,
            workspace_id=world.workspace.id,
            author_id=world.author_id,
            status=post_status,
            body=f"Post {uuid.uuid4().hex[:8]}",
        )
        variant = await make_variant(
            session, post=post, channel_id=(channel or world.channel).id, text=text
        )
        if approved:
            variant.approved_hash = variant.content_hash
        row = await make_delivery(session, variant=variant, due_at=due, **delivery)
        await session.commit()
    return row


async def get_delivery(database: Database, delivery_id: uuid.UUID) -> Delivery:
    async with database.read_session() as session:
        row = await session.get(Delivery, delivery_id)
    assert row is not None
    return row


async def get_channel(database: Database, channel_id: uuid.UUID) -> Channel:
    async with database.read_session() as session:
        row = await session.get(Channel, channel_id)
    assert row is not None
    return row


async def attempts_of(database: Database, delivery_id: uuid.UUID) -> list[DeliveryAttempt]:
    async with database.read_session() as session:
        rows = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.started_at)
        )
        return list(rows)


async def notifications(database: Database, event: str) -> list[Notification]:
    async with database.read_session() as session:
        rows = await session.scalars(select(Notification).where(Notification.event == event))
        return list(rows)


async def outbox_texts(database: Database) -> list[str]:
    async with database.read_session() as session:
        return list(await session.scalars(select(SandboxPost.text)))


async def count_status(database: Database, status: DeliveryStatus) -> int:
    async with database.read_session() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == status)
            )
        ) or 0


async def wait_for(predicate: Any, seconds: float = 10.0, every: float = 0.05) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():
            await asyncio.sleep(every)


async def workers_done(runtime: SchedulerRuntime, seconds: float = 10.0) -> None:
    """Until every publishing worker of ``runtime`` finished (none may be left: a fast
    worker can finish while the tick that started it still runs)."""
    async with asyncio.timeout(seconds):
        while runtime.workers:
            await asyncio.wait(set(runtime.workers))


__all__ = ["Membership", "Post", "Variant"]
