"""The calendar range query: compact entries for a range, bounded to 100 days."""

from __future__ import annotations

import httpx
import pytest

from app.db import Database
from app.models import Role
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, add_label, add_plan, create_post


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.viewer))


def calendar_url(team: Team) -> str:
    return f"/api/v1/workspaces/{team.workspace_id}/calendar"


async def test_calendar_range(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    x = str(await add_channel(database, team, name="X"))
    x2 = str(await add_channel(database, team, name="X2"))
    label = str(await add_label(database, team))
    plan = str(await add_plan(database, team))
    inside = await create_post(
        client,
        team,
        title="Inside",
        local_at="2026-12-10T09:00:00",
        channels=[x, x2],
        labels=[label],
        plan_id=plan,
    )
    edge = await create_post(client, team, title="Edge", local_at="2026-12-01T00:30:00")
    await create_post(client, team, title="Before", local_at="2026-11-30T23:30:00")
    await create_post(client, team, title="After", local_at="2027-01-01T01:00:00")
    await create_post(client, team, title="Idea", status="idea", local_at=None)

    response = await client.get(
        calendar_url(team),
        # December in Paris, as instants.
        params={"from": "2026-12-01T00:00:00+01:00", "to": "2027-01-01T00:00:00+01:00"},
        headers=team.headers[Role.viewer],
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [e["title"] for e in entries] == ["Edge", "Inside"]
    assert entries[0]["post_id"] == edge["id"]
    entry = entries[1]
    assert entry["post_id"] == inside["id"]
    assert entry["status"] == "draft"
    assert entry["version"] == inside["version"]
    assert entry["local_at"] == "2026-12-10T09:00:00"
    assert entry["timezone"] == "Europe/Paris"
    assert entry["due_at"].startswith("2026-12-10T08:00:00")
    assert entry["label_ids"] == [label]
    assert entry["plan_id"] == plan
    assert sorted(v["channel_id"] for v in entry["variants"]) == sorted([x, x2])
    assert {v["network"] for v in entry["variants"]} == {"x"}


async def test_calendar_range_is_bounded(client: httpx.AsyncClient, team: Team) -> None:
    url = calendar_url(team)
    too_long = await client.get(
        url,
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
        headers=team.owner,
    )
    assert too_long.status_code == 422
    assert "100 days" in too_long.json()["detail"]
    backwards = await client.get(
        url,
        params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=team.owner,
    )
    assert backwards.status_code == 422
    missing = await client.get(url, headers=team.owner)
    assert missing.status_code == 422
    assert set(missing.json()) == {"detail", "errors"}


async def test_far_out_dates_are_refused_not_crashing(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await client.get(
        calendar_url(team),
        params={"from": "9999-12-31T23:00:00-14:00", "to": "9999-12-31T23:59:00-14:00"},
        headers=team.owner,
    )
    assert response.status_code == 422
    assert set(response.json()) == {"detail", "errors"}
