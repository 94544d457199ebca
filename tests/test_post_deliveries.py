"""Deliveries follow their post: created with its variants, moved with its time,
canceled with a removed variant or when it becomes an idea, history untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db import Database, session_scope
from app.models import Delivery, DeliveryStatus, Role
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, create_post, posts_url


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner,))


async def deliveries(database: Database, post_id: str) -> list[Delivery]:
    async with database.read_session() as session:
        rows = await session.scalars(
            select(Delivery)
            .where(Delivery.post_id == uuid.UUID(post_id))
            .order_by(Delivery.created_at, Delivery.id)
        )
        return list(rows.all())


def live_by_channel(rows: list[Delivery]) -> dict[str, Delivery]:
    found: dict[str, Delivery] = {}
    for row in rows:
        if row.status is not DeliveryStatus.canceled:
            assert str(row.channel_id) not in found, "two live deliveries for one variant"
            found[str(row.channel_id)] = row
    return found


async def write(
    client: httpx.AsyncClient, team: Team, method: str, url: str, **body: Any
) -> dict[str, Any]:
    current = await client.get(url.split("/variants/")[0], headers=team.owner)
    response = await client.request(
        method, url, json=body, headers={**team.owner, "If-Match": current.headers["etag"]}
    )
    assert response.status_code == 200, response.text
    return response.json()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_deliveries_follow_the_post(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = str(await add_channel(database, team, name="X"))
    x2 = str(await add_channel(database, team, name="X2"))
    post = await create_post(client, team, local_at="2026-12-10T09:00:00", channels=[x, x2])
    url = posts_url(team, post["id"])

    # Created with the post, one per variant, at the post's time (Paris = UTC+1).
    live = live_by_channel(await deliveries(database, post["id"]))
    assert set(live) == {x, x2}
    variants = {v["channel_id"]: v["id"] for v in post["variants"]}
    for channel_id, delivery in live.items():
        assert delivery.status is DeliveryStatus.pending
        assert delivery.due_at == delivery.next_attempt_at == utc(2026, 12, 10, 8)
        assert str(delivery.workspace_id) == str(team.workspace_id)
        assert str(delivery.post_id) == post["id"]
        assert str(delivery.variant_id) == variants[channel_id]
        assert delivery.attempts == 0

    # A copy with its own time: its delivery takes that time.
    await write(client, team, "PUT", f"{url}/variants/{x2}", local_at="2026-12-10T10:30:00")
    live = live_by_channel(await deliveries(database, post["id"]))
    assert live[x2].due_at == live[x2].next_attempt_at == utc(2026, 12, 10, 9, 30)
    assert live[x].due_at == utc(2026, 12, 10, 8)

    # Moving the post moves the deliveries that follow its time; same rows, no new ones.
    ids = {channel_id: d.id for channel_id, d in live.items()}
    await write(client, team, "PATCH", url, local_at="2026-12-12T18:00:00")
    rows = await deliveries(database, post["id"])
    assert len(rows) == 2
    live = live_by_channel(rows)
    assert {channel_id: d.id for channel_id, d in live.items()} == ids
    assert live[x].due_at == live[x].next_attempt_at == utc(2026, 12, 12, 17)
    assert live[x2].due_at == utc(2026, 12, 10, 9, 30)  # its own time stays

    # Removing a copy: its delivery no longer waits.
    await write(client, team, "DELETE", f"{url}/variants/{x2}")
    rows = await deliveries(database, post["id"])
    assert set(live_by_channel(rows)) == {x}
    assert all(r.status is DeliveryStatus.canceled for r in rows if str(r.channel_id) == x2)


async def test_an_idea_has_no_deliveries(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = str(await add_channel(database, team))
    idea = await create_post(client, team, status="idea", local_at=None, channels=[x])
    assert await deliveries(database, idea["id"]) == []

    post = await create_post(client, team, channels=[x])
    url = posts_url(team, post["id"])
    first = live_by_channel(await deliveries(database, post["id"]))[x]
    # Back to the backlog: canceled, kept as history.
    await write(client, team, "PATCH", url, status="idea", local_at=None)
    rows = await deliveries(database, post["id"])
    assert [(r.id, r.status) for r in rows] == [(first.id, DeliveryStatus.canceled)]
    # Dated again: a new pending delivery beside the canceled one.
    await write(client, team, "PATCH", url, status="draft", local_at="2026-12-20T12:00:00")
    rows = await deliveries(database, post["id"])
    live = live_by_channel(rows)
    assert len(rows) == 2 and live[x].id != first.id
    assert live[x].status is DeliveryStatus.pending
    assert live[x].due_at == utc(2026, 12, 20, 11)


async def test_history_is_never_touched(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = str(await add_channel(database, team, name="X"))
    x2 = str(await add_channel(database, team, name="X2"))
    post = await create_post(client, team, local_at="2026-12-10T09:00:00", channels=[x, x2])
    published = live_by_channel(await deliveries(database, post["id"]))[x]
    async with session_scope(database.write_session) as session:
        row = await session.get(Delivery, published.id)
        assert row is not None
        row.status = DeliveryStatus.published
        row.published_at = utc(2026, 12, 10, 8)
        row.attempts = 1

    # A new time (the post itself may still move: x2 has not gone out).
    await write(client, team, "PATCH", posts_url(team, post["id"]), local_at="2026-12-11T09:00:00")
    rows = await deliveries(database, post["id"])
    assert len(rows) == 2, "a published variant is not queued again"
    live = live_by_channel(rows)
    assert live[x].id == published.id
    assert live[x].status is DeliveryStatus.published
    assert live[x].due_at == live[x].next_attempt_at == utc(2026, 12, 10, 8)
    assert live[x2].status is DeliveryStatus.pending
    assert live[x2].due_at == utc(2026, 12, 11, 8)

    # Becoming an idea cancels what waits, not what went out.
    await write(client, team, "PATCH", posts_url(team, post["id"]), status="idea", local_at=None)
    statuses = {str(r.channel_id): r.status for r in await deliveries(database, post["id"])}
    assert statuses == {x: DeliveryStatus.published, x2: DeliveryStatus.canceled}
