"""The approval workflow: exact content, policy, steps, inbox, missed deliveries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.approvals.lateness import mark_missed
from app.approvals.service import approved_clause
from app.db import Database, session_scope
from app.models import AuditEvent, Delivery, DeliveryStatus, Post, Role, Variant, Workspace
from app.models.notification import Event, Notification
from app.networks.base import Network
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, posts_url

LOCAL = "2026-12-03T09:30:00"


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(
        database, (Role.owner, Role.admin, Role.editor, Role.reviewer, Role.viewer)
    )


async def set_policy(database: Database, team: Team, **values: Any) -> None:
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Workspace).where(Workspace.id == team.workspace_id).values(**values)
        )


async def new_post(
    client: httpx.AsyncClient, team: Team, channels: list[uuid.UUID], **body: Any
) -> dict[str, Any]:
    payload = {
        "title": "Spring launch",
        "body": "Our spring roast is here.",
        "local_at": LOCAL,
        "timezone": "UTC",
        "channels": [str(c) for c in channels],
        **body,
    }
    response = await client.post(posts_url(team), json=payload, headers=team.headers[Role.editor])
    assert response.status_code == 201, response.text
    return response.json()


async def step(
    client: httpx.AsyncClient,
    team: Team,
    post: dict[str, Any],
    name: str,
    role: Role,
    expect: int = 200,
    **body: Any,
) -> dict[str, Any]:
    response = await client.post(
        posts_url(team, post["id"], name),
        json={"version": post["version"], **body},
        headers=team.headers[role],
    )
    assert response.status_code == expect, response.text
    return response.json()


async def claimable(database: Database, post_id: str) -> set[uuid.UUID]:
    """Channels whose delivery of this post has approved content (the claim's predicate)."""
    async with database.read_session() as session:
        rows = await session.execute(
            select(Delivery.channel_id)
            .join(Variant, Variant.id == Delivery.variant_id)
            .where(
                Delivery.post_id == uuid.UUID(post_id),
                Delivery.status.in_((DeliveryStatus.pending, DeliveryStatus.retrying)),
                approved_clause(),
            )
        )
        return {row.channel_id for row in rows}


async def notified(database: Database, event: Event) -> set[uuid.UUID]:
    async with database.read_session() as session:
        rows = await session.scalars(
            select(Notification.user_id).where(Notification.event == event)
        )
        return set(rows)


async def two_channels(database: Database, team: Team) -> tuple[uuid.UUID, uuid.UUID]:
    x = await add_channel(database, team, Network.x)
    mastodon = await add_channel(database, team, Network.mastodon)
    return x, mastodon


# -- exact content ---------------------------------------------------------------


async def test_an_unapproved_variant_never_has_a_claimable_delivery(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x, mastodon])
    assert await claimable(database, post["id"]) == set()  # draft
    post = await step(client, team, post, "submit", Role.editor)
    assert post["status"] == "in_review"
    assert await claimable(database, post["id"]) == set()
    post = await step(
        client, team, post, "request-changes", Role.reviewer, comment="Shorter, please."
    )
    assert post["status"] == "changes_requested"
    assert await claimable(database, post["id"]) == set()
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    assert post["status"] == "approved"
    assert await claimable(database, post["id"]) == {x, mastodon}
    assert {"submitted", "changes_requested", "approved"} <= {
        e.value for e in Event if await notified(database, e)
    }
    assert await notified(database, Event.approved) == {
        team.user_ids[r] for r in (Role.owner, Role.admin, Role.editor)
    }  # the author and the other reviewers; not the approving reviewer, not the viewer


