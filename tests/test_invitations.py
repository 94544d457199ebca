"""Invitations: created, listed and withdrawn over the JSON API; accepted on their page.

The page's own forms are cookie-authenticated, so the tests sign a browser in
(a real session row and its signed cookie), read the CSRF token from the page
and post it back, as a browser would.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from app.auth.sessions import SESSION_COOKIE, sign_session_token, start_session
from app.auth.tokens import hash_secret
from app.db import Database
from app.models import Invitation, Role, User, UserSession, utcnow
from app.settings import Settings
from app.users.service import hash_password
from app.workspaces import service
from tests.test_workspaces_api import (
    Caller,
    add_caller,
    add_team,
    audit_events,
    error_fields,
    role_of,
)

HTML = {"accept": "text/html,application/xhtml+xml"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def invitations_url(workspace_id: uuid.UUID) -> str:
    return f"/api/v1/workspaces/{workspace_id}/invitations"


async def invite(
    client: httpx.AsyncClient,
    workspace_id: uuid.UUID,
    by: Caller,
    email: str,
    role: str = "editor",
) -> tuple[dict, str]:
    """Create an invitation through the API; return its body and the link's path."""
    response = await client.post(
        invitations_url(workspace_id), json={"email": email, "role": role}, headers=by.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body, urlsplit(body["link"]).path


async def browser_cookie(database: Database, settings: Settings, user_id: uuid.UUID) -> dict:
    """A signed-in browser for ``user_id``: the Cookie header of a real session."""
    async with database.write_session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        token, _row = await start_session(session, user, ip="127.0.0.1", user_agent="pytest")
        await session.commit()
    return {"cookie": f"{SESSION_COOKIE}={sign_session_token(settings.secret_key, token)}", **HTML}


def csrf_token(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def state(page: httpx.Response) -> str:
    match = re.search(r'data-state="([a-z_]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


# -- create, list, revoke -------------------------------------------------------------------


async def test_an_admin_invites_and_gets_the_link_once(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin)
    admin = team[Role.admin]
    body, path = await invite(client, workspace_id, admin, " New.Person@Example.ORG ", "reviewer")

    assert body["email"] == "new.person@example.org"
    assert body["role"] == "reviewer"
    assert body["invited_by_id"] == str(admin.id)
    assert body["link"].startswith(f"{settings.base_url}/invitations/")
    token = path.removeprefix("/invitations/")
    assert len(token) >= 40
    lifetime = utcnow().fromisoformat(body["expires_at"]) - utcnow().fromisoformat(
        body["created_at"]
    )
    assert lifetime == timedelta(days=7)

    async with database.read_session() as session:
        row = await session.get(Invitation, uuid.UUID(body["id"]))
        assert row is not None
        assert row.token_hash == hash_secret(token)

    listed = await client.get(invitations_url(workspace_id), headers=admin.headers)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()] == [body["id"]]
    assert "link" not in listed.json()[0]
    assert token not in listed.text

    (event,) = await audit_events(database, "invitation.created", workspace_id)
    assert event.actor_id == admin.id
    assert event.target_id == body["id"]
    assert event.data["email"] == "new.person@example.org"
    assert event.data["role"] == "reviewer"
    assert token not in str(event.data)


async def test_invitations_are_for_admins_and_owners_invite_owners(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.owner, Role.admin, Role.editor)
    url = invitations_url(workspace_id)
    editor = team[Role.editor]
    stranger = await add_caller(database)

    payload = {"email": "x@example.org", "role": "viewer"}
    assert (await client.post(url, json=payload, headers=editor.headers)).status_code == 403
    assert (await client.get(url, headers=editor.headers)).status_code == 403
    assert (await client.post(url, json=payload, headers=stranger.headers)).status_code == 404

    owner_invite = {"email": "boss@example.org", "role": "owner"}
    response = await client.post(url, json=owner_invite, headers=team[Role.admin].headers)
    assert response.status_code == 403
    assert "Only an owner can invite an owner" in response.json()["detail"]
    response = await client.post(url, json=owner_invite, headers=team[Role.owner].headers)
    assert response.status_code == 201


async def test_an_invitation_is_validated_and_members_are_not_invited(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.admin, Role.viewer)
    admin = team[Role.admin]
    url = invitations_url(workspace_id)

    response = await client.post(
        url, json={"email": "not-an-address", "role": "editor"}, headers=admin.headers
    )
    assert response.status_code == 422
    assert error_fields(response) == {"email"}
    response = await client.post(
        url, json={"email": "a@example.org", "role": "king"}, headers=admin.headers
    )
    assert response.status_code == 422
    assert error_fields(response) == {"role"}

    member_email = team[Role.viewer].email.upper()
    response = await client.post(
        url, json={"email": member_email, "role": "editor"}, headers=admin.headers
    )
    assert response.status_code == 409
    assert "already a member" in response.json()["detail"]


async def test_inviting_again_replaces_the_earlier_link(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.admin)
    admin = team[Role.admin]
    first, first_path = await invite(client, workspace_id, admin, "again@example.org")
    second, second_path = await invite(client, workspace_id, admin, "Again@example.org", "viewer")

    listed = await client.get(invitations_url(workspace_id), headers=admin.headers)
    assert [(i["id"], i["role"]) for i in listed.json()] == [(second["id"], "viewer")]
    assert (await client.get(first_path, headers=HTML)).status_code == 410
    assert (await client.get(second_path, headers=HTML)).status_code == 200
    created = await audit_events(database, "invitation.created", workspace_id)
    assert created[1].data["replaces"] == [first["id"]]


async def test_an_admin_withdraws_an_invitation(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.admin)
    other_workspace, others = await add_team(database, Role.admin)
    admin = team[Role.admin]
    body, path = await invite(client, workspace_id, admin, "late@example.org")
    url = f"{invitations_url(workspace_id)}/{body['id']}"

    # Another workspace's admin cannot see or withdraw it: 404.
    foreign = f"{invitations_url(other_workspace)}/{body['id']}"
    assert (await client.delete(foreign, headers=others[Role.admin].headers)).status_code == 404

    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await client.get(invitations_url(workspace_id), headers=admin.headers)).json() == []
    # Withdrawing twice is harmless and writes one event.
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    (event,) = await audit_events(database, "invitation.revoked", workspace_id)
    assert event.actor_id == admin.id
    assert event.target_id == body["id"]

    page = await client.get(path, headers=HTML)
    assert page.status_code == 410
    assert "was withdrawn" in page.text
    missing = f"{invitations_url(workspace_id)}/{uuid.uuid4()}"
    assert (await client.delete(missing, headers=admin.headers)).status_code == 404


# -- accepting --------------------------------------------------------------------------------


async def test_a_signed_in_user_with_the_invited_address_joins(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    workspace_id, team = await add_team(database, Role.admin, name="Acme News")
    bob = await add_caller(database, email="bob@example.org")
    _, path = await invite(client, workspace_id, team[Role.admin], "Bob@Example.org", "reviewer")
    browser = await browser_cookie(database, settings, bob.id)

    page = await client.get(path, headers=browser)
    assert page.status_code == 200
    assert state(page) == "accept"
    assert "Acme News" in page.text
    assert "reviewer" in page.text
    assert page.headers["cache-control"] == "no-store"

    # Without the page's CSRF token, the post is refused.
    refused = await client.post(path, headers=browser)
    assert refused.status_code == 403
    assert await role_of(database, workspace_id, bob.id) is None

    accepted = await client.post(path, data={"csrf_token": csrf_token(page)}, headers=browser)
    assert accepted.status_code == 303
    assert accepted.headers["location"] == path
    assert await role_of(database, workspace_id, bob.id) == Role.reviewer

    joined = await client.get(path, headers=browser)
    assert joined.status_code == 200
    assert state(joined) == "joined"
    # For anyone else the link is used up.
    assert (await client.get(path, headers=HTML)).status_code == 410

    (event,) = await audit_events(database, "invitation.accepted", workspace_id)
    assert event.actor_id == bob.id
    assert event.data == {"email": "bob@example.org", "role": "reviewer", "new_account": False}


async def test_a_signed_in_user_with_another_address_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    workspace_id, team = await add_team(database, Role.admin)
    mallory = await add_caller(database, email="mallory@example.org")
    _, path = await invite(client, workspace_id, team[Role.admin], "bob@example.org")
    browser = await browser_cookie(database, settings, mallory.id)

    page = await client.get(path, headers=browser)
    assert page.status_code == 200
    assert state(page) == "wrong_account"
    assert "This invitation is for bob@example.org, but you are signed in as" in page.text

    response = await client.post(path, data={"csrf_token": csrf_token(page)}, headers=browser)
    assert response.status_code == 403
    assert "mallory@example.org" in response.text
    assert await role_of(database, workspace_id, mallory.id) is None
    assert await audit_events(database, "invitation.accepted") == []
    # The link still works for Bob.
    assert (await client.get(path, headers=HTML)).status_code == 200


async def test_a_member_accepting_again_gets_409(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    workspace_id, team = await add_team(database, Role.admin)
    _, path = await invite(client, workspace_id, team[Role.admin], "carol@example.org")
    carol = await add_caller(
        database, workspace_id=workspace_id, role=Role.viewer, email="carol@example.org"
    )
    browser = await browser_cookie(database, settings, carol.id)

    page = await client.get(path, headers=browser)
    assert state(page) == "member"
    response = await client.post(path, data={"csrf_token": csrf_token(page)}, headers=browser)
    assert response.status_code == 409
    assert "already a member" in response.text
    assert await role_of(database, workspace_id, carol.id) == Role.viewer


async def test_a_new_person_creates_an_account_joins_and_is_signed_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.admin, name="Acme News")
    _, path = await invite(client, workspace_id, team[Role.admin], "dana@example.org", "editor")

    page = await client.get(path, headers=HTML)
    assert page.status_code == 200
    assert state(page) == "sign_up"
    assert f'action="{path}/sign-up"' in page.text

    mismatch = await client.post(
        f"{path}/sign-up",
        data={"display_name": "Dana", "password": "long enough 1", "password_confirm": "other"},
        headers=HTML,
    )
    assert mismatch.status_code == 422
    assert "not the same" in mismatch.text
    assert 'value="Dana"' in mismatch.text

    short = await client.post(
        f"{path}/sign-up",
        data={"display_name": "Dana", "password": "short", "password_confirm": "short"},
        headers=HTML,
    )
    assert short.status_code == 422
    assert "too short" in short.text
    assert 'aria-invalid="true"' in short.text

    nameless = await client.post(
        f"{path}/sign-up",
        data={
            "display_name": " ",
            "password": "long enough 1",
            "password_confirm": "long enough 1",
        },
        headers=HTML,
    )
    assert nameless.status_code == 422
    async with database.read_session() as session:
        assert await session.scalar(select(User).where(User.email == "dana@example.org")) is None

    done = await client.post(
        f"{path}/sign-up",
        data={
            "display_name": "Dana Scully",
            "password": "long enough 1",
            "password_confirm": "long enough 1",
        },
        headers=HTML,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == path
    cookie = done.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # the base URL is http here

    async with database.read_session() as session:
        dana = await session.scalar(select(User).where(User.email == "dana@example.org"))
        assert dana is not None
        assert dana.display_name == "Dana Scully"
        assert dana.password_hash and dana.password_hash.startswith("$argon2")
        sessions = (
            await session.scalars(select(UserSession).where(UserSession.user_id == dana.id))
        ).all()
        assert len(sessions) == 1
    assert await role_of(database, workspace_id, dana.id) == Role.editor
    (event,) = await audit_events(database, "invitation.accepted", workspace_id)
    assert event.actor_id == dana.id
    assert event.data["new_account"] is True

    # The client kept the cookie: the browser is now Dana's.
    joined = await client.get(path, headers=HTML)
    assert state(joined) == "joined"
    listed = await client.get("/api/v1/workspaces")
    assert [(w["name"], w["role"]) for w in listed.json()] == [("Acme News", "editor")]


async def test_someone_with_an_account_is_sent_to_sign_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    workspace_id, team = await add_team(database, Role.admin)
    async with database.write_session() as session:
        session.add(
            User(
                email="erin@example.org",
                display_name="Erin",
                password_hash=hash_password("long enough 1"),
            )
        )
        await session.commit()
    _, path = await invite(client, workspace_id, team[Role.admin], "erin@example.org")

    page = await client.get(path, headers=HTML)
    assert state(page) == "sign_in"
    assert f'href="/sign-in?next={path}"' in page.text
    assert "sign-up" not in page.text

    # Creating a second account for the address is refused.
    response = await client.post(
        f"{path}/sign-up",
        data={
            "display_name": "Eve",
            "password": "long enough 1",
            "password_confirm": "long enough 1",
        },
        headers=HTML,
    )
    assert response.status_code == 409
    assert "already exists" in response.text

    # Posting to accept without being signed in leads to sign-in, then back here.
    response = await client.post(path, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == f"/sign-in?next={path}"


async def test_a_used_link_is_gone(client: httpx.AsyncClient, database: Database) -> None:
    workspace_id, team = await add_team(database, Role.admin)
    _, path = await invite(client, workspace_id, team[Role.admin], "frank@example.org")
    form = {
        "display_name": "Frank",
        "password": "long enough 1",
        "password_confirm": "long enough 1",
    }
    first = await client.post(f"{path}/sign-up", data=form, headers=HTML)
    assert first.status_code == 303
    client.cookies.clear()

    page = await client.get(path, headers=HTML)
    assert page.status_code == 410
    assert state(page) == "gone"
    assert "has already been used" in page.text
    again = await client.post(f"{path}/sign-up", data=form, headers=HTML)
    assert again.status_code == 410
    assert len(await audit_events(database, "invitation.accepted")) == 1


async def test_an_expired_link_is_gone(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    workspace_id, team = await add_team(database, Role.admin, name="Acme")
    body, path = await invite(client, workspace_id, team[Role.admin], "gina@example.org")
    gina = await add_caller(database, email="gina@example.org")
    async with database.write_session() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == uuid.UUID(body["id"]))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()

    page = await client.get(path, headers=HTML)
    assert page.status_code == 410
    assert "This invitation to Acme expired on" in page.text

    browser = await browser_cookie(database, settings, gina.id)
    signed_in_page = await client.get(path, headers=browser)
    assert signed_in_page.status_code == 410
    response = await client.post(
        path, data={"csrf_token": csrf_token(signed_in_page)}, headers=browser
    )
    assert response.status_code == 410
    assert await role_of(database, workspace_id, gina.id) is None
    # Expired invitations are not pending any more.
    listed = await client.get(invitations_url(workspace_id), headers=team[Role.admin].headers)
    assert listed.json() == []


async def test_an_unknown_link_is_404(client: httpx.AsyncClient) -> None:
    page = await client.get("/invitations/not-a-real-token", headers=HTML)
    assert page.status_code == 404
    assert state(page) == "not_found"
    response = await client.post("/invitations/not-a-real-token/sign-up", headers=HTML)
    assert response.status_code == 404


async def test_a_refusal_after_the_account_was_made_leaves_no_account(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. an admin withdraws the link while the form is being sent: the account made
    on the way is rolled back with the rest, and the page says what happened."""
    workspace_id, team = await add_team(database, Role.admin)
    _, path = await invite(client, workspace_id, team[Role.admin], "hank@example.org")

    async def withdrawn_meanwhile(*args: object, **kwargs: object) -> None:
        raise service.Gone("This invitation has just been used or withdrawn.")

    monkeypatch.setattr(service, "accept_invitation", withdrawn_meanwhile)
    form = {
        "display_name": "Hank",
        "password": "long enough 1",
        "password_confirm": "long enough 1",
    }
    response = await client.post(f"{path}/sign-up", data=form, headers=HTML)
    assert response.status_code == 410
    assert "just been used or withdrawn" in response.text
    assert "set-cookie" not in response.headers
    async with database.read_session() as session:
        assert await session.scalar(select(User).where(User.email == "hank@example.org")) is None
