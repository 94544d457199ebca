"""In-app notifications: who gets them (notify), and the list / unread / mark-read API,
where everyone sees only their own. Also the hooks: pause/resume and @mentions."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from app.db import Database, session_scope
from app.models import Event, Notification, Role, User, WebhookDelivery
from app.notifications import service
from tests.factories import make_membership, make_post, make_user, make_workspace
from tests.test_channels_api import Team, make_team


def url(team: Team, tail: str = "") -> str:
    return f"/api/v1/workspaces/{team.workspace_id}/notifications{tail}"


async def notifications_of(database: Database, user_id: uuid.UUID) -> list[Notification]:
    async with database.read_session() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at)
        )
        return list(rows)


async def test_notify_reaches_the_right_people(database: Database) -> None:
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session)
        people = {}
        for role in (Role.owner, Role.admin, Role.editor, Role.reviewer, Role.viewer):
            user = await make_user(session)
            await make_membership(session, workspace_id=workspace.id, user_id=user.id, role=role)
            people[role] = user.id
        author = people[Role.editor]
        outsider = (await make_user(session)).id
        post = await make_post(session, workspace_id=workspace.id, author_id=author)

        reviewers = {people[Role.owner], people[Role.admin], people[Role.reviewer]}
        assert await service.post_people(session, post) == reviewers | {author}
        assert await service.workspace_people(session, workspace.id) == set(people.values())

        event_id = await service.notify(
            session,
            workspace_id=workspace.id,
            event=Event.submitted,
            text="Ana submitted “Spring launch” for review",
            # The actor and a non-member are among the recipients: neither is notified.
            recipients=[*await service.post_people(session, post), outsider],
            actor_id=author,
            post_id=post.id,
            data={"version": 3},
        )
        rows = list(await session.scalars(select(Notification)))
    assert {row.user_id for row in rows} == reviewers
    assert {row.event_id for row in rows} == {event_id}
    assert all(row.event is Event.submitted and row.read_at is None for row in rows)
    assert all(row.post_id == post.id and row.data == {"version": 3} for row in rows)
    # No webhook endpoint: no outbox row.
    async with database.read_session() as session:
        assert list(await session.scalars(select(WebhookDelivery))) == []


async def test_notify_writes_in_the_callers_transaction(database: Database) -> None:
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session)
        user = await make_user(session)
        await make_membership(session, workspace_id=workspace.id, user_id=user.id)
    try:
        async with session_scope(database.write_session) as session:
            await service.notify(
                session,
                workspace_id=workspace.id,
                event=Event.missed,
                text="x",
                recipients=[user.id],
            )
            raise RuntimeError("the caller's change failed")
    except RuntimeError:
        pass
    assert await notifications_of(database, user.id) == []


async def test_list_unread_and_mark_read(database: Database, client: httpx.AsyncClient) -> None:
    team = await make_team(database, (Role.owner, Role.editor, Role.viewer))
    viewer, editor = team.user_ids[Role.viewer], team.user_ids[Role.editor]
    async with session_scope(database.write_session) as session:
        for number in range(3):
            await service.notify(
                session,
                workspace_id=team.workspace_id,
                event=Event.workspace_paused,
                text=f"paused {number}",
                recipients=[viewer, editor],
            )
    viewer_headers = team.headers[Role.viewer]

    listed = await client.get(url(team), headers=viewer_headers)
    assert listed.status_code == 200
    body = listed.json()
    assert (body["total"], body["unread"]) == (3, 3)
    assert [item["text"] for item in body["items"]] == ["paused 2", "paused 1", "paused 0"]
    page = (
        await client.get(url(team), params={"limit": 2, "offset": 2}, headers=viewer_headers)
    ).json()
    assert [item["text"] for item in page["items"]] == ["paused 0"]

    first = body["items"][0]["id"]
    marked = await client.post(url(team, "/read"), json={"ids": [first]}, headers=viewer_headers)
    assert marked.status_code == 200
    assert marked.json() == {"marked": 1, "unread": 2}
    count = await client.get(url(team, "/unread-count"), headers=viewer_headers)
    assert count.json() == {"unread": 2}
    unread = (
        await client.get(url(team), params={"unread_only": True}, headers=viewer_headers)
    ).json()
    assert [item["text"] for item in unread["items"]] == ["paused 1", "paused 0"]
    assert all(not item["read"] for item in unread["items"])

    everything = await client.post(url(team, "/read"), json={"all": True}, headers=viewer_headers)
    assert everything.json() == {"marked": 2, "unread": 0}
    # The editor's copies are untouched.
    editor_count = await client.get(url(team, "/unread-count"), headers=team.headers[Role.editor])
    assert editor_count.json() == {"unread": 3}
    # The owner got nothing.
    assert (await client.get(url(team), headers=team.owner)).json()["total"] == 0


async def test_other_peoples_notifications_stay_invisible(
    database: Database, client: httpx.AsyncClient
) -> None:
    team = await make_team(database, (Role.owner, Role.editor))
    editor = team.user_ids[Role.editor]
    async with session_scope(database.write_session) as session:
        await service.notify(
            session,
            workspace_id=team.workspace_id,
            event=Event.mentioned,
            text="you were mentioned",
            recipients=[editor],
        )
    [mine] = await notifications_of(database, editor)

    # The owner cannot see or mark the editor's notification.
    assert (await client.get(url(team), headers=team.owner)).json()["items"] == []
    refused = await client.post(
        url(team, "/read"), json={"ids": [str(mine.id)]}, headers=team.owner
    )
    assert refused.status_code == 404
    assert refused.json()["detail"].startswith("No such notification")
    [still] = await notifications_of(database, editor)
    assert still.read_at is None

    # A member of another workspace gets 404 for this one.
    other = await make_team(database, (Role.owner,))
    for tail in ("", "/unread-count"):
        assert (await client.get(url(team, tail), headers=other.owner)).status_code == 404
    response = await client.post(url(team, "/read"), json={"all": True}, headers=other.owner)
    assert response.status_code == 404
    # Anonymous: 401.
    assert (await client.get(url(team))).status_code == 401


async def test_mark_read_needs_ids_or_all(database: Database, client: httpx.AsyncClient) -> None:
    team = await make_team(database, (Role.viewer,))
    headers = team.headers[Role.viewer]
    for body in (
        {},
        {"ids": [str(uuid.uuid4())], "all": True},
        {"ids": ["nope"]},
        {"everything": 1},
    ):
        response = await client.post(url(team, "/read"), json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    unknown = await client.post(
        url(team, "/read"), json={"ids": [str(uuid.uuid4())]}, headers=headers
    )
    assert unknown.status_code == 404


async def test_pause_and_resume_notify_every_member_but_the_actor(
    database: Database, client: httpx.AsyncClient
) -> None:
    team = await make_team(database, (Role.owner, Role.editor, Role.viewer))
    base = f"/api/v1/workspaces/{team.workspace_id}"
    paused = await client.post(f"{base}/pause", json={"reason": "crisis"}, headers=team.owner)
    assert paused.status_code == 200, paused.text
    resumed = await client.post(f"{base}/resume", headers=team.owner)
    assert resumed.status_code == 200, resumed.text
    assert await notifications_of(database, team.user_ids[Role.owner]) == []
    for role in (Role.editor, Role.viewer):
        rows = await notifications_of(database, team.user_ids[role])
        assert [row.event for row in rows] == [Event.workspace_paused, Event.workspace_resumed]
        assert "crisis" in rows[0].text
        assert rows[0].actor_id == team.user_ids[Role.owner]


async def test_a_mention_notifies_the_mentioned_member(
    database: Database, client: httpx.AsyncClient
) -> None:
    team = await make_team(database, (Role.owner, Role.reviewer, Role.viewer))
    async with session_scope(database.write_session) as session:
        post = await make_post(session, workspace_id=team.workspace_id, title="Spring launch")
        reviewer = await session.get(User, team.user_ids[Role.reviewer])
        assert reviewer is not None
        handle = reviewer.email.partition("@")[0]
    response = await client.post(
        f"/api/v1/workspaces/{team.workspace_id}/posts/{post.id}/comments",
        json={"body": f"@{handle} can you check the link?"},
        headers=team.owner,
    )
    assert response.status_code == 201, response.text
    [row] = await notifications_of(database, team.user_ids[Role.reviewer])
    assert row.event is Event.mentioned
    assert row.post_id == post.id
    assert "Spring launch" in row.text and "can you check the link?" in row.text
    assert await notifications_of(database, team.user_ids[Role.viewer]) == []
