"""Revisions: every change of content or time is one; list, show, restore."""

from __future__ import annotations

import httpx
import pytest

from app.db import Database
from app.models import Role
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, create_post, posts_url


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.editor, Role.viewer))


async def test_revisions_list_show_restore(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    a = str(await add_channel(database, team))
    editor = team.headers[Role.editor]
    post = await create_post(client, team, body="First", channels=[a])
    url = posts_url(team, post["id"])
    await client.patch(url, json={"body": "Second", "version": 1}, headers=editor)
    await client.put(
        posts_url(team, post["id"], "variants", a),
        json={"text": "Own", "local_at": "2026-12-03T11:00:00", "version": 2},
        headers=editor,
    )
    await client.patch(url, json={"local_at": "2026-12-04T09:30:00", "version": 3}, headers=editor)

    listed = await client.get(url + "/revisions", headers=team.headers[Role.viewer])
    assert listed.status_code == 200
    revisions = listed.json()
    assert [r["version"] for r in revisions] == [4, 3, 2, 1]
    assert [r["action"] for r in revisions] == ["updated", "variant", "updated", "created"]
    assert revisions[0]["changed"] == ["local_at"]
    assert revisions[1]["changed"] == [f"variants.{a}.local_at", f"variants.{a}.text"]
    assert revisions[2]["changed"] == ["body"]
    assert revisions[2]["author_id"] == str(team.user_ids[Role.editor])

    shown = await client.get(url + f"/revisions/{revisions[2]['id']}", headers=team.owner)
    assert shown.status_code == 200
    assert shown.json()["before"]["body"] == "First"
    assert shown.json()["after"]["body"] == "Second"

    # Restore the first revision: base copy, time and the variant come back.
    restore = url + f"/revisions/{revisions[3]['id']}/restore"
    assert (await client.post(restore, headers=team.owner)).status_code == 428
    assert (await client.post(restore, json={"version": 1}, headers=team.owner)).status_code == 412
    restored = await client.post(restore, headers={**team.owner, "If-Match": 'W/"4"'})
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["version"] == 5
    assert body["body"] == "First"
    assert body["local_at"] == "2026-12-03T09:30:00"
    assert body["variants"][0]["text"] is None and body["variants"][0]["local_at"] is None
    assert body["variants"][0]["content_hash"] == post["variants"][0]["content_hash"]

    newest = (await client.get(url + "/revisions", headers=team.owner)).json()[0]
    assert newest["action"] == "restored"
    assert newest["restored_from_id"] == revisions[3]["id"]
    assert "body" in newest["changed"] and "local_at" in newest["changed"]


async def test_a_revision_of_another_post_is_not_found(
    client: httpx.AsyncClient, team: Team
) -> None:
    one = await create_post(client, team)
    two = await create_post(client, team)
    [rev] = (await client.get(posts_url(team, one["id"], "revisions"), headers=team.owner)).json()
    response = await client.get(
        posts_url(team, two["id"], "revisions", rev["id"]), headers=team.owner
    )
    assert response.status_code == 404
