"""Comments on posts: @mentions of members, deleting own (admins: any)."""

from __future__ import annotations

import httpx
import pytest

from app.db import Database, session_scope
from app.models import Role, User
from app.posts.comments import mentioned_names
from tests.factories import make_user
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import create_post, posts_url


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.admin, Role.editor, Role.reviewer))


async def email_of(database: Database, user_id) -> str:  # type: ignore[no-untyped-def]
    async with database.read_session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.email


def test_mention_parsing() -> None:
    assert mentioned_names("@Alice and @bob.smith, thanks @carol.") == {
        "alice",
        "bob.smith",
        "carol",
    }
    assert mentioned_names("mail me at dan@example.org") == set()


async def test_comments_with_mentions(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        stranger = await make_user(session)
    reviewer_name = (await email_of(database, team.user_ids[Role.reviewer])).split("@")[0]
    admin_name = (await email_of(database, team.user_ids[Role.admin])).split("@")[0]
    stranger_name = stranger.email.split("@")[0]
    post = await create_post(client, team)
    url = posts_url(team, post["id"], "comments")

    response = await client.post(
        url,
        json={"body": f"@{reviewer_name.upper()} please check; cc @{admin_name} @{stranger_name}"},
        headers=team.headers[Role.editor],
    )
    assert response.status_code == 201, response.text
    comment = response.json()
    assert sorted(comment["mentions"]) == sorted(
        [str(team.user_ids[Role.reviewer]), str(team.user_ids[Role.admin])]
    )
    assert comment["author_id"] == str(team.user_ids[Role.editor])

    reply = await client.post(url, json={"body": "Looks good"}, headers=team.headers[Role.reviewer])
    assert reply.json()["mentions"] == []
    listed = await client.get(url, headers=team.owner)
    assert [c["body"] for c in listed.json()] == [comment["body"], "Looks good"]

    empty = await client.post(url, json={"body": "   "}, headers=team.owner)
    assert empty.status_code == 422


async def test_delete_own_comment_admins_any(client: httpx.AsyncClient, team: Team) -> None:
    post = await create_post(client, team)
    url = posts_url(team, post["id"], "comments")
    mine = (await client.post(url, json={"body": "mine"}, headers=team.headers[Role.editor])).json()
    theirs = (
        await client.post(url, json={"body": "theirs"}, headers=team.headers[Role.reviewer])
    ).json()

    refused = await client.delete(f"{url}/{theirs['id']}", headers=team.headers[Role.editor])
    assert refused.status_code == 403
    assert (
        await client.delete(f"{url}/{mine['id']}", headers=team.headers[Role.editor])
    ).status_code == 204
    assert (
        await client.delete(f"{url}/{theirs['id']}", headers=team.headers[Role.admin])
    ).status_code == 204
    assert (await client.get(url, headers=team.owner)).json() == []
    gone = await client.delete(f"{url}/{theirs['id']}", headers=team.headers[Role.admin])
    assert gone.status_code == 404
