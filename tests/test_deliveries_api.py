"""The publishing side in the API: deliveries with their attempts, publish now, retry,
mark published, take down. Real database (both backends), the real sandbox adapter
for take-downs, the scheduler's own claim to show what becomes claimable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.db import Database, session_scope
from app.deliveries import service
from app.errors import Conflict
from app.models import (
    AttemptOutcome,
    AuditEvent,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PostStatus,
    Role,
    SandboxPost,
    Workspace,
    utcnow,
)
from app.networks.base import Network
from app.settings import Settings
from scheduler.dispatch import claim
from scheduler.runtime import SchedulerRuntime
from tests.conftest import TEST_KEYS
from tests.factories import make_channel, make_delivery, make_post, make_variant
from tests.test_channels_api import Team, make_team


def seal(credentials: dict[str, Any]) -> bytes:
    from app.crypto import CredentialBox

    return CredentialBox(TEST_KEYS).seal(credentials)


@dataclass
class Setup:
    team: Team
    post_id: uuid.UUID
    deliveries: list[uuid.UUID] = field(default_factory=list)
    channels: list[uuid.UUID] = field(default_factory=list)

    @property
    def ws(self) -> str:
        return f"/api/v1/workspaces/{self.team.workspace_id}"

    def delivery_url(self, index: int = 0, action: str = "") -> str:
        tail = f"/{action}" if action else ""
        return f"{self.ws}/deliveries/{self.deliveries[index]}{tail}"


async def make_setup(
    database: Database,
    team: Team | None = None,
    *,
    channels: tuple[tuple[Network, bool], ...] = ((Network.sandbox, True),),
    due_at: datetime | None = None,
    status: DeliveryStatus = DeliveryStatus.pending,
    post_status: PostStatus = PostStatus.approved,
    credentials: dict[str, Any] | None = None,
    **delivery: Any,
) -> Setup:
    """A post due at ``due_at`` with one variant and delivery per (network, approved)."""
    team = team or await make_team(database, (Role.owner, Role.editor, Role.viewer))
    due = (due_at or utcnow() + timedelta(hours=2)).replace(microsecond=0)
    async with session_scope(database.write_session) as session:
        post = await make_post(
            session,
            workspace_id=team.workspace_id,
            status=post_status,
            local_at=due.astimezone(UTC).replace(tzinfo=None),
            timezone="UTC",
            due_at=due,
        )
        setup = Setup(team, post.id)
        for network, approved in channels:
            channel = await make_channel(
                session,
                workspace_id=team.workspace_id,
                network=network,
                name=f"{network.value} {uuid.uuid4().hex[:4]}",
                credentials_encrypted=seal(credentials or {"handle": "almanac"}),
            )
            variant = await make_variant(session, post=post, channel=channel)
            if approved:
                variant.approved_hash = variant.content_hash
            row = await make_delivery(
                session, variant=variant, due_at=due, status=status, **delivery
            )
            setup.deliveries.append(row.id)
            setup.channels.append(channel.id)
    return setup


async def delivery_row(database: Database, delivery_id: uuid.UUID) -> Delivery:
    async with database.read_session() as session:
        row = await session.get(Delivery, delivery_id)
        assert row is not None
        return row


async def audited(database: Database, action: str) -> list[AuditEvent]:
    async with database.read_session() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.all())


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.editor, Role.reviewer, Role.viewer))


# -- reading -------------------------------------------------------------------------


async def test_a_posts_deliveries_carry_every_attempt_and_its_error(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(
        database, team, status=DeliveryStatus.failed, last_error="X said: duplicate content"
    )
    started = utcnow() - timedelta(minutes=10)
    async with session_scope(database.write_session) as session:
        for n, (outcome, error, code) in enumerate(
            [
                (AttemptOutcome.transient, "X answered 503", 503),
                (AttemptOutcome.permanent, "X said: duplicate content", 403),
            ]
        ):
            session.add(
                DeliveryAttempt(
                    delivery_id=setup.deliveries[0],
                    started_at=started + timedelta(minutes=n),
                    finished_at=started + timedelta(minutes=n, seconds=1),
                    outcome=outcome,
                    error=error,
                    http_status=code,
                    process_id="test:1:abc",
                )
            )

    response = await client.get(
        f"{setup.ws}/posts/{setup.post_id}/deliveries", headers=team.headers[Role.viewer]
    )
    assert response.status_code == 200, response.text
    [item] = response.json()
    assert item["status"] == "failed" and item["network"] == "sandbox"
    assert item["attempt_count"] == 2
    assert [(a["outcome"], a["http_status"]) for a in item["attempts"]] == [
        ("transient", 503),
        ("permanent", 403),
    ]
    assert item["attempts"][1]["error"] == "X said: duplicate content"
    assert item["last_error"] == "X said: duplicate content"
    assert item["next_attempt_at"] is None  # a failed one is not going to be tried


async def test_workspace_deliveries_filter_and_page(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    soon = utcnow() + timedelta(hours=1)
    first = await make_setup(database, team, due_at=soon)
    await make_setup(database, team, due_at=soon + timedelta(days=2))
    await make_setup(database, team, due_at=soon, status=DeliveryStatus.failed)
    url = f"{first.ws}/deliveries"
    headers = team.headers[Role.viewer]

    everything = (await client.get(url, headers=headers)).json()
    assert everything["total"] == 3
    pending = (await client.get(url, params={"status": "pending"}, headers=headers)).json()
    assert pending["total"] == 2
    assert {i["status"] for i in pending["items"]} == {"pending"}
    by_channel = (
        await client.get(url, params={"channel": str(first.channels[0])}, headers=headers)
    ).json()
    assert [i["id"] for i in by_channel["items"]] == [str(first.deliveries[0])]
    window = {
        "from": (soon + timedelta(days=1)).isoformat(),
        "to": (soon + timedelta(days=3)).isoformat(),
    }
    assert (await client.get(url, params=window, headers=headers)).json()["total"] == 1
    page = (await client.get(url, params={"limit": 2, "offset": 2}, headers=headers)).json()
    assert page["total"] == 3 and len(page["items"]) == 1

    bad = await client.get(url, params={"status": "lost"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"]


# -- publish now ----------------------------------------------------------------------


async def test_publish_now_makes_the_approved_copies_due_and_claimable(
    client: httpx.AsyncClient, database: Database, team: Team, settings: Settings
) -> None:
    setup = await make_setup(
        database, team, channels=((Network.sandbox, True), (Network.sandbox, False))
    )
    response = await client.post(
        f"{setup.ws}/posts/{setup.post_id}/publish-now", headers=team.headers[Role.editor]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["id"] for d in body["due_now"]] == [str(setup.deliveries[0])]
    [held] = body["held"]
    assert held["delivery_id"] == str(setup.deliveries[1])
    assert "waits for approval" in held["reason"]

    due = await delivery_row(database, setup.deliveries[0])
    assert abs((due.next_attempt_at - utcnow()).total_seconds()) < 30
    assert due.due_at == due.next_attempt_at
    untouched = await delivery_row(database, setup.deliveries[1])
    assert untouched.next_attempt_at > utcnow() + timedelta(hours=1)
    [event] = await audited(database, "post.published_now")
    assert event.actor_id == team.user_ids[Role.editor]
    assert event.data["deliveries"] == [str(setup.deliveries[0])]

    # The scheduler's own claim takes it at once (and only it).
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        claimed = await claim(runtime, 10)
    assert [c.delivery_id for c in claimed] == [setup.deliveries[0]]


async def test_publish_now_with_nothing_approved_names_the_waiting_copies(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team, channels=((Network.mastodon, False),))
    before = await delivery_row(database, setup.deliveries[0])
    response = await client.post(
        f"{setup.ws}/posts/{setup.post_id}/publish-now", headers=team.headers[Role.owner]
    )
    assert response.status_code == 409
    body = response.json()
    assert "wait for approval" in body["detail"] and "mastodon" in body["detail"]
    assert body["errors"][0]["network"] == "mastodon"
    after = await delivery_row(database, setup.deliveries[0])
    assert after.next_attempt_at == before.next_attempt_at


async def test_publish_now_is_refused_while_paused(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team)
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == team.workspace_id)
            .values(paused=True, paused_at=utcnow(), paused_reason="Storm warning")
        )
    response = await client.post(
        f"{setup.ws}/posts/{setup.post_id}/publish-now", headers=team.headers[Role.owner]
    )
    assert response.status_code == 409
    assert "paused (Storm warning)" in response.json()["detail"]

    # A paused channel holds its copy; with nothing else to send, 409 again.
    async with session_scope(database.write_session) as session:
        await session.execute(update(Workspace).values(paused=False, paused_at=None))
        await session.execute(
            update(Channel).where(Channel.id == setup.channels[0]).values(paused=True)
        )
    response = await client.post(
        f"{setup.ws}/posts/{setup.post_id}/publish-now", headers=team.headers[Role.owner]
    )
    assert response.status_code == 409 and "is paused" in response.json()["detail"]


async def test_publish_now_refuses_a_draft(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team, post_status=PostStatus.draft)
    response = await client.post(
        f"{setup.ws}/posts/{setup.post_id}/publish-now", headers=team.headers[Role.owner]
    )
    assert response.status_code == 409 and "submit it" in response.json()["detail"]


# -- retry ----------------------------------------------------------------------------


async def test_retry_a_failed_delivery_makes_it_pending_now(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(
        database,
        team,
        due_at=utcnow() - timedelta(hours=3),
        status=DeliveryStatus.failed,
        attempts=6,
        last_error="gave up",
    )
    response = await client.post(setup.delivery_url(0, "retry"), headers=team.headers[Role.editor])
    assert response.status_code == 200, response.text
    assert response.json()["warning"] is None
    row = await delivery_row(database, setup.deliveries[0])
    assert row.status is DeliveryStatus.pending and row.attempts == 0 and row.last_error is None
    assert abs((row.next_attempt_at - utcnow()).total_seconds()) < 30
    [event] = await audited(database, "delivery.retried")
    assert event.target_id == str(setup.deliveries[0]) and event.data["from"] == "failed"

    again = await client.post(setup.delivery_url(0, "retry"), headers=team.headers[Role.editor])
    assert again.status_code == 409 and "pending" in again.json()["detail"]


async def test_retry_an_uncertain_delivery_needs_confirmation_and_warns(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team, status=DeliveryStatus.uncertain)
    refused = await client.post(
        setup.delivery_url(0, "retry"), json={}, headers=team.headers[Role.editor]
    )
    assert refused.status_code == 409
    assert "second time" in refused.json()["detail"]
    assert (await delivery_row(database, setup.deliveries[0])).status is DeliveryStatus.uncertain

    done = await client.post(
        setup.delivery_url(0, "retry"), json={"confirm": True}, headers=team.headers[Role.editor]
    )
    assert done.status_code == 200, done.text
    assert "second time" in done.json()["warning"]
    assert done.json()["delivery"]["status"] == "pending"


async def test_retry_is_refused_when_a_newer_delivery_exists(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team, status=DeliveryStatus.missed)
    async with session_scope(database.write_session) as session:
        old = await session.get(Delivery, setup.deliveries[0])
        assert old is not None
        await make_delivery(session, variant_id=old.variant_id, status=DeliveryStatus.pending)
    response = await client.post(setup.delivery_url(0, "retry"), headers=team.headers[Role.owner])
    assert response.status_code == 409 and "newer delivery" in response.json()["detail"]


async def test_a_status_change_is_conditional_on_the_status_read(database: Database) -> None:
    """The scheduler changed the row after it was read: the action changes nothing."""
    setup = await make_setup(database, status=DeliveryStatus.published, published_at=utcnow())
    async with session_scope(database.write_session) as session:
        with pytest.raises(Conflict, match="it was failed, it is now published"):
            await service._transition(
                session,
                setup.deliveries[0],
                DeliveryStatus.failed,
                status=DeliveryStatus.pending,
            )
    assert (await delivery_row(database, setup.deliveries[0])).status is DeliveryStatus.published


# -- mark published -----------------------------------------------------------------------


async def test_mark_published_records_the_url_a_person_found(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team, status=DeliveryStatus.uncertain)
    sent_at = utcnow() - timedelta(minutes=7)
    async with session_scope(database.write_session) as session:
        session.add(
            DeliveryAttempt(
                delivery_id=setup.deliveries[0],
                started_at=sent_at,
                outcome=AttemptOutcome.lease_expired,
                process_id="test:1:abc",
            )
        )
    url = setup.delivery_url(0, "mark-published")
    for bad in ("ftp://example.org/x", "not a url", "https://"):
        response = await client.post(url, json={"url": bad}, headers=team.headers[Role.editor])
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"].endswith("url")
    assert (await delivery_row(database, setup.deliveries[0])).status is DeliveryStatus.uncertain

    response = await client.post(
        url,
        json={"url": "https://mastodon.example/@almanac/1", "external_id": "1"},
        headers=team.headers[Role.editor],
    )
    assert response.status_code == 200, response.text
    row = await delivery_row(database, setup.deliveries[0])
    assert row.status is DeliveryStatus.published
    assert row.external_url == "https://mastodon.example/@almanac/1" and row.external_id == "1"
    assert abs((row.published_at - sent_at).total_seconds()) < 1
    [event] = await audited(database, "delivery.marked_published")
    assert event.actor_id == team.user_ids[Role.editor]

    twice = await client.post(
        url, json={"url": "https://mastodon.example/@almanac/2"}, headers=team.headers[Role.editor]
    )
    assert twice.status_code == 409


# -- take down ---------------------------------------------------------------------------


async def test_take_down_removes_the_post_from_the_sandbox(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team)
    async with session_scope(database.write_session) as session:
        outbox = SandboxPost(
            channel_id=setup.channels[0], idempotency_key=uuid.uuid4().hex, text="Hello"
        )
        session.add(outbox)
        await session.flush()
        await session.execute(
            update(Delivery)
            .where(Delivery.id == setup.deliveries[0])
            .values(
                status=DeliveryStatus.published,
                published_at=utcnow(),
                external_id=str(outbox.id),
            )
        )
    response = await client.post(
        setup.delivery_url(0, "take-down"), headers=team.headers[Role.editor]
    )
    assert response.status_code == 200, response.text
    assert response.json()["delivery"]["status"] == "removed"
    async with database.read_session() as session:
        gone = await session.get(SandboxPost, outbox.id)
        assert gone is not None and gone.removed_at is not None
    [event] = await audited(database, "delivery.taken_down")
    assert event.target_id == str(setup.deliveries[0])
    assert event.actor_id == team.user_ids[Role.editor]

    again = await client.post(setup.delivery_url(0, "take-down"), headers=team.headers[Role.owner])
    assert again.status_code == 409 and "removed" in again.json()["detail"]


@pytest.mark.parametrize(
    ("network", "credentials", "words"),
    [
        (Network.instagram, {"access_token": "t" * 20, "ig_user_id": "1"}, "cannot delete"),
        (Network.webhook, {"url": "https://hooks.example.org/x"}, "does not send deletions"),
    ],
)
async def test_a_network_that_cannot_take_down_says_so(
    client: httpx.AsyncClient,
    database: Database,
    team: Team,
    network: Network,
    credentials: dict[str, Any],
    words: str,
) -> None:
    setup = await make_setup(
        database,
        team,
        channels=((network, True),),
        credentials=credentials,
        status=DeliveryStatus.published,
        published_at=utcnow(),
        external_id="17841400000000001",
    )
    response = await client.post(
        setup.delivery_url(0, "take-down"), headers=team.headers[Role.owner]
    )
    assert response.status_code == 409, response.text
    assert words in response.json()["detail"]
    assert (await delivery_row(database, setup.deliveries[0])).status is DeliveryStatus.published
    # The attempt is in the audit log all the same: who, and why the post stayed up.
    [refused] = await audited(database, "delivery.take_down_failed")
    assert refused.actor_id == team.user_ids[Role.owner]
    assert refused.target_id == str(setup.deliveries[0])
    assert words in refused.data["reason"] and refused.data["network"] == network.value

    by_hand = await client.post(
        setup.delivery_url(0, "take-down"),
        json={"removed_by_hand": True},
        headers=team.headers[Role.owner],
    )
    assert by_hand.status_code == 200, by_hand.text
    assert (await delivery_row(database, setup.deliveries[0])).status is DeliveryStatus.removed
    [event] = await audited(database, "delivery.taken_down")
    assert event.data["removed_by_hand"] is True


async def test_take_down_of_an_unpublished_delivery_is_refused(
    client: httpx.AsyncClient, database: Database, team: Team
) -> None:
    setup = await make_setup(database, team)
    response = await client.post(
        setup.delivery_url(0, "take-down"), headers=team.headers[Role.owner]
    )
    assert response.status_code == 409 and "pending" in response.json()["detail"]
