"""Approval meets the publisher: what goes out is exactly what was approved.

Posts are written and reviewed through the API; the scheduler's dispatch tick then
publishes to sandbox channels (the outbox table shows what "went out").
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from app.db import Database, session_scope
from app.models import Delivery, DeliveryStatus, Post, Role, Workspace, utcnow
from scheduler.dispatch import tick
from scheduler.runtime import SchedulerRuntime
from tests.factories import make_channel
from tests.scheduler.conftest import get_delivery, outbox_texts, seal, wait_for
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import posts_url


async def sandbox_channel(database: Database, team: Team) -> uuid.UUID:
    async with session_scope(database.write_session) as session:
        channel = await make_channel(
            session,
            workspace_id=team.workspace_id,
            credentials_encrypted=seal({"handle": "almanac"}),
        )
        return channel.id


async def call(
    client: httpx.AsyncClient, team: Team, role: Role, method: str, url: str, **body: Any
) -> dict[str, Any]:
    response = await client.request(method, url, json=body, headers=team.headers[role])
    assert response.status_code in (200, 201), response.text
    return response.json()


async def due_now(database: Database, post_id: str) -> None:
    """The slot arrives: the post and its waiting deliveries are due this second."""
    now = utcnow() - timedelta(seconds=1)
    async with session_scope(database.write_session) as session:
        await session.execute(update(Post).where(Post.id == uuid.UUID(post_id)).values(due_at=now))
        await session.execute(
            update(Delivery)
            .where(Delivery.post_id == uuid.UUID(post_id), Delivery.status == "pending")
            .values(due_at=now, next_attempt_at=now)
        )


async def delivery_of(database: Database, post: dict[str, Any], channel_id: uuid.UUID) -> Delivery:
    variant_id = next(
        uuid.UUID(v["id"]) for v in post["variants"] if v["channel_id"] == str(channel_id)
    )
    async with database.read_session() as session:
        delivery_id = await session.scalar(
            select(Delivery.id).where(Delivery.variant_id == variant_id)
        )
    assert delivery_id is not None
    return await get_delivery(database, delivery_id)


async def test_with_approval_off_an_edit_a_minute_before_the_slot_is_published(
    client: httpx.AsyncClient, database: Database, runtime: SchedulerRuntime
) -> None:
    team = await make_team(database, (Role.owner, Role.editor))
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == team.workspace_id)
            .values(approval_required=False)
        )
    channel = await sandbox_channel(database, team)
    slot = (utcnow() + timedelta(minutes=1)).replace(tzinfo=None, microsecond=0)
    post = await call(
        client,
        team,
        Role.editor,
        "POST",
        posts_url(team),
        title="Flash sale",
        body="Flash sale today, 20 % off evrything.",
        local_at=slot.isoformat(),
        timezone="UTC",
        channels=[str(channel)],
    )
    post = await call(
        client,
        team,
        Role.editor,
        "POST",
        posts_url(team, post["id"], "schedule"),
        version=post["version"],
    )
    # A minute before the slot, the typo is fixed; nobody needs to approve again.
    post = await call(
        client,
        team,
        Role.editor,
        "PATCH",
        posts_url(team, post["id"]),
        body="Flash sale today, 20 % off everything.",
        version=post["version"],
    )
    assert post["status"] == "approved"
    await due_now(database, post["id"])
    await tick(runtime)

    async def published() -> bool:
        return await outbox_texts(database) != []

    await wait_for(published)
    assert await outbox_texts(database) == ["Flash sale today, 20 % off everything."]


async def test_an_edit_after_approval_holds_its_variant_while_the_others_publish(
    client: httpx.AsyncClient, database: Database, runtime: SchedulerRuntime
) -> None:
    team = await make_team(database, (Role.owner, Role.editor, Role.reviewer))
    first, second = await sandbox_channel(database, team), await sandbox_channel(database, team)
    post = await call(
        client,
        team,
        Role.editor,
        "POST",
        posts_url(team),
        title="Launch",
        body="We launch today.",
        local_at="2026-12-30T09:00:00",
        timezone="UTC",
        channels=[str(first), str(second)],
    )
    post = await call(
        client,
        team,
        Role.editor,
        "POST",
        posts_url(team, post["id"], "submit"),
        version=post["version"],
    )
    post = await call(
        client,
        team,
        Role.reviewer,
        "POST",
        posts_url(team, post["id"], "approve"),
        version=post["version"],
    )
    post = await call(
        client,
        team,
        Role.editor,
        "PUT",
        posts_url(team, post["id"], "variants", str(first)),
        text="We launch today! Unreviewed words.",
        version=post["version"],
    )
    assert post["status"] == "in_review"
    await due_now(database, post["id"])
    await tick(runtime)

    async def one_published() -> bool:
        return len(await outbox_texts(database)) == 1

    await wait_for(one_published)
    assert await outbox_texts(database) == ["We launch today."]  # the untouched copy
    held = await delivery_of(database, post, first)
    assert held.status is DeliveryStatus.pending

    post = await call(
        client,
        team,
        Role.reviewer,
        "POST",
        posts_url(team, post["id"], "approve"),
        version=post["version"],
    )
    await tick(runtime)

    async def both_published() -> bool:
        return len(await outbox_texts(database)) == 2

    await wait_for(both_published)
    assert sorted(await outbox_texts(database)) == [
        "We launch today! Unreviewed words.",  # now reviewed: approved again
        "We launch today.",
    ]