async def test_an_edit_after_approval_holds_exactly_the_edited_variant(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x, mastodon])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)

    edited = await client.put(
        posts_url(team, post["id"], "variants", str(x)),
        json={"text": "Our spring roast is here, now with a discount.", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    assert edited.status_code == 200, edited.text
    post = edited.json()
    assert post["status"] == "in_review"
    assert await claimable(database, post["id"]) == {mastodon}  # the other one still goes out
    assert team.user_ids[Role.reviewer] in await notified(database, Event.edited_after_approval)

    inbox = await client.get(
        f"/api/v1/workspaces/{team.workspace_id}/approvals/inbox",
        headers=team.headers[Role.reviewer],
    )
    assert inbox.status_code == 200
    (item,) = inbox.json()["items"]
    changes = {c["channel_id"]: c for c in item["changes"]}
    assert changes[str(x)]["change"] == "changed"
    assert any(
        line.startswith("+Our spring roast is here, now") for line in changes[str(x)]["diff"]
    )
    assert changes[str(mastodon)]["change"] == "unchanged"

    post = await step(client, team, post, "approve", Role.reviewer)
    assert post["status"] == "approved"
    assert await claimable(database, post["id"]) == {x, mastodon}


async def test_moving_a_post_in_time_keeps_its_approval(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    moved = await client.patch(
        posts_url(team, post["id"]),
        json={"local_at": "2026-12-04T10:00:00", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "approved"
    assert await claimable(database, post["id"]) == {x}


async def test_a_new_channel_on_an_approved_post_waits_for_review(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    added = await client.put(
        posts_url(team, post["id"], "variants", str(mastodon)),
        json={"text": "Toot!", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    assert added.status_code == 200, added.text
    assert added.json()["status"] == "in_review"
    assert await claimable(database, post["id"]) == {x}


# -- policy ------------------------------------------------------------------------


async def test_self_approval_is_refused_under_four_eyes(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    response = await client.post(
        posts_url(team),
        json={"title": "Mine", "body": "By the owner", "local_at": LOCAL, "channels": [str(x)]},
        headers=team.owner,
    )
    post = response.json()
    post = await step(client, team, post, "submit", Role.owner)
    refused = await step(client, team, post, "approve", Role.owner, expect=403)
    assert "four eyes" in refused["detail"]
    assert await claimable(database, post["id"]) == set()

    await set_policy(database, team, authors_may_self_approve=True)
    approved = await step(client, team, post, "approve", Role.owner)
    assert approved["status"] == "approved"


async def test_two_approvals_come_from_two_different_reviewers(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    await set_policy(database, team, approvals_needed=2)
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    assert post["status"] == "in_review"
    assert await claimable(database, post["id"]) == set()
    again = await step(client, team, post, "approve", Role.reviewer, expect=409)
    assert "already approved" in again["detail"]
    inbox = await client.get(
        f"/api/v1/workspaces/{team.workspace_id}/approvals/inbox",
        headers=team.headers[Role.reviewer],
    )
    assert inbox.json()["items"] == []  # waiting for someone else now
    post = await step(client, team, post, "approve", Role.admin)
    assert post["status"] == "approved"
    assert await claimable(database, post["id"]) == {x}


async def test_an_approval_counts_only_for_the_content_it_saw(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    await set_policy(database, team, approvals_needed=2)
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    edited = await client.patch(
        posts_url(team, post["id"]),
        json={"body": "Changed while in review", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    post = edited.json()
    post = await step(client, team, post, "approve", Role.admin)
    assert post["status"] == "in_review"  # the first approval was of other words


async def test_a_reviewers_own_edit_keeps_approval_when_the_workspace_allows_it(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    edit = {"body": "Typo fixed by the reviewer", "version": post["version"]}
    kept = await client.patch(
        posts_url(team, post["id"]), json=edit, headers=team.headers[Role.reviewer]
    )
    assert kept.status_code == 403  # reviewers do not write posts; admins do
    await set_policy(database, team, reviewer_edit_keeps_approval=True)
    kept = await client.patch(
        posts_url(team, post["id"]), json=edit, headers=team.headers[Role.admin]
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["status"] == "approved"
    assert await claimable(database, post["id"]) == {x}


async def test_with_approval_off_schedule_approves_and_every_edit_counts(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    await set_policy(database, team, approval_required=False)
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x, mastodon])
    refused = await step(client, team, post, "submit", Role.editor, expect=409)
    assert "does not require approval" in refused["detail"]
    post = await step(client, team, post, "schedule", Role.editor)
    assert post["status"] == "approved"
    assert await claimable(database, post["id"]) == {x, mastodon}
    fixed = await client.put(
        posts_url(team, post["id"], "variants", str(x)),
        json={"text": "A typo fixed a minute before the slot", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    assert fixed.json()["status"] == "approved"
    assert await claimable(database, post["id"]) == {x, mastodon}


async def test_schedule_is_refused_when_approval_is_required(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    refused = await step(client, team, post, "schedule", Role.editor, expect=409)
    assert "requires approval" in refused["detail"]


# -- steps -------------------------------------------------------------------------


async def test_impossible_steps_answer_409_with_a_sentence(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    body = await step(client, team, post, "approve", Role.reviewer, expect=409)
    assert body["detail"] == "You cannot approve this post: it is a draft."
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    body = await step(client, team, post, "submit", Role.editor, expect=409)
    assert "approved and scheduled" in body["detail"]
    assert "unschedule" in body["detail"]


async def test_who_may_take_each_step(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    await step(client, team, post, "submit", Role.viewer, expect=403)
    await step(client, team, post, "submit", Role.reviewer, expect=403)
    post = await step(client, team, post, "submit", Role.editor)
    await step(client, team, post, "approve", Role.editor, expect=403)
    await step(client, team, post, "approve", Role.viewer, expect=403)


async def test_request_changes_needs_a_comment(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    body = await step(client, team, post, "request-changes", Role.reviewer, expect=422, comment=" ")
    assert body["errors"][0]["field"] == "comment"
    comments = await client.get(posts_url(team, post["id"], "comments"), headers=team.owner)
    assert comments.json() == []
    post = await step(client, team, post, "request-changes", Role.reviewer, comment="Add a link")
    comments = await client.get(posts_url(team, post["id"], "comments"), headers=team.owner)
    assert [c["body"] for c in comments.json()] == ["Add a link"]


async def test_a_stale_version_is_refused(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    await step(client, team, post, "submit", Role.editor)
    body = await step(client, team, post, "withdraw", Role.editor, expect=412)
    assert "version" in body["detail"]


async def test_unschedule_cancels_waiting_deliveries_and_withdraw_clears_approval(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x, mastodon])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    post = await step(client, team, post, "unschedule", Role.editor)
    assert post["status"] == "draft"
    async with database.read_session() as session:
        statuses = set(
            (
                await session.scalars(
                    select(Delivery.status).where(Delivery.post_id == uuid.UUID(post["id"]))
                )
            ).all()
        )
    assert statuses == {DeliveryStatus.canceled}
    # Scheduled again later: fresh deliveries, and only once approved.
    post = await step(client, team, post, "submit", Role.editor)
    assert await claimable(database, post["id"]) == set()
    post = await step(client, team, post, "approve", Role.reviewer)
    assert await claimable(database, post["id"]) == {x, mastodon}
    # An approved post edited (back in review), then withdrawn: nothing of it goes out.
    edited = await client.put(
        posts_url(team, post["id"], "variants", str(x)),
        json={"text": "Edited", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    post = await step(client, team, edited.json(), "withdraw", Role.editor)
    assert await claimable(database, post["id"]) == set()


async def test_submit_needs_a_date_and_a_channel(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    post = await new_post(client, team, [])
    body = await step(client, team, post, "submit", Role.editor, expect=409)
    assert "at least one channel" in body["detail"]


async def test_every_step_is_audited_with_the_content_hashes(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    async with database.read_session() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.target_id == post["id"])
                .order_by(AuditEvent.created_at)
            )
        ).all()
    by_action = {event.action: event for event in events}
    approved = by_action["post.approve"]
    assert approved.actor_id == team.user_ids[Role.reviewer]
    assert approved.data["content_hashes"] == {str(x): post["variants"][0]["content_hash"]}
    assert "post.submit" in by_action


# -- the inbox ---------------------------------------------------------------------


async def test_the_inbox_lists_soonest_first_and_skips_my_own_posts(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    later = await new_post(client, team, [x], title="Later", local_at="2026-12-20T09:00:00")
    sooner = await new_post(client, team, [x], title="Sooner", local_at="2026-12-02T09:00:00")
    for post in (later, sooner):
        await step(client, team, post, "submit", Role.editor)
    own = await client.post(
        posts_url(team),
        json={"title": "Admin's", "body": "x", "local_at": LOCAL, "channels": [str(x)]},
        headers=team.headers[Role.admin],
    )
    await step(client, team, own.json(), "submit", Role.admin)
    url = f"/api/v1/workspaces/{team.workspace_id}/approvals/inbox"
    mine = await client.get(url, headers=team.headers[Role.admin])
    assert [i["title"] for i in mine.json()["items"]] == ["Sooner", "Later"]
    reviewer = await client.get(url, headers=team.headers[Role.reviewer])
    assert [i["title"] for i in reviewer.json()["items"]] == ["Sooner", "Admin's", "Later"]
    assert reviewer.json()["items"][0]["changes"][0]["change"] == "new"
    viewer = await client.get(url, headers=team.headers[Role.viewer])
    assert viewer.json()["items"] == []


# -- missed --------------------------------------------------------------------------


async def _due_two_hours_ago(database: Database, post_id: str) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.post_id == uuid.UUID(post_id))
            .values(due_at=past, next_attempt_at=past)
        )
        await session.execute(update(Post).where(Post.id == uuid.UUID(post_id)).values(due_at=past))


async def test_a_submitted_post_unapproved_past_its_lateness_limit_is_missed(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    submitted = await new_post(client, team, [x], title="Submitted")
    await step(client, team, submitted, "submit", Role.editor)
    draft = await new_post(client, team, [x], title="Never submitted")
    for post in (submitted, draft):
        await _due_two_hours_ago(database, post["id"])

    async with session_scope(database.write_session) as session:
        missed = await mark_missed(session, now=datetime.now(UTC))
    assert len(missed) == 1
    async with database.read_session() as session:
        rows = dict((await session.execute(select(Delivery.post_id, Delivery.status))).all())
    assert rows[uuid.UUID(submitted["id"])] is DeliveryStatus.missed
    assert rows[uuid.UUID(draft["id"])] is DeliveryStatus.pending  # quietly overdue
    assert await notified(database, Event.missed) == {
        team.user_ids[r] for r in (Role.owner, Role.admin, Role.editor, Role.reviewer)
    }


async def test_paused_workspaces_wait_instead_of_missing(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, _ = await two_channels(database, team)
    post = await new_post(client, team, [x])
    await step(client, team, post, "submit", Role.editor)
    await _due_two_hours_ago(database, post["id"])
    await set_policy(database, team, paused=True, paused_at=datetime.now(UTC))
    async with session_scope(database.write_session) as session:
        assert await mark_missed(session, now=datetime.now(UTC)) == []
    await set_policy(database, team, paused=False, lateness_limit_minutes=180)
    async with session_scope(database.write_session) as session:
        assert await mark_missed(session, now=datetime.now(UTC)) == []  # within 3 hours
    await set_policy(database, team, lateness_limit_minutes=60)
    async with session_scope(database.write_session) as session:
        assert len(await mark_missed(session, now=datetime.now(UTC))) == 1


async def test_retries_stop_at_the_lateness_limit_and_parked_deliveries_wait(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x, mastodon])
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    await _due_two_hours_ago(database, post["id"])
    far = datetime(9999, 1, 1, tzinfo=UTC)
    async with session_scope(database.write_session) as session:
        # X was tried once and waits for a retry; Mastodon was parked by a resume.
        await session.execute(
            update(Delivery)
            .where(Delivery.post_id == uuid.UUID(post["id"]), Delivery.channel_id == x)
            .values(status=DeliveryStatus.retrying, attempts=1)
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.post_id == uuid.UUID(post["id"]), Delivery.channel_id == mastodon)
            .values(next_attempt_at=far)
        )
    async with session_scope(database.write_session) as session:
        closed = await mark_missed(session, now=datetime.now(UTC))
    assert len(closed) == 1
    async with database.read_session() as session:
        rows = dict((await session.execute(select(Delivery.channel_id, Delivery.status))).all())
    assert rows == {x: DeliveryStatus.failed, mastodon: DeliveryStatus.pending}
    assert team.user_ids[Role.editor] in await notified(database, Event.publish_failed)


async def test_a_post_missed_on_several_channels_is_one_notification(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x, mastodon = await two_channels(database, team)
    post = await new_post(client, team, [x, mastodon])
    await step(client, team, post, "submit", Role.editor)
    await _due_two_hours_ago(database, post["id"])
    async with session_scope(database.write_session) as session:
        assert len(await mark_missed(session, now=datetime.now(UTC))) == 2
    async with database.read_session() as session:
        texts = list(
            await session.scalars(
                select(Notification.text).where(
                    Notification.event == Event.missed,
                    Notification.user_id == team.user_ids[Role.editor],
                )
            )
        )
    assert len(texts) == 1 and "(x)" in texts[0] and "(mastodon)" in texts[0]
