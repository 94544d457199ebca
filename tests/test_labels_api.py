"""Labels over the API: CRUD, colours, unique names, deletion detaches them."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from app.db import Database, session_scope
from app.models import AuditEvent, Label, Plan, Role, post_label
from tests.factories import make_label, make_plan, make_post
from tests.test_plans_api import Team, add_labels, local_post, make_team


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database)


async def test_create_read_list_update_delete(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    url = team.url("labels")
    created = await client.post(
        url, json={"name": "  Tips  ", "color": "#0EA5E9"}, headers=team.headers[Role.editor]
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["color"], body["posts"]) == ("Tips", "#0ea5e9", 0)
    assert body["workspace_id"] == str(team.workspace_id)
    item = f"{url}/{body['id']}"

    plain = await client.post(url, json={"name": "News"}, headers=team.owner)
    assert plain.status_code == 201 and plain.json()["color"] == "#6b7280"

    listed = await client.get(url, headers=team.headers[Role.viewer])
    assert listed.status_code == 200
    assert [label["name"] for label in listed.json()] == ["News", "Tips"]
    read = await client.get(item, headers=team.headers[Role.reviewer])
    assert read.status_code == 200 and read.json() == body

    updated = await client.patch(
        item, json={"name": "Tips & tricks", "color": "#112233"}, headers=team.owner
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["color"]) == ("Tips & tricks", "#112233")
    recoloured = await client.patch(item, json={"color": "#445566"}, headers=team.owner)
    assert recoloured.json()["name"] == "Tips & tricks"

    for role in (Role.viewer, Role.reviewer):
        refused = await client.post(url, json={"name": "Mine"}, headers=team.headers[role])
        assert refused.status_code == 403
    deleted = await client.delete(item, headers=team.headers[Role.admin])
    assert deleted.status_code == 204
    assert (await client.get(item, headers=team.owner)).status_code == 404

    async with database.read_session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == body["id"])
                .order_by(AuditEvent.created_at)
            )
        ).all()
    assert actions == ["label.created", "label.updated", "label.updated", "label.deleted"]


async def test_names_are_unique_in_a_workspace(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    url = team.url("labels")
    first = await client.post(url, json={"name": "Tips"}, headers=team.owner)
    assert first.status_code == 201
    for name in ("Tips", "tips", " TIPS "):
        again = await client.post(url, json={"name": name}, headers=team.owner)
        assert again.status_code == 409, name
        assert again.json()["detail"] == (
            "This workspace already has a label named 'Tips'; pick another name."
        )
    other = await client.post(url, json={"name": "News"}, headers=team.owner)
    renamed = await client.patch(
        f"{url}/{other.json()['id']}", json={"name": "TIPS"}, headers=team.owner
    )
    assert renamed.status_code == 409
    # A label may change the case of its own name.
    own = await client.patch(
        f"{url}/{first.json()['id']}", json={"name": "TIPS"}, headers=team.owner
    )
    assert own.status_code == 200 and own.json()["name"] == "TIPS"
    # Another workspace may use the name.
    async with session_scope(database.write_session) as session:
        elsewhere = await make_label(session, name="Tips")
    assert elsewhere.workspace_id != team.workspace_id


@pytest.mark.parametrize(
    ("body", "field_name", "words"),
    [
        ({"name": "   "}, "name", "at least 1 character"),
        ({"name": "x" * 65}, "name", "at most 64 characters"),
        ({"name": "Tips", "color": "red"}, "color", "write it #rrggbb"),
        ({"name": "Tips", "color": "#12345g"}, "color", "write it #rrggbb"),
        ({"name": "Tips", "color": "#1234"}, "color", "write it #rrggbb"),
        ({"name": "Tips", "colour": "#123456"}, "colour", "Extra inputs"),
    ],
)
async def test_bad_labels_are_refused_per_field(
    client: httpx.AsyncClient, team: Team, body: dict[str, str], field_name: str, words: str
) -> None:
    response = await client.post(team.url("labels"), json=body, headers=team.owner)
    assert response.status_code == 422, response.text
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert words in errors[field_name]


async def test_deleting_a_label_detaches_it_from_posts_and_plans(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        tips = await make_label(session, workspace_id=team.workspace_id, name="Tips")
        news = await make_label(session, workspace_id=team.workspace_id, name="News")
        plan = await make_plan(
            session,
            workspace_id=team.workspace_id,
            mix_targets={str(tips.id): 40, str(news.id): 30},
        )
        posts = []
        for day in (1, 2):
            post = await make_post(
                session,
                workspace_id=team.workspace_id,
                plan_id=plan.id,
                **local_post(datetime(2026, 12, day, 9), "UTC"),
            )
            await add_labels(session, post, tips, news)
            posts.append(post)
    url = team.url("labels")
    listed = await client.get(url, headers=team.owner)
    assert {label["name"]: label["posts"] for label in listed.json()} == {"News": 2, "Tips": 2}

    deleted = await client.delete(f"{url}/{tips.id}", headers=team.owner)
    assert deleted.status_code == 204
    async with database.read_session() as session:
        rows = (await session.execute(select(post_label.c.post_id, post_label.c.label_id))).all()
        assert sorted(rows) == sorted((post.id, news.id) for post in posts)
        kept = await session.get(Plan, plan.id)
        assert kept is not None and kept.mix_targets == {str(news.id): 30}
        assert (await session.scalars(select(Label.name))).all() == ["News"]
        (event,) = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "label.deleted"))
        ).all()
        assert event.data == {"name": "Tips", "posts": 2}


async def test_another_workspaces_label_is_not_found(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        foreign = await make_label(session)
    item = f"{team.url('labels')}/{foreign.id}"
    assert (await client.get(item, headers=team.owner)).status_code == 404
    assert (await client.patch(item, json={"name": "x"}, headers=team.owner)).status_code == 404
    assert (await client.delete(item, headers=team.owner)).status_code == 404
