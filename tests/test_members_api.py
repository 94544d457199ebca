"""Members over the JSON API: listing, role changes, removal and leaving.

Rules under test: only an owner makes someone owner or changes or removes an
owner; the last owner can be neither demoted nor removed (nor leave); a person
who is not a member answers 404; every change is an audit event.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx

from app.db import Database
from app.models import Role
from tests.test_workspaces_api import add_caller, add_team, audit_events, role_of


def members_url(workspace_id: uuid.UUID, user_id: uuid.UUID | None = None) -> str:
    url = f"/api/v1/workspaces/{workspace_id}/members"
    return f"{url}/{user_id}" if user_id else url


# -- listing ---------------------------------------------------------------------------


async def test_every_member_sees_the_members_owners_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(
        database, Role.viewer, Role.editor, Role.owner, Role.reviewer, Role.admin
    )
    stranger = await add_caller(database)

    response = await client.get(members_url(workspace_id), headers=team[Role.viewer].headers)
    assert response.status_code == 200
    body = response.json()
    assert [m["role"] for m in body] == ["owner", "admin", "editor", "reviewer", "viewer"]
    owner = team[Role.owner]
    assert body[0]["user_id"] == str(owner.id)
    assert body[0]["email"] == owner.email
    assert body[0]["display_name"] == owner.display_name
    assert body[0]["joined_at"]

    assert (
        await client.get(members_url(workspace_id), headers=stranger.headers)
    ).status_code == 404
    assert (await client.get(members_url(workspace_id))).status_code == 401


# -- role changes -------------------------------------------------------------------------


async def test_an_admin_changes_a_role_and_it_is_audited(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin, Role.editor)
    admin, editor = team[Role.admin], team[Role.editor]

    response = await client.patch(
        members_url(workspace_id, editor.id), json={"role": "reviewer"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "reviewer"
    assert await role_of(database, workspace_id, editor.id) == Role.reviewer

    (event,) = await audit_events(database, "member.role_changed", workspace_id)
    assert event.actor_id == admin.id
    assert event.target_type == "user"
    assert event.target_id == str(editor.id)
    assert event.data == {"email": editor.email, "from": "editor", "to": "reviewer"}

    # The same role again is no change and no event.
    response = await client.patch(
        members_url(workspace_id, editor.id), json={"role": "reviewer"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert len(await audit_events(database, "member.role_changed", workspace_id)) == 1


async def test_editors_cannot_manage_members(client: httpx.AsyncClient, database: Database) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.editor, Role.viewer)
    editor, viewer = team[Role.editor], team[Role.viewer]
    response = await client.patch(
        members_url(workspace_id, viewer.id), json={"role": "admin"}, headers=editor.headers
    )
    assert response.status_code == 403
    response = await client.delete(members_url(workspace_id, viewer.id), headers=editor.headers)
    assert response.status_code == 403
    assert await role_of(database, workspace_id, viewer.id) == Role.viewer


async def test_admins_cannot_touch_owners(client: httpx.AsyncClient, database: Database) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin, Role.editor)
    owner, admin, editor = team[Role.owner], team[Role.admin], team[Role.editor]

    promote = await client.patch(
        members_url(workspace_id, editor.id), json={"role": "owner"}, headers=admin.headers
    )
    assert promote.status_code == 403
    assert promote.json()["detail"].startswith("Only an owner can make someone an owner")

    demote = await client.patch(
        members_url(workspace_id, owner.id), json={"role": "admin"}, headers=admin.headers
    )
    assert demote.status_code == 403
    assert "Only an owner can change an owner's role" in demote.json()["detail"]

    remove = await client.delete(members_url(workspace_id, owner.id), headers=admin.headers)
    assert remove.status_code == 403
    assert "Only an owner can remove an owner" in remove.json()["detail"]

    assert await role_of(database, workspace_id, owner.id) == Role.owner
    assert await role_of(database, workspace_id, editor.id) == Role.editor
    assert await audit_events(database, "member.role_changed") == []
    assert await audit_events(database, "member.removed") == []


async def test_an_owner_makes_owners_and_the_last_owner_stays(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin)
    owner, admin = team[Role.owner], team[Role.admin]

    # Alone, the owner can neither step down nor leave.
    response = await client.patch(
        members_url(workspace_id, owner.id), json={"role": "admin"}, headers=owner.headers
    )
    assert response.status_code == 409
    assert "last owner" in response.json()["detail"]
    response = await client.delete(members_url(workspace_id, owner.id), headers=owner.headers)
    assert response.status_code == 409
    assert "You are the last owner" in response.json()["detail"]

    # With a second owner, the first may step down, and then the second is the last.
    response = await client.patch(
        members_url(workspace_id, admin.id), json={"role": "owner"}, headers=owner.headers
    )
    assert response.status_code == 200
    response = await client.patch(
        members_url(workspace_id, owner.id), json={"role": "editor"}, headers=owner.headers
    )
    assert response.status_code == 200
    assert await role_of(database, workspace_id, owner.id) == Role.editor
    response = await client.patch(
        members_url(workspace_id, admin.id), json={"role": "admin"}, headers=admin.headers
    )
    assert response.status_code == 409

    changes = await audit_events(database, "member.role_changed", workspace_id)
    assert [(e.data["from"], e.data["to"]) for e in changes] == [
        ("admin", "owner"),
        ("owner", "editor"),
    ]


async def test_an_owner_removes_another_owner(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner)
    first = team[Role.owner]
    second = await add_caller(database, workspace_id=workspace_id, role=Role.owner)
    response = await client.delete(members_url(workspace_id, second.id), headers=first.headers)
    assert response.status_code == 204
    assert await role_of(database, workspace_id, second.id) is None


async def test_a_role_change_is_validated(client: httpx.AsyncClient, database: Database) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.editor)
    response = await client.patch(
        members_url(workspace_id, team[Role.editor].id),
        json={"role": "superuser"},
        headers=team[Role.owner].headers,
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["role"]


async def test_someone_who_is_not_a_member_answers_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner)
    other_workspace, others = await add_team(database, Role.editor)
    owner, outsider = team[Role.owner], others[Role.editor]
    for target in (outsider.id, uuid.uuid4()):
        response = await client.patch(
            members_url(workspace_id, target), json={"role": "viewer"}, headers=owner.headers
        )
        assert response.status_code == 404
        assert response.json()["detail"] == "This person is not a member of this workspace."
        response = await client.delete(members_url(workspace_id, target), headers=owner.headers)
        assert response.status_code == 404
    # And a member of another workspace cannot reach this one's members at all.
    response = await client.delete(members_url(workspace_id, owner.id), headers=outsider.headers)
    assert response.status_code == 404
    assert await role_of(database, other_workspace, outsider.id) == Role.editor


# -- removing and leaving -------------------------------------------------------------------


async def test_an_admin_removes_a_member_and_it_is_audited(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin, Role.editor)
    admin, editor = team[Role.admin], team[Role.editor]
    response = await client.delete(members_url(workspace_id, editor.id), headers=admin.headers)
    assert response.status_code == 204
    assert await role_of(database, workspace_id, editor.id) is None
    # The removed member no longer reaches the workspace.
    response = await client.get(f"/api/v1/workspaces/{workspace_id}", headers=editor.headers)
    assert response.status_code == 404

    (event,) = await audit_events(database, "member.removed", workspace_id)
    assert event.actor_id == admin.id
    assert event.target_id == str(editor.id)
    assert event.data == {"email": editor.email, "role": "editor", "left": False}


async def test_any_member_may_leave(client: httpx.AsyncClient, database: Database) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.viewer, Role.reviewer)
    viewer, reviewer = team[Role.viewer], team[Role.reviewer]

    # A viewer may not remove someone else…
    response = await client.delete(members_url(workspace_id, reviewer.id), headers=viewer.headers)
    assert response.status_code == 403
    # …but may remove themselves.
    response = await client.delete(members_url(workspace_id, viewer.id), headers=viewer.headers)
    assert response.status_code == 204
    assert await role_of(database, workspace_id, viewer.id) is None

    (event,) = await audit_events(database, "member.removed", workspace_id)
    assert event.actor_id == viewer.id
    assert event.data == {"email": viewer.email, "role": "viewer", "left": True}

    # Gone means gone: leaving again is a 404, like any other non-member.
    response = await client.delete(members_url(workspace_id, viewer.id), headers=viewer.headers)
    assert response.status_code == 404


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner)
    first = team[Role.owner]
    second = await add_caller(database, workspace_id=workspace_id, role=Role.owner)
    responses = await asyncio.gather(
        client.patch(
            members_url(workspace_id, second.id), json={"role": "admin"}, headers=first.headers
        ),
        client.patch(
            members_url(workspace_id, first.id), json={"role": "admin"}, headers=second.headers
        ),
    )
    assert sorted(r.status_code for r in responses) == [200, 403]
    roles = {
        await role_of(database, workspace_id, first.id),
        await role_of(database, workspace_id, second.id),
    }
    assert roles == {Role.owner, Role.admin}
