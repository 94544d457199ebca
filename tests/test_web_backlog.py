"""The idea backlog page: undated posts, newest first, and the API's filter."""

from __future__ import annotations

import re

import httpx
import pytest

from app.db import Database
from app.models import Role
from app.networks.base import Network
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, create_post, posts_url
from tests.test_web_pages import page


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.viewer))


async def test_the_backlog_lists_undated_ideas_newest_first(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x, name="Our X")
    first = await create_post(
        client, team, title="Old idea", local_at=None, timezone=None, status="idea"
    )
    await create_post(client, team, title="Dated post")
    second = await create_post(
        client,
        team,
        title="Fresh <idea>",
        local_at=None,
        timezone=None,
        status="idea",
        channels=[str(x)],
    )
    response = await page(client, team, "backlog")
    assert response.status_code == 200
    html = response.text
    assert re.findall(r'data-idea="([^"]+)"', html) == [second["id"], first["id"]]
    assert "Dated post" not in html
    assert "Fresh &lt;idea&gt;" in html and "Our X (X)" in html
    assert f'href="/w/{team.workspace_id}/posts/new">New idea' in html
    # The workspace's navigation leads here.
    assert re.search(rf'href="/w/{team.workspace_id}/backlog"[^>]*>\s*Backlog', html)
    viewer = await page(client, team, "backlog", Role.viewer)
    assert viewer.status_code == 200 and "New idea" not in viewer.text

    listed = await client.get(posts_url(team), params={"undated": "true"}, headers=team.owner)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [second["id"], first["id"]]
    assert listed.json()["total"] == 2


async def test_an_empty_backlog_and_other_workspaces(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    await create_post(client, team, title="Dated post")
    html = (await page(client, team, "backlog")).text
    assert "No idea in the backlog." in html
    other = await make_team(database, (Role.owner,))
    response = await client.get(
        f"/w/{other.workspace_id}/backlog", headers={**team.owner, "accept": "text/html"}
    )
    assert response.status_code == 404
    bad = await page(client, team, "backlog?offset=-1")
    assert bad.status_code == 422
