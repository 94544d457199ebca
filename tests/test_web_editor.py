"""The editor page's server side: what it hands editor.js (each copy whole, with its
own fold), the occurrence choice for a time that happens twice, and media read only
from the post's own workspace."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import update

from app.db import Database, session_scope
from app.models import Media, Post, Role
from app.networks.base import Network
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, create_post
from tests.test_web_pages import editor_data, page

# Paris, clocks going back: 02:30 happens twice on 2026-10-25.
AMBIGUOUS = "2026-10-25T02:30:00"


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.viewer))


def variants_url(team: Team, post: dict) -> str:
    return f"/api/v1/workspaces/{team.workspace_id}/posts/{post['id']}/variants"


async def test_the_editor_gets_each_copy_whole_with_its_fold(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    post = await create_post(client, team, channels=[str(x)])
    put = await client.put(
        f"{variants_url(team, post)}/{x}",
        json={"text": "Own", "link": "https://example.org/own", "local_at": AMBIGUOUS, "fold": 1},
        headers={**team.owner, "If-Match": f'W/"{post["version"]}"'},
    )
    assert put.status_code == 200, put.text
    assert put.json()["variants"][0]["fold"] == 1
    data = editor_data((await page(client, team, f"posts/{post['id']}")).text)
    (copy,) = data["post"]["variants"]
    assert copy["link"] == "https://example.org/own"
    assert (copy["local_at"], copy["fold"]) == (AMBIGUOUS, 1)


async def test_a_time_that_happens_twice_asks_which_occurrence(
    client: httpx.AsyncClient, team: Team
) -> None:
    plain = await create_post(client, team)
    html = (await page(client, team, f"posts/{plain['id']}")).text
    assert "data-fold-field hidden" in html  # the choice waits for a 422 naming it
    second = await create_post(client, team, local_at=AMBIGUOUS, fold=1)
    html = (await page(client, team, f"posts/{second['id']}")).text
    assert "data-fold-field>" in html
    assert '<option value="1" selected>Second' in html
    assert editor_data(html)["post"]["fold"] == 1


async def test_the_editor_reads_media_of_its_own_workspace_only(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other = await make_team(database, (Role.owner,))
    post = await create_post(client, team)
    async with session_scope(database.write_session) as db:
        foreign = Media(
            id=uuid.uuid4(),
            workspace_id=other.workspace_id,
            sha256="1" * 64,
            filename="their-secret-plan.png",
            mime_type="image/png",
            size_bytes=10,
        )
        db.add(foreign)
        await db.flush()
        # Not possible through the API (it refuses another workspace's media): written
        # directly, as a damaged row would be.
        await db.execute(
            update(Post)
            .where(Post.id == uuid.UUID(post["id"]))
            .values(media=[{"media_id": str(foreign.id), "alt": ""}])
        )
    response = await page(client, team, f"posts/{post['id']}")
    assert "their-secret-plan.png" not in response.text
    assert response.status_code == 422
