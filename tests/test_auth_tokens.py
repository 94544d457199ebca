"""API tokens: e-mail + password → token, create/list/revoke, Bearer auth, and a
revoked or expired token refused at once. A token's value is shown only once."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from app.auth.tokens import hash_secret
from app.db import Database
from app.models import ApiToken, Role, utcnow
from tests.auth_helpers import (
    HTML,
    PASSWORD,
    add_user,
    audit_events,
    client_at,
    csrf_of,
    sign_in,
)
from tests.factories import make_membership, make_workspace

TOKEN_SHAPE = re.compile(r"^alm_[0-9a-f]{8}_[A-Za-z0-9_-]{40,}$")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def issue(client: httpx.AsyncClient, email: str, **body: object) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", json={"email": email, "password": PASSWORD, **body}
    )


# -- POST /auth/token ----------------------------------------------------------------------


async def test_email_and_password_give_a_token_that_works(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await add_user(database, email="ada@example.org")
    async with database.write_session() as db:
        workspace = await make_workspace(db, name="Acme")
        await make_membership(db, workspace=workspace, user_id=user.id, role=Role.admin)
        await db.commit()

    response = await issue(client, "ADA@example.org", name="CI")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "id", "prefix", "expires_at"}
    assert TOKEN_SHAPE.match(body["token"])
    assert body["token"].startswith(body["prefix"] + "_")
    assert body["expires_at"] is None

    me = await client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": str(user.id),
        "email": "ada@example.org",
        "display_name": "Ada Lovelace",
        "memberships": [
            {"workspace_id": str(workspace.id), "workspace_name": "Acme", "role": "admin"}
        ],
    }
    # Stored hashed only.
    async with database.read_session() as db:
        row = await db.get(ApiToken, uuid.UUID(body["id"]))
    assert row is not None and row.name == "CI"
    assert row.token_hash == hash_secret(body["token"])
    (event,) = await audit_events(database, "token.created")
    assert event.actor_id == user.id and event.target_id == body["id"]
    assert body["token"] not in str(event.data)


async def test_a_token_can_expire_after_some_days(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    response = await issue(client, "ada@example.org", expires_in_days=30)
    assert response.status_code == 201
    async with database.read_session() as db:
        row = await db.get(ApiToken, uuid.UUID(response.json()["id"]))
    assert row is not None and row.expires_at is not None
    assert abs(row.expires_at - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert (await issue(client, "ada@example.org", expires_in_days=0)).status_code == 422


async def test_bad_credentials_get_401_in_the_one_error_shape(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    wrong = await client.post(
        "/api/v1/auth/token", json={"email": "ada@example.org", "password": "nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/token", json={"email": "who@example.org", "password": "nope"}
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json() == {"detail": "Wrong e-mail or password.", "errors": []}
    assert len(await audit_events(database, "sign_in.failed")) == 2


async def test_token_requests_are_throttled_like_sign_in(app: FastAPI, database: Database) -> None:
    await add_user(database, email="ada@example.org")
    async with client_at(app, "10.9.0.1") as client:
        for _ in range(3):
            bad = {"email": "ada@example.org", "password": "guess"}
            assert (await client.post("/api/v1/auth/token", json=bad)).status_code == 401
        # The page and the API share the count.
        for _ in range(2):
            assert (await sign_in(client, "ada@example.org", "guess")).status_code == 401
        response = await issue(client, "ada@example.org")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["detail"].startswith("Too many failed sign-ins")
    assert response.json()["errors"] == []


# -- /auth/tokens ------------------------------------------------------------------------


async def test_create_list_and_revoke(client: httpx.AsyncClient, database: Database) -> None:
    user = await add_user(database, email="ada@example.org")
    master = (await issue(client, "ada@example.org", name="master")).json()["token"]

    created = await client.post(
        "/api/v1/auth/tokens",
        json={"name": "Publishing script", "expires_at": "2099-01-01T00:00:00+01:00"},
        headers=bearer(master),
    )
    assert created.status_code == 201
    new = created.json()
    assert TOKEN_SHAPE.match(new["token"])
    assert new["name"] == "Publishing script"
    assert new["expires_at"].startswith("2098-12-31T23:00:00")
    assert new["revoked"] is False

    listed = await client.get("/api/v1/auth/tokens", headers=bearer(new["token"]))
    assert listed.status_code == 200
    items = listed.json()
    assert [t["name"] for t in items] == ["Publishing script", "master"]
    for item in items:
        assert set(item) == {
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked",
        }
    # Neither the value nor its hash is ever listed.
    async with database.read_session() as db:
        hashes = (await db.scalars(select(ApiToken.token_hash))).all()
    for secret in [master, new["token"], *hashes]:
        assert secret not in listed.text
    assert new["prefix"] in listed.text

    revoked = await client.delete(f"/api/v1/auth/tokens/{new['id']}", headers=bearer(master))
    assert revoked.status_code == 204
    # At once: the very next request with it is refused.
    refused = await client.get("/api/v1/auth/me", headers=bearer(new["token"]))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This API token is invalid, expired or revoked."
    after = (await client.get("/api/v1/auth/tokens", headers=bearer(master))).json()
    assert [t["revoked"] for t in after] == [True, False]
    # Revoking again is harmless.
    again = await client.delete(f"/api/v1/auth/tokens/{new['id']}", headers=bearer(master))
    assert again.status_code == 204
    (event,) = await audit_events(database, "token.revoked")
    assert event.actor_id == user.id and event.target_id == new["id"]


async def test_an_expiry_in_the_past_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    master = (await issue(client, "ada@example.org")).json()["token"]
    past = await client.post(
        "/api/v1/auth/tokens",
        json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"},
        headers=bearer(master),
    )
    assert past.status_code == 422
    assert past.json()["errors"][0]["field"] == "expires_at"
    naive = await client.post(
        "/api/v1/auth/tokens",
        json={"name": "naive", "expires_at": "2099-01-01T00:00:00"},
        headers=bearer(master),
    )
    assert naive.status_code == 422
    blank = await client.post("/api/v1/auth/tokens", json={"name": ""}, headers=bearer(master))
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "name"


async def test_someone_elses_token_is_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    await add_user(database, email="bob@example.org")
    ada = (await issue(client, "ada@example.org")).json()
    bob = (await issue(client, "bob@example.org")).json()
    response = await client.delete(f"/api/v1/auth/tokens/{ada['id']}", headers=bearer(bob["token"]))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such API token.", "errors": []}
    missing = await client.delete(
        f"/api/v1/auth/tokens/{uuid.uuid4()}", headers=bearer(bob["token"])
    )
    assert missing.status_code == 404
    assert (await client.get("/api/v1/auth/me", headers=bearer(ada["token"]))).status_code == 200
    bobs = (await client.get("/api/v1/auth/tokens", headers=bearer(bob["token"]))).json()
    assert [t["id"] for t in bobs] == [bob["id"]]


async def test_an_expired_token_stops_working(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    body = (await issue(client, "ada@example.org", expires_in_days=1)).json()
    assert (await client.get("/api/v1/auth/me", headers=bearer(body["token"]))).status_code == 200
    async with database.write_session() as db:
        await db.execute(
            update(ApiToken)
            .where(ApiToken.id == uuid.UUID(body["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    response = await client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_anonymous_and_malformed_callers_get_401(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"authorization": "Bearer"}, {"authorization": "Basic abc"}):
        response = await client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"detail", "errors"}
    garbage = await client.get("/api/v1/auth/tokens", headers=bearer("alm_00000000_nope"))
    assert garbage.status_code == 401


async def test_last_use_is_recorded(client: httpx.AsyncClient, database: Database) -> None:
    await add_user(database, email="ada@example.org")
    body = (await issue(client, "ada@example.org")).json()
    await client.get("/api/v1/auth/me", headers=bearer(body["token"]))
    listed = (await client.get("/api/v1/auth/tokens", headers=bearer(body["token"]))).json()
    assert listed[0]["last_used_at"] is not None


# -- cookie callers ------------------------------------------------------------------------


async def test_cookie_callers_need_the_csrf_token_to_create_a_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    await sign_in(client, "ada@example.org")
    assert (await client.get("/api/v1/auth/me")).status_code == 200
    refused = await client.post("/api/v1/auth/tokens", json={"name": "x"})
    assert refused.status_code == 403
    csrf = await csrf_of(client)
    created = await client.post(
        "/api/v1/auth/tokens", json={"name": "x"}, headers={"x-csrf-token": csrf}
    )
    assert created.status_code == 201


async def test_the_account_page_shows_a_new_token_once_and_revokes_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    assert (await client.get("/account", headers=HTML)).headers["location"] == (
        "/sign-in?next=/account"
    )
    await sign_in(client, "ada@example.org")
    csrf = await csrf_of(client)
    page = await client.get("/account", headers=HTML)
    assert "ada@example.org" in page.text
    assert "This browser" in page.text
    assert "No API token yet." in page.text

    refused = await client.post("/account/tokens", data={"name": "Script"}, headers=HTML)
    assert refused.status_code == 403
    created = await client.post(
        "/account/tokens",
        data={"name": "Script", "expires_in_days": "90", "csrf_token": csrf},
        headers=HTML,
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    match = re.search(r'id="new-token-value"[^>]*value="(alm_[^"]+)"', created.text)
    assert match is not None
    value = match.group(1)
    assert (await client.get("/api/v1/auth/me", headers=bearer(value))).status_code == 200

    later = await client.get("/account", headers=HTML)
    assert value not in later.text  # shown once
    async with database.read_session() as db:
        row = await db.scalar(select(ApiToken).where(ApiToken.name == "Script"))
    assert row is not None and row.prefix in later.text
    assert row.expires_at is not None

    invalid = await client.post(
        "/account/tokens", data={"name": " ", "csrf_token": csrf}, headers=HTML
    )
    assert invalid.status_code == 422
    assert "Give the token a name" in invalid.text

    revoked = await client.post(
        f"/account/tokens/{row.id}/revoke", data={"csrf_token": csrf}, headers=HTML
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == "/account"
    assert (await client.get("/api/v1/auth/me", headers=bearer(value))).status_code == 401
    assert "Revoked" in (await client.get("/account", headers=HTML)).text
