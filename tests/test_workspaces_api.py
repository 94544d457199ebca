"""Workspaces over the JSON API: create, list, read, update, pause and resume.

Callers are real users with real API tokens (``Authorization: Bearer``), built
directly in the database; every test runs on SQLite and on PostgreSQL. The
helpers at the top are shared by the member and invitation tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.tokens import hash_secret, new_api_token
from app.db import Database
from app.models import ApiToken, AuditEvent, Membership, Role, Workspace
from app.workspaces import service
from tests.factories import make_membership, make_user, make_workspace

# -- helpers (also used by test_members_api.py and test_invitations.py) -------------------


@dataclass(frozen=True)
class Caller:
    """A user with an API token: ``headers`` authenticate a request as them."""

    id: uuid.UUID
    email: str
    display_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


async def add_caller(
    database: Database,
    *,
    workspace_id: uuid.UUID | None = None,
    role: Role | None = None,
    **user_fields: Any,
) -> Caller:
    """A committed user (a member of ``workspace_id`` with ``role`` when given) and token."""
    async with database.write_session() as session:
        user = await make_user(session, **user_fields)
        if workspace_id is not None and role is not None:
            await make_membership(session, workspace_id=workspace_id, user_id=user.id, role=role)
        token, prefix = new_api_token()
        session.add(
            ApiToken(user_id=user.id, name="tests", prefix=prefix, token_hash=hash_secret(token))
        )
        await session.commit()
        return Caller(user.id, user.email, user.display_name, token)


async def add_workspace(database: Database, **fields: Any) -> uuid.UUID:
    async with database.write_session() as session:
        workspace = await make_workspace(session, **fields)
        await session.commit()
        return workspace.id


async def add_team(
    database: Database, *roles: Role, **workspace_fields: Any
) -> tuple[uuid.UUID, dict[Role, Caller]]:
    """A workspace with one member per role given."""
    workspace_id = await add_workspace(database, **workspace_fields)
    members = {
        role: await add_caller(database, workspace_id=workspace_id, role=role) for role in roles
    }
    return workspace_id, members


async def audit_events(
    database: Database, action: str, workspace_id: uuid.UUID | None = None
) -> list[AuditEvent]:
    async with database.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        if workspace_id is not None:
            query = query.where(AuditEvent.workspace_id == workspace_id)
        return list((await session.scalars(query.order_by(AuditEvent.created_at))).all())


async def role_of(database: Database, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Role | None:
    async with database.read_session() as session:
        return await session.scalar(
            select(Membership.role).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user_id
            )
        )


def error_fields(response: httpx.Response) -> set[str]:
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    return {error["field"] for error in body["errors"]}


# -- create and list ----------------------------------------------------------------------


async def test_creating_a_workspace_makes_the_creator_its_owner(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await add_caller(database)
    response = await client.post(
        "/api/v1/workspaces",
        json={
            "name": "Café Zürich — News",
            "timezone": "Europe/Paris",
            "approvals_needed": 2,
            "authors_may_self_approve": True,
            "lateness_limit_minutes": 0,
        },
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == "cafe-zurich-news"
    assert body["role"] == "owner"
    assert body["timezone"] == "Europe/Paris"
    assert body["approval_required"] is True
    assert body["approvals_needed"] == 2
    assert body["authors_may_self_approve"] is True
    assert body["reviewer_edit_keeps_approval"] is False
    assert body["lateness_limit_minutes"] == 0
    assert body["paused"] is False
    workspace_id = uuid.UUID(body["id"])
    assert await role_of(database, workspace_id, alice.id) == Role.owner

    listed = await client.get("/api/v1/workspaces", headers=alice.headers)
    assert listed.status_code == 200
    assert [(w["id"], w["role"]) for w in listed.json()] == [(body["id"], "owner")]

    (event,) = await audit_events(database, "workspace.created", workspace_id)
    assert event.actor_id == alice.id
    assert event.data["slug"] == "cafe-zurich-news"


async def test_the_list_holds_only_my_workspaces_with_my_role(
    client: httpx.AsyncClient, database: Database
) -> None:
    _mine, team = await add_team(database, Role.reviewer, name="Beta")
    other, _ = await add_team(database, Role.owner, name="Alpha")
    reviewer = team[Role.reviewer]
    async with database.write_session() as session:
        await make_membership(session, workspace_id=other, user_id=reviewer.id, role=Role.viewer)
        await make_workspace(session, name="Not mine")
        await session.commit()
    response = await client.get("/api/v1/workspaces", headers=reviewer.headers)
    assert response.status_code == 200
    assert [(w["name"], w["role"]) for w in response.json()] == [
        ("Alpha", "viewer"),
        ("Beta", "reviewer"),
    ]


async def test_a_generated_slug_that_is_taken_gets_a_number(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await add_caller(database)
    slugs = []
    for _ in range(3):
        response = await client.post(
            "/api/v1/workspaces", json={"name": "Acme News"}, headers=alice.headers
        )
        assert response.status_code == 201, response.text
        slugs.append(response.json()["slug"])
    assert slugs == ["acme-news", "acme-news-2", "acme-news-3"]


async def test_a_chosen_slug_that_is_taken_is_a_409(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_workspace(database, slug="acme")
    alice = await add_caller(database)
    response = await client.post(
        "/api/v1/workspaces", json={"name": "Acme", "slug": "acme"}, headers=alice.headers
    )
    assert response.status_code == 409
    assert "'acme' is already used" in response.json()["detail"]
    assert error_fields(response) == {"slug"}
    async with database.read_session() as session:
        assert await session.scalar(select(Workspace).where(Workspace.name == "Acme")) is None


async def test_invalid_values_answer_422_naming_each_field(
    client: httpx.AsyncClient, database: Database
) -> None:
    alice = await add_caller(database)
    response = await client.post(
        "/api/v1/workspaces",
        json={"name": "Acme", "timezone": "Mars/Olympus"},
        headers=alice.headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {
            "field": "timezone",
            "network": None,
            "message": "'Mars/Olympus' is not an IANA time zone (for example Europe/Paris)",
        }
    ]

    response = await client.post(
        "/api/v1/workspaces",
        json={
            "name": "  ",
            "slug": "Not A Slug",
            "approvals_needed": 4,
            "lateness_limit_minutes": -1,
            "colour": "red",
        },
        headers=alice.headers,
    )
    assert response.status_code == 422
    assert error_fields(response) == {
        "name",
        "slug",
        "approvals_needed",
        "lateness_limit_minutes",
        "colour",
    }
    assert await audit_events(database, "workspace.created") == []


async def test_creating_a_workspace_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/workspaces", json={"name": "Acme"})
    assert response.status_code == 401
    response = await client.get("/api/v1/workspaces")
    assert response.status_code == 401


# -- read and update ----------------------------------------------------------------------


async def test_any_member_reads_a_workspace_and_others_get_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.viewer, timezone="America/New_York")
    stranger = await add_caller(database)
    url = f"/api/v1/workspaces/{workspace_id}"

    response = await client.get(url, headers=team[Role.viewer].headers)
    assert response.status_code == 200
    assert response.json()["timezone"] == "America/New_York"
    assert response.json()["role"] == "viewer"

    assert (await client.get(url, headers=stranger.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/workspaces/{uuid.uuid4()}", headers=stranger.headers)
    ).status_code == 404
    assert (await client.get(url)).status_code == 401


async def test_an_admin_updates_the_settings_and_the_change_is_audited(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin, name="Acme")
    admin = team[Role.admin]
    response = await client.patch(
        f"/api/v1/workspaces/{workspace_id}",
        json={"name": "Acme Social", "timezone": "Asia/Tokyo", "approval_required": True},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["timezone"], body["role"]) == ("Acme Social", "Asia/Tokyo", "admin")
    assert body["approvals_needed"] == 1  # untouched

    (event,) = await audit_events(database, "workspace.updated", workspace_id)
    assert event.actor_id == admin.id
    # approval_required was already true: not a change.
    assert event.data == {
        "changes": {
            "name": {"from": "Acme", "to": "Acme Social"},
            "timezone": {"from": "UTC", "to": "Asia/Tokyo"},
        }
    }

    # The same values again change nothing and write no event.
    again = await client.patch(
        f"/api/v1/workspaces/{workspace_id}", json={"name": "Acme Social"}, headers=admin.headers
    )
    assert again.status_code == 200
    assert len(await audit_events(database, "workspace.updated", workspace_id)) == 1


async def test_only_admins_update_and_strangers_get_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.editor)
    stranger = await add_caller(database)
    url = f"/api/v1/workspaces/{workspace_id}"

    response = await client.patch(url, json={"name": "Mine"}, headers=team[Role.editor].headers)
    assert response.status_code == 403
    assert "editor" in response.json()["detail"]
    assert (
        await client.patch(url, json={"name": "Mine"}, headers=stranger.headers)
    ).status_code == 404
    assert (
        await client.patch(url, json={"name": "Ok"}, headers=team[Role.owner].headers)
    ).status_code == 200


async def test_an_update_refuses_nulls_bad_values_and_a_taken_slug(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_workspace(database, slug="taken")
    workspace_id, team = await add_team(database, Role.owner)
    url, headers = f"/api/v1/workspaces/{workspace_id}", team[Role.owner].headers

    response = await client.patch(url, json={"name": None, "timezone": "Nowhere"}, headers=headers)
    assert response.status_code == 422
    assert error_fields(response) == {"name", "timezone"}

    response = await client.patch(url, json={"slug": "taken"}, headers=headers)
    assert response.status_code == 409
    assert error_fields(response) == {"slug"}

    response = await client.patch(url, json={"slug": "free-one"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["slug"] == "free-one"


# -- pause and resume -----------------------------------------------------------------------


async def test_pause_and_resume_are_recorded_and_refused_twice(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.editor)
    editor = team[Role.editor]
    url = f"/api/v1/workspaces/{workspace_id}"

    response = await client.post(
        f"{url}/pause", json={"reason": "Brand crisis: hold everything"}, headers=editor.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["paused"] is True
    assert body["paused_reason"] == "Brand crisis: hold everything"
    assert body["paused_by_id"] == str(editor.id)
    assert body["paused_at"] is not None

    again = await client.post(f"{url}/pause", json={"reason": "again"}, headers=editor.headers)
    assert again.status_code == 409
    assert "already paused (Brand crisis: hold everything)" in again.json()["detail"]

    read = await client.get(url, headers=team[Role.owner].headers)
    assert read.json()["paused"] is True

    response = await client.post(f"{url}/resume", headers=team[Role.owner].headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["paused"], body["paused_reason"], body["paused_at"], body["paused_by_id"]) == (
        False,
        None,
        None,
        None,
    )
    again = await client.post(f"{url}/resume", headers=team[Role.owner].headers)
    assert again.status_code == 409
    assert "not paused" in again.json()["detail"]

    (paused,) = await audit_events(database, "workspace.paused", workspace_id)
    assert paused.actor_id == editor.id
    assert paused.data == {"reason": "Brand crisis: hold everything"}
    (resumed,) = await audit_events(database, "workspace.resumed", workspace_id)
    assert resumed.actor_id == team[Role.owner].id
    assert resumed.data["reason"] == "Brand crisis: hold everything"
    assert resumed.data["paused_by_id"] == str(editor.id)


async def test_pausing_needs_a_reason_and_a_role_that_publishes(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.reviewer, Role.viewer)
    stranger = await add_caller(database)
    url = f"/api/v1/workspaces/{workspace_id}/pause"

    response = await client.post(url, json={"reason": " "}, headers=team[Role.reviewer].headers)
    assert response.status_code == 422
    assert error_fields(response) == {"reason"}
    response = await client.post(url, json={}, headers=team[Role.reviewer].headers)
    assert response.status_code == 422

    response = await client.post(url, json={"reason": "x"}, headers=team[Role.viewer].headers)
    assert response.status_code == 403
    response = await client.post(url, json={"reason": "x"}, headers=stranger.headers)
    assert response.status_code == 404
    resume = f"/api/v1/workspaces/{workspace_id}/resume"
    assert (await client.post(resume, headers=team[Role.viewer].headers)).status_code == 403
    assert await audit_events(database, "workspace.paused") == []


async def test_a_slug_taken_in_a_race_is_still_a_409(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests may both see a slug free; the unique index decides, and the loser
    gets the same 409 rather than a 500."""
    await add_workspace(database, slug="raced")
    alice = await add_caller(database)

    async def looks_free(*args: object, **kwargs: object) -> bool:
        return False

    monkeypatch.setattr(service, "_slug_taken", looks_free)
    response = await client.post(
        "/api/v1/workspaces", json={"name": "Raced", "slug": "raced"}, headers=alice.headers
    )
    assert response.status_code == 409
    assert error_fields(response) == {"slug"}
    assert await audit_events(database, "workspace.created") == []
