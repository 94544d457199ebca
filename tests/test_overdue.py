"""Late, paused, missed: after a resume, what is past its time waits for a decision per
post (publish now, shift, skip) instead of going out in a burst or becoming missed.
The scheduler's own claim and lateness check are run to prove it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from app.approvals.lateness import mark_missed
from app.db import Database, session_scope
from app.deliveries.overdue import AWAITING_DECISION
from app.models import DeliveryStatus, Post, PostStatus, Revision, Role, Variant, utcnow
from app.networks.base import Network
from app.settings import Settings
from scheduler.dispatch import claim
from scheduler.runtime import SchedulerRuntime
from tests.test_channels_api import Team, make_team
from tests.test_deliveries_api import Setup, audited, delivery_row, make_setup


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.editor, Role.viewer))


async def claimed_ids(database: Database, settings: Settings) -> list[uuid.UUID]:
    """What the scheduler would claim now, and what its lateness check marks missed."""
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        return [c.delivery_id for c in await claim(runtime, 50)]


async def missed_now(database: Database) -> list[uuid.UUID]:
    async with session_scope(database.write_session) as session:
        return await mark_missed(session, now=utcnow())


async def paused_then_resumed(client: httpx.AsyncClient, team: Team) -> dict:
    ws = f"/api/v1/workspaces/{team.workspace_id}"
    paused = await client.post(f"{ws}/pause", json={"reason": "Crisis"}, headers=team.owner)
    assert paused.status_code == 200, paused.text
    resumed = await client.post(f"{ws}/resume", headers=team.owner)
    assert resumed.status_code == 200, resumed.text
    return resumed.json()


async def late_setup(database: Database, team: Team, **kw: object) -> Setup:
    """Due three hours ago: past the workspace's lateness limit (60 minutes)."""
    return await make_setup(database, team, due_at=utcnow() - timedelta(hours=3), **kw)


async def test_a_resume_parks_the_late_deliveries_no_burst_no_missed(
    client: httpx.AsyncClient, database: Database, team: Team, settings: Settings
) -> None:
    late = await late_setup(database, team)
    future = await make_setup(database, team, due_at=utcnow() + timedelta(hours=1))
    draft = await late_setup(database, team, post_status=PostStatus.draft)
    await paused_then_resumed(client, team)

    assert await claimed_ids(database, settings) == []
    assert await missed_now(database) == []
    row = await delivery_row(database, late.deliveries[0])
    assert row.status is DeliveryStatus.pending and row.next_attempt_at == AWAITING_DECISION
    # Not late: untouched. A draft was never going out: quietly overdue, not parked.
    assert (await delivery_row(database, future.deliveries[0])).next_attempt_at < AWAITING_DECISION
    assert (await delivery_row(database, draft.deliveries[0])).next_attempt_at < AWAITING_DECISION
    [event] = await audited(database, "workspace.resumed")
    assert event.data["overdue"] == 1

    listing = await client.get(f"{late.ws}/overdue", headers=team.headers[Role.viewer])
    assert listing.status_code == 200
    body = listing.json()
    assert body["workspace_paused"] is False
    [item] = body["items"]
    assert item["post_id"] == str(late.post_id)
    [entry] = item["deliveries"]
    assert entry["approved"] is True and entry["network"] == "sandbox"

    reading = await client.get(
        f"{late.ws}/posts/{late.post_id}/deliveries", headers=team.headers[Role.viewer]
    )
    [delivery] = reading.json()
    assert delivery["awaiting_decision"] is True and delivery["next_attempt_at"] is None


async def test_publish_now_decision_makes_them_claimable(
    client: httpx.AsyncClient, database: Database, team: Team, settings: Settings
) -> None:
    late = await late_setup(database, team)
    await paused_then_resumed(client, team)
    response = await client.post(
        f"{late.ws}/overdue/{late.post_id}",
        json={"decision": "publish_now"},
        headers=team.headers[Role.editor],
    )
    assert response.status_code == 200, response.text
    assert [d["id"] for d in response.json()["deliveries"]] == [str(late.deliveries[0])]
    assert await claimed_ids(database, settings) == [late.deliveries[0]]
    [event] = await audited(database, "post.overdue_decided")
    assert event.data["decision"] == "publish_now"

    again = await client.post(
        f"{late.ws}/overdue/{late.post_id}",
        json={"decision": "skip"},
        headers=team.headers[Role.editor],
    )
    assert again.status_code == 409 and "not waiting for a decision" in again.json()["detail"]


