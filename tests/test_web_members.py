"""The members part of the settings page over HTTP: admins and owners get role
selects, remove / leave buttons, the invite form and the pending invitations (never
their links); everyone else reads the members only. Writes go through the JSON API
(tested in test_members_api.py and test_invitations.py)."""

from __future__ import annotations

import re
import uuid

import httpx

from app.db import Database
from app.models import Role
from tests.test_workspaces_api import Caller, add_caller, add_team

HTML = {"accept": "text/html"}


async def settings_page(
    client: httpx.AsyncClient, workspace_id: uuid.UUID, caller: Caller
) -> httpx.Response:
    response = await client.get(f"/w/{workspace_id}/settings", headers={**caller.headers, **HTML})
    assert response.status_code == 200, response.text
    return response


async def invite(
    client: httpx.AsyncClient, workspace_id: uuid.UUID, caller: Caller, email: str, role: str
) -> dict:
    created = await client.post(
        f"/api/v1/workspaces/{workspace_id}/invitations",
        json={"email": email, "role": role},
        headers=caller.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()


def role_options(html: str, user_id: uuid.UUID) -> list[str]:
    found = re.search(rf'<select id="role-{user_id}"[^>]*>(.*?)</select>', html, re.S)
    assert found is not None, f"no role select for {user_id}"
    return re.findall(r'<option value="(\w+)"', found.group(1))


async def test_an_admin_manages_members_and_sees_pending_invitations(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(
        database, Role.owner, Role.admin, Role.editor, timezone="Europe/Paris"
    )
    owner, admin, editor = team[Role.owner], team[Role.admin], team[Role.editor]
    created = await invite(client, workspace_id, owner, "new.person@example.org", "reviewer")

    html = (await settings_page(client, workspace_id, admin)).text
    assert "through the API" not in html
    # The invite form, its fields labelled; admins may not invite owners.
    assert "Invite someone" in html and 'data-invite data-url="' in html
    assert '<label for="invite-email">E-mail address</label>' in html
    assert '<label for="invite-role">Role</label>' in html
    invite_form = re.search(r'<select id="invite-role" name="role">(.*?)</select>', html, re.S)
    assert invite_form is not None
    assert re.findall(r'<option value="(\w+)"', invite_form.group(1)) == [
        "admin",
        "editor",
        "reviewer",
        "viewer",
    ]
    # Role selects for the members an admin may change; an owner's role is only read.
    assert role_options(html, editor.id) == ["admin", "editor", "reviewer", "viewer"]
    assert f'aria-label="Role of {editor.display_name}"' in html
    assert f'id="role-{owner.id}"' not in html
    assert f'Remove<span class="visually-hidden"> {editor.email}</span>' in html
    assert f'Remove<span class="visually-hidden"> {owner.email}</span>' not in html
    # The viewer's own row offers leaving instead of removing.
    own_row = re.search(rf'<tr data-member="{admin.id}".*?</tr>', html, re.S)
    assert own_row is not None
    assert "Leave workspace" in own_row.group(0) and "Remove" not in own_row.group(0)
    assert html.count("Leave workspace") == 1
    assert 'role="alert" data-member-error' in html and 'role="status" data-member-saved' in html

    # The pending invitation: e-mail, role, expiry in the workspace's zone, inviter.
    row = re.search(rf'<tr data-invitation="{created["id"]}".*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert cells[0] == "new.person@example.org"
    assert cells[1] == "Reviewer"
    assert re.fullmatch(r"\w{3} \d{1,2} \w{3} \d{4}, \d{2}:\d{2}", cells[2]), cells[2]
    assert cells[3] == owner.display_name
    assert "Withdraw" in row.group(0)
    assert "Expires (Europe/Paris)" in html


async def test_an_owner_may_give_and_touch_the_owner_role(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin)
    owner, admin = team[Role.owner], team[Role.admin]
    html = (await settings_page(client, workspace_id, owner)).text
    everything = ["owner", "admin", "editor", "reviewer", "viewer"]
    assert role_options(html, admin.id) == everything
    assert role_options(html, owner.id) == everything  # demoting oneself: the API says no
    assert f'Remove<span class="visually-hidden"> {admin.email}</span>' in html
    assert "No invitation is waiting to be accepted." in html


async def test_pending_invitations_never_show_their_link(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner)
    owner = team[Role.owner]
    links = [
        (await invite(client, workspace_id, owner, f"p{n}@example.org", "editor"))["link"]
        for n in range(2)
    ]
    html = (await settings_page(client, workspace_id, owner)).text
    assert "p0@example.org" in html and "p1@example.org" in html
    for link in links:
        token = link.rsplit("/", 1)[1]
        assert token not in html and link not in html
    assert "/invitations/" not in html.replace(f"/api/v1/workspaces/{workspace_id}/invitations", "")


async def test_an_inviter_who_left_is_still_named(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin)
    owner, admin = team[Role.owner], team[Role.admin]
    await invite(client, workspace_id, admin, "later@example.org", "viewer")
    left = await client.delete(
        f"/api/v1/workspaces/{workspace_id}/members/{admin.id}", headers=admin.headers
    )
    assert left.status_code == 204
    html = (await settings_page(client, workspace_id, owner)).text
    row = re.search(
        r'<tr data-invitation="[^"]+" data-email="later@example.org".*?</tr>', html, re.S
    )
    assert row is not None and admin.display_name in row.group(0)


async def test_reviewers_and_editors_read_the_members_only(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.editor, Role.reviewer)
    owner = team[Role.owner]
    await invite(client, workspace_id, owner, "secret.guest@example.org", "editor")
    for role in (Role.reviewer, Role.editor):
        html = (await settings_page(client, workspace_id, team[role])).text
        for member in team.values():
            assert member.display_name in html and member.email in html
        assert "data-invite" not in html and "Invite someone" not in html
        assert '<select id="role-' not in html and "data-member-role" not in html
        assert "Remove" not in html and "Leave workspace" not in html
        assert "Pending invitations" not in html and "secret.guest@example.org" not in html
        assert "through the API" not in html


async def test_a_stranger_gets_no_settings_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, _ = await add_team(database, Role.owner)
    stranger = await add_caller(database)
    response = await client.get(f"/w/{workspace_id}/settings", headers={**stranger.headers, **HTML})
    assert response.status_code == 404
