"""Posts over the API: create, list and filter, versions (ETag/If-Match, racing
writers), local time (DST gap, ambiguous times, offsets), the plan-period rule,
network rules on save and /validate."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from app.db import Database, session_scope
from app.models import Role
from app.networks.base import Network
from tests.factories import make_channel, make_label, make_plan
from tests.test_channels_api import Team, make_team


def posts_url(team: Team, *rest: str) -> str:
    return "/".join([f"/api/v1/workspaces/{team.workspace_id}/posts", *rest])


async def add_channel(database: Database, team: Team, network: Network = Network.x, **kw: Any):
    async with session_scope(database.write_session) as session:
        channel = await make_channel(session, workspace_id=team.workspace_id, network=network, **kw)
        return channel.id


async def add_plan(database: Database, team: Team, **kw: Any) -> uuid.UUID:
    async with session_scope(database.write_session) as session:
        return (await make_plan(session, workspace_id=team.workspace_id, **kw)).id


async def add_label(database: Database, team: Team, **kw: Any) -> uuid.UUID:
    async with session_scope(database.write_session) as session:
        return (await make_label(session, workspace_id=team.workspace_id, **kw)).id


async def create_post(
    client: httpx.AsyncClient, team: Team, expect: int = 201, **body: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": "Launch",
        "body": "We launch on Monday.",
        "local_at": "2026-12-03T09:30:00",
        "timezone": "Europe/Paris",
        **body,
    }
    payload = {k: v for k, v in payload.items() if v is not ...}
    response = await client.post(posts_url(team), json=payload, headers=team.owner)
    assert response.status_code == expect, response.text
    return response.json()


def error_fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    return [error["field"] for error in body["errors"]]


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.editor, Role.viewer))


# -- create, read, list -------------------------------------------------------------


async def test_create_read_with_variants(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team)
    label = await add_label(database, team)
    post = await create_post(client, team, channels=[str(x)], labels=[str(label)])
    assert post["status"] == "draft"
    assert post["version"] == 1
    assert post["local_at"] == "2026-12-03T09:30:00"
    assert post["timezone"] == "Europe/Paris"
    assert post["due_at"].startswith("2026-12-03T08:30:00")
    assert post["labels"] == [str(label)]
    [variant] = post["variants"]
    assert variant["channel_id"] == str(x)
    assert variant["network"] == "x"
    assert variant["text"] is None
    assert variant["effective_text"] == "We launch on Monday."
    assert len(variant["content_hash"]) == 64

    read = await client.get(posts_url(team, post["id"]), headers=team.headers[Role.viewer])
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    assert read.json()["variants"][0]["content_hash"] == variant["content_hash"]


async def test_idea_may_be_undated_a_draft_may_not(client: httpx.AsyncClient, team: Team) -> None:
    idea = await create_post(client, team, status="idea", local_at=None)
    assert idea["local_at"] is None and idea["due_at"] is None
    response = await client.post(
        posts_url(team), json={"title": "Undated draft"}, headers=team.owner
    )
    assert response.status_code == 422
    assert error_fields(response) == ["local_at"]
    assert "idea" in response.json()["detail"]


async def test_default_timezone_is_the_workspace_one(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    from app.models import Workspace

    async with session_scope(database.write_session) as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        workspace.timezone = "America/New_York"
    post = await create_post(client, team, timezone=...)
    assert post["timezone"] == "America/New_York"
    assert post["due_at"].startswith("2026-12-03T14:30:00")


async def test_references_of_another_workspace_are_refused(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other = await make_team(database, (Role.owner,))
    foreign_channel = await add_channel(database, other)
    foreign_label = await add_label(database, other)
    foreign_plan = await add_plan(database, other)
    response = await client.post(
        posts_url(team),
        json={
            "title": "T",
            "local_at": "2026-12-03T09:00:00",
            "channels": [str(foreign_channel)],
            "labels": [str(foreign_label)],
            "plan_id": str(foreign_plan),
            "media": [{"media_id": str(uuid.uuid4()), "alt": ""}],
        },
        headers=team.owner,
    )
    assert response.status_code == 422
    assert sorted(error_fields(response)) == sorted(
        ["labels", "plan_id", f"channels.{foreign_channel}", "media[0]"]
    )


async def test_list_and_filters(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    x = await add_channel(database, team)
    x2 = await add_channel(database, team)
    label = await add_label(database, team)
    plan = await add_plan(database, team)
    a = await create_post(
        client, team, title="A", local_at="2026-12-01T10:00:00", channels=[str(x)]
    )
    b = await create_post(
        client,
        team,
        title="B",
        local_at="2026-12-10T10:00:00",
        channels=[str(x2)],
        labels=[str(label)],
        plan_id=str(plan),
    )
    idea = await create_post(client, team, title="Idea", status="idea", local_at=None)

    async def ids(**params: str) -> list[str]:
        response = await client.get(posts_url(team), params=params, headers=team.owner)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [a["id"], b["id"], idea["id"]]  # by due time, ideas last
    assert await ids(**{"from": "2026-12-05T00:00:00Z"}) == [b["id"]]
    assert await ids(to="2026-12-05T00:00:00+01:00") == [a["id"]]
    assert await ids(status="idea") == [idea["id"]]
    assert await ids(channel=str(x)) == [a["id"]]
    assert await ids(label=str(label)) == [b["id"]]
    assert await ids(plan=str(plan)) == [b["id"]]
    page = (await client.get(posts_url(team), params={"limit": 1}, headers=team.owner)).json()
    assert page["total"] == 3 and len(page["items"]) == 1


async def test_viewers_read_but_do_not_write(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.post(
        posts_url(team), json={"title": "T"}, headers=team.headers[Role.viewer]
    )
    assert response.status_code == 403


# -- versions --------------------------------------------------------------------------


async def test_patch_needs_the_version(client: httpx.AsyncClient, team: Team) -> None:
    post = await create_post(client, team)
    url = posts_url(team, post["id"])

    missing = await client.patch(url, json={"title": "New"}, headers=team.owner)
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["detail"]

    ok = await client.patch(url, json={"title": "New"}, headers={**team.owner, "If-Match": 'W/"1"'})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == 'W/"2"'
    assert ok.json()["version"] == 2

    stale = await client.patch(url, json={"title": "Older", "version": 1}, headers=team.owner)
    assert stale.status_code == 412
    body = stale.json()
    assert set(body) == {"detail", "errors"}
    assert body["errors"][0]["current_version"] == 2
    assert stale.headers["etag"] == 'W/"2"'
    assert (await client.get(url, headers=team.owner)).json()["title"] == "New"

    # A patch that changes nothing makes no new version.
    same = await client.patch(url, json={"title": "New", "version": 2}, headers=team.owner)
    assert same.status_code == 200 and same.json()["version"] == 2


async def test_two_writers_racing_exactly_one_wins(client: httpx.AsyncClient, team: Team) -> None:
    post = await create_post(client, team)
    url = posts_url(team, post["id"])
    headers = {**team.owner, "If-Match": 'W/"1"'}
    first, second = await asyncio.gather(
        client.patch(url, json={"body": "Writer one"}, headers=headers),
        client.patch(url, json={"body": "Writer two"}, headers=headers),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 412], (first.text, second.text)
    winner = first if first.status_code == 200 else second
    loser = second if winner is first else first
    assert loser.json()["errors"][0]["current_version"] == 2
    current = (await client.get(url, headers=team.owner)).json()
    assert current["version"] == 2
    assert current["body"] == winner.json()["body"]


async def test_delete_is_version_checked(client: httpx.AsyncClient, team: Team) -> None:
    post = await create_post(client, team)
    url = posts_url(team, post["id"])
    assert (await client.delete(url, headers=team.owner)).status_code == 428
    assert (await client.delete(url, params={"version": 7}, headers=team.owner)).status_code == 412
    assert (
        await client.delete(url, headers={**team.owner, "If-Match": 'W/"1"'})
    ).status_code == 204
    assert (await client.get(url, headers=team.owner)).status_code == 404


# -- time ----------------------------------------------------------------------------


async def test_a_time_in_the_dst_gap_is_refused_naming_the_gap(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await client.post(
        posts_url(team),
        json={"title": "T", "local_at": "2026-03-29T02:30:00", "timezone": "Europe/Paris"},
        headers=team.owner,
    )
    assert response.status_code == 422
    assert error_fields(response) == ["local_at"]
    assert "02:00 to 03:00" in response.json()["detail"]


async def test_an_ambiguous_time_needs_a_choice(client: httpx.AsyncClient, team: Team) -> None:
    body = {"title": "T", "local_at": "2026-10-25T02:30:00", "timezone": "Europe/Paris"}
    response = await client.post(posts_url(team), json=body, headers=team.owner)
    assert response.status_code == 422
    assert error_fields(response) == ["local_at"]
    assert "twice" in response.json()["detail"] and "fold" in response.json()["detail"]

    first = await create_post(client, team, local_at="2026-10-25T02:30:00", fold=0)
    second = await create_post(client, team, local_at="2026-10-25T02:30:00", fold=1)
    assert first["due_at"].startswith("2026-10-25T00:30:00")
    assert second["due_at"].startswith("2026-10-25T01:30:00")
    assert (first["fold"], second["fold"]) == (0, 1)


async def test_an_offset_picks_the_occurrence(client: httpx.AsyncClient, team: Team) -> None:
    summer = await create_post(client, team, local_at="2026-10-25T02:30:00+02:00")
    winter = await create_post(client, team, local_at="2026-10-25T02:30:00+01:00")
    assert (summer["local_at"], summer["fold"]) == ("2026-10-25T02:30:00", 0)
    assert (winter["local_at"], winter["fold"]) == ("2026-10-25T02:30:00", 1)
    assert winter["due_at"].startswith("2026-10-25T01:30:00")
    # An instant in another offset is stored as its wall time in the post's zone.
    utc = await create_post(client, team, local_at="2026-12-03T08:30:00Z")
    assert utc["local_at"] == "2026-12-03T09:30:00"


async def test_changing_the_zone_keeps_the_wall_time(client: httpx.AsyncClient, team: Team) -> None:
    post = await create_post(client, team)
    response = await client.patch(
        posts_url(team, post["id"]),
        json={"timezone": "America/New_York", "version": 1},
        headers=team.owner,
    )
    assert response.status_code == 200, response.text
    assert response.json()["local_at"] == "2026-12-03T09:30:00"
    assert response.json()["due_at"].startswith("2026-12-03T14:30:00")
    bad = await client.patch(
        posts_url(team, post["id"]),
        json={"timezone": "Mars/Olympus", "version": 2},
        headers=team.owner,
    )
    assert bad.status_code == 422 and error_fields(bad) == ["timezone"]


# -- the plan-period rule ----------------------------------------------------------------


async def test_plan_period_rule(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    december = await add_plan(database, team)
    january = await add_plan(
        database,
        team,
        period="2027-01",
        starts_on=date(2027, 1, 1),
        ends_on=date(2027, 1, 31),
        title="January",
    )
    outside = await client.post(
        posts_url(team),
        json={"title": "T", "local_at": "2027-01-05T10:00:00", "plan_id": str(december)},
        headers=team.owner,
    )
    assert outside.status_code == 422 and error_fields(outside) == ["plan_id"]

    post = await create_post(client, team, plan_id=str(december))
    url = posts_url(team, post["id"])
    moved = await client.patch(
        url, json={"local_at": "2027-01-05T10:00:00", "version": 1}, headers=team.owner
    )
    assert moved.status_code == 422
    assert error_fields(moved) == ["local_at"]
    assert "plan_id" in moved.json()["detail"]

    to_january = await client.patch(
        url,
        json={"local_at": "2027-01-05T10:00:00", "plan_id": str(january), "version": 1},
        headers=team.owner,
    )
    assert to_january.status_code == 200, to_january.text
    assert to_january.json()["plan_id"] == str(january)

    detached = await client.patch(
        url,
        json={"local_at": "2027-02-05T10:00:00", "plan_id": None, "version": 2},
        headers=team.owner,
    )
    assert detached.status_code == 200, detached.text
    assert detached.json()["plan_id"] is None
    # Moving inside the period is fine without naming the plan.
    inside = await create_post(client, team, plan_id=str(december))
    ok = await client.patch(
        posts_url(team, inside["id"]),
        json={"local_at": "2026-12-31T23:30:00", "version": 1},
        headers=team.owner,
    )
    assert ok.status_code == 200, ok.text


# -- network rules --------------------------------------------------------------------------


async def test_a_copy_too_long_for_x_is_refused(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, name="Brand on X")
    response = await client.post(
        posts_url(team),
        json={
            "title": "T",
            "body": "a" * 400,
            "local_at": "2026-12-03T09:00:00",
            "channels": [str(x)],
        },
        headers=team.owner,
    )
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["errors"][0]["network"] == "x"
    assert body["errors"][0]["field"] == "text"
    assert "280" in body["errors"][0]["message"] and "400" in body["errors"][0]["message"]
    assert "Brand on X" in body["detail"]

    # The base copy can be long when the X variant has a short copy of its own.
    post = await create_post(client, team, body="a" * 400)
    put = await client.put(
        posts_url(team, post["id"], "variants", str(x)),
        json={"text": "Short for X", "version": 1},
        headers=team.owner,
    )
    assert put.status_code == 200, put.text


async def test_validate_returns_verdicts_without_saving(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team)
    response = await client.post(
        posts_url(team, "validate"),
        json={
            "body": "a" * 400,
            "variants": [{"channel_id": str(x)}, {"channel_id": str(x), "text": "short"}],
        },
        headers=team.headers[Role.editor],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # One entry per channel: the second entry for the same channel wins.
    [check] = body["channels"]
    assert check["ok"] is True and body["ok"] is True
    assert check["measure"] == {"unit": "weighted characters", "count": 5, "limit": 280}

    long = await client.post(
        posts_url(team, "validate"),
        json={"body": "a" * 400, "variants": [{"channel_id": str(x)}]},
        headers=team.owner,
    )
    check = long.json()["channels"][0]
    assert long.json()["ok"] is False
    assert check["measure"]["count"] == 400
    assert check["verdicts"][0]["level"] == "error"
    listed = await client.get(posts_url(team), headers=team.owner)
    assert listed.json()["total"] == 0