async def test_shift_moves_the_post_through_the_posts_service(
    client: httpx.AsyncClient, database: Database, team: Team, settings: Settings
) -> None:
    late = await make_setup(database, team, due_at=utcnow() - timedelta(minutes=20))
    await paused_then_resumed(client, team)
    async with database.read_session() as session:
        before = await session.get(Post, late.post_id)
        assert before is not None
    url = f"{late.ws}/overdue/{late.post_id}"

    too_little = await client.post(
        url, json={"decision": "shift", "minutes": 5}, headers=team.headers[Role.editor]
    )
    assert too_little.status_code == 422
    assert "at least 21 minutes" in too_little.json()["detail"]
    missing = await client.post(url, json={"decision": "shift"}, headers=team.headers[Role.editor])
    assert missing.status_code == 422

    response = await client.post(
        url, json={"decision": "shift", "minutes": 50}, headers=team.headers[Role.editor]
    )
    assert response.status_code == 200, response.text
    async with database.read_session() as session:
        post = await session.get(Post, late.post_id)
        assert post is not None and before.due_at is not None and post.due_at is not None
        assert post.due_at == before.due_at + timedelta(minutes=50)
        assert post.local_at == before.local_at + timedelta(minutes=50)
        assert post.version == before.version + 1
        assert post.status is PostStatus.approved  # moving in time keeps approval
        variant = await session.scalar(select(Variant).where(Variant.post_id == post.id))
        assert variant is not None and variant.approved_hash == variant.content_hash
        revision = await session.scalar(
            select(Revision).where(Revision.post_id == post.id, Revision.action == "shifted")
        )
        assert revision is not None
    row = await delivery_row(database, late.deliveries[0])
    assert row.status is DeliveryStatus.pending
    assert row.due_at == row.next_attempt_at == before.due_at + timedelta(minutes=50)
    assert await claimed_ids(database, settings) == []  # thirty minutes from now


async def test_skip_cancels_the_late_deliveries(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    late = await late_setup(database, team)
    await paused_then_resumed(client, team)
    response = await client.post(
        f"{late.ws}/overdue/{late.post_id}",
        json={"decision": "skip"},
        headers=team.headers[Role.editor],
    )
    assert response.status_code == 200, response.text
    assert (await delivery_row(database, late.deliveries[0])).status is DeliveryStatus.canceled
    listing = await client.get(f"{late.ws}/overdue", headers=team.headers[Role.viewer])
    assert listing.json()["items"] == []


async def test_a_channel_resume_parks_its_own_late_deliveries(
    client: httpx.AsyncClient, database: Database, team: Team, settings: Settings
) -> None:
    late = await late_setup(database, team, channels=((Network.sandbox, True),) * 2)
    paused_channel = late.channels[0]
    channels = f"{late.ws}/channels"
    paused = await client.post(
        f"{channels}/{paused_channel}/pause", json={"reason": "Wrong account"}, headers=team.owner
    )
    assert paused.status_code == 200, paused.text
    # The other channel is not paused: the scheduler's rule applies to it (missed).
    assert await missed_now(database) == [late.deliveries[1]]
    assert await claimed_ids(database, settings) == []

    resumed = await client.post(f"{channels}/{paused_channel}/resume", headers=team.owner)
    assert resumed.status_code == 200, resumed.text
    row = await delivery_row(database, late.deliveries[0])
    assert row.status is DeliveryStatus.pending and row.next_attempt_at == AWAITING_DECISION
    assert await claimed_ids(database, settings) == []
    [pause_event] = await audited(database, "channel.paused")
    [resume_event] = await audited(database, "channel.resumed")
    assert pause_event.actor_id == team.user_ids[Role.owner]
    assert resume_event.data["reason"] == "Wrong account" and resume_event.data["overdue"] == 1
    assert resume_event.data["paused_by_id"] == str(team.user_ids[Role.owner])


async def test_a_workspace_resume_leaves_a_paused_channel_to_its_own_resume(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    late = await late_setup(database, team)
    ws = f"/api/v1/workspaces/{team.workspace_id}"
    await client.post(f"{ws}/pause", json={"reason": "Crisis"}, headers=team.owner)
    await client.post(f"{ws}/channels/{late.channels[0]}/pause", json={}, headers=team.owner)
    await client.post(f"{ws}/resume", headers=team.owner)
    assert (await delivery_row(database, late.deliveries[0])).next_attempt_at < AWAITING_DECISION
    await client.post(f"{ws}/channels/{late.channels[0]}/resume", headers=team.owner)
    assert (await delivery_row(database, late.deliveries[0])).next_attempt_at == AWAITING_DECISION
