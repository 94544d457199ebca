"""Channels over the API: CRUD, pause/resume, verify with the sandbox, who may do what."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.tokens import hash_secret, new_api_token
from app.channels import service as channel_service
from app.crypto import CredentialBox
from app.db import Database, session_scope
from app.models import ApiToken, AuditEvent, Channel, Role, utcnow
from app.net.outbound import close_shared_client
from app.networks.base import AccountInfo, Network, PermanentError
from app.networks.sandbox import SANDBOX_LIMITS
from tests.factories import make_channel, make_delivery, make_membership, make_user, make_variant
from tests.factories import make_workspace as make_workspace_row


@dataclass
class Team:
    """A workspace with one API-token-holding member per role."""

    workspace_id: uuid.UUID
    headers: dict[Role, dict[str, str]] = field(default_factory=dict)
    user_ids: dict[Role, uuid.UUID] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}/channels"

    @property
    def owner(self) -> dict[str, str]:
        return self.headers[Role.owner]


async def token_for(database: Database, user_id: uuid.UUID) -> dict[str, str]:
    token, prefix = new_api_token()
    async with session_scope(database.write_session) as session:
        session.add(
            ApiToken(
                user_id=user_id,
                name="test",
                prefix=prefix,
                token_hash=hash_secret(token),
                # Used just now: no last-use write on the first request. (Such a write,
                # from its own session while a POST's write transaction is open, is
                # refused on SQLite: "database is locked". Reported to the lead.)
                last_used_at=utcnow(),
            )
        )
    return {"Authorization": f"Bearer {token}"}


async def make_team(database: Database, roles: tuple[Role, ...] = tuple(Role)) -> Team:
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace_row(session)
        team = Team(workspace_id=workspace.id)
        for role in roles:
            user = await make_user(session)
            await make_membership(session, workspace_id=workspace.id, user_id=user.id, role=role)
            team.user_ids[role] = user.id
    for role, user_id in team.user_ids.items():
        team.headers[role] = await token_for(database, user_id)
    return team


async def create(
    client: httpx.AsyncClient, team: Team, *, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    payload = {"network": "sandbox", "name": "Sandbox", "credentials": {"handle": "x"}, **body}
    return await client.post(team.url, json=payload, headers=headers or team.owner)


async def audit_events(database: Database, channel_id: str) -> list[AuditEvent]:
    async with database.read_session() as session:
        query = (
            select(AuditEvent)
            .where(AuditEvent.target_id == channel_id)
            .order_by(AuditEvent.created_at)
        )
        return list((await session.scalars(query)).all())


@pytest.fixture(autouse=True)
async def _close_http(app: FastAPI) -> AsyncIterator[None]:
    yield
    await close_shared_client(app)


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database)


# -- CRUD ------------------------------------------------------------------------------


async def test_create_read_list_update_delete(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    created = await create(
        client, team, name="  Outbox  ", credentials={"handle": "x", "token": "abc"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Outbox"
    assert body["network"] == "sandbox"
    assert body["status"] == "connected"
    assert body["paused"] is False
    assert body["credentials_set"] == ["handle", "token"]
    assert body["credentials_readable"] is True
    assert "credentials" not in body and "credentials_encrypted" not in body
    channel_id = body["id"]
    item = f"{team.url}/{channel_id}"

    listed = await client.get(team.url, headers=team.owner)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [channel_id]

    read = await client.get(item, headers=team.headers[Role.viewer])
    assert read.status_code == 200
    assert read.json() == body

    renamed = await client.patch(item, json={"name": "Renamed"}, headers=team.owner)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["credentials_set"] == ["handle", "token"]

    replaced = await client.patch(
        item, json={"credentials": {"handle": "y", "password": "pw"}}, headers=team.owner
    )
    assert replaced.status_code == 200
    assert replaced.json()["credentials_set"] == ["handle", "password"]
    assert replaced.json()["name"] == "Renamed"

    async with database.read_session() as session:
        row = await session.get(Channel, uuid.UUID(channel_id))
        assert row is not None and row.credentials_encrypted is not None
        stored = CredentialBox(client_settings(client).encryption_keys).open(
            row.credentials_encrypted
        )
    # New credentials replace the old ones entirely.
    assert stored == {"handle": "y", "password": "pw"}

    deleted = await client.delete(item, headers=team.headers[Role.admin])
    assert deleted.status_code == 204
    assert (await client.get(item, headers=team.owner)).status_code == 404

    events = await audit_events(database, channel_id)
    assert [e.action for e in events] == [
        "channel.created",
        "channel.renamed",
        "channel.credentials_changed",
        "channel.deleted",
    ]
    created_event, renamed_event, changed_event, deleted_event = events
    assert created_event.actor_id == team.user_ids[Role.owner]
    assert created_event.workspace_id == team.workspace_id
    assert created_event.data == {
        "network": "sandbox",
        "name": "Outbox",
        "credentials_set": ["handle", "token"],
    }
    assert renamed_event.data == {"from": "Outbox", "to": "Renamed"}
    # The field names, never the values.
    assert changed_event.data == {"credentials_set": ["handle", "password"]}
    assert deleted_event.actor_id == team.user_ids[Role.admin]
    assert deleted_event.ip is not None


def client_settings(client: httpx.AsyncClient) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.settings  # type: ignore[attr-defined]


async def test_a_patch_cannot_change_the_network(client: httpx.AsyncClient, team: Team) -> None:
    channel_id = (await create(client, team)).json()["id"]
    response = await client.patch(
        f"{team.url}/{channel_id}", json={"network": "mastodon"}, headers=team.owner
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "network"


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"network": "myspace"}, "network"),
        ({"name": "   "}, "name"),
        ({"credentials": ["not", "an", "object"]}, "credentials"),
        ({"credentials_encrypted": "x"}, "credentials_encrypted"),
    ],
)
async def test_invalid_bodies_name_the_field(
    client: httpx.AsyncClient, team: Team, body: dict[str, Any], field_name: str
) -> None:
    response = await create(client, team, **body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["detail"] == "Some fields are not valid."
    assert [e["field"] for e in payload["errors"]] == [field_name]


# -- pause / resume ----------------------------------------------------------------------


async def test_pause_and_resume(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    channel_id = (await create(client, team)).json()["id"]
    item = f"{team.url}/{channel_id}"

    paused = await client.post(
        f"{item}/pause", json={"reason": "Crisis: hold everything"}, headers=team.owner
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    assert paused.json()["paused_reason"] == "Crisis: hold everything"
    # Pausing a paused channel changes nothing but the reason, and is not a new event.
    again = await client.post(f"{item}/pause", headers=team.owner)
    assert again.status_code == 200
    assert again.json()["paused_reason"] == "Crisis: hold everything"

    resumed = await client.post(f"{item}/resume", headers=team.headers[Role.admin])
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is False
    assert resumed.json()["paused_reason"] is None
    assert (await client.post(f"{item}/resume", headers=team.owner)).status_code == 200

    events = [e for e in await audit_events(database, channel_id) if e.action != "channel.created"]
    assert [(e.action, e.data) for e in events] == [
        ("channel.paused", {"reason": "Crisis: hold everything"}),
        (
            "channel.resumed",
            {
                # The resume keeps why, since when and by whom it was paused.
                "reason": "Crisis: hold everything",
                "paused_at": events[1].data["paused_at"],
                "paused_by_id": str(team.user_ids[Role.owner]),
                "overdue": 0,
            },
        ),
    ]
    assert events[0].actor_id == team.user_ids[Role.owner]
    assert events[1].actor_id == team.user_ids[Role.admin]
    assert all(e.created_at is not None and e.ip for e in events)


# -- verify ------------------------------------------------------------------------------


async def test_verify_with_the_sandbox(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    channel_id = (await create(client, team, credentials={"handle": "x"})).json()["id"]
    response = await client.post(f"{team.url}/{channel_id}/verify", headers=team.owner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "connected"
    assert body["status_message"] is None
    assert body["account_handle"] == "x"
    assert body["limits"] == SANDBOX_LIMITS
    assert body["verified_at"] is not None
    events = await audit_events(database, channel_id)
    assert events[-1].action == "channel.verified"
    assert events[-1].data == {"status": "connected", "account_handle": "x"}


async def test_verify_expired_credentials(client: httpx.AsyncClient, team: Team) -> None:
    channel_id = (await create(client, team, credentials={"simulate": "expired"})).json()["id"]
    response = await client.post(f"{team.url}/{channel_id}/verify", headers=team.owner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "expired"
    assert "expired" in body["status_message"]
    assert body["verified_at"] is None


async def test_verify_a_network_that_is_not_available_yet(
    client: httpx.AsyncClient, team: Team
) -> None:
    created = await create(
        client, team, network="tiktok", credentials={"access_token": "t0k3n-tiktok"}
    )
    assert created.status_code == 201
    channel_id = created.json()["id"]
    response = await client.post(f"{team.url}/{channel_id}/verify", headers=team.owner)
    assert response.status_code == 422
    payload = response.json()
    assert "Publishing to tiktok is not available yet" in payload["detail"]
    assert payload["errors"] == [
        {
            "field": "network",
            "network": "tiktok",
            "message": "publishing to tiktok is not available yet",
        }
    ]
    # The channel stays saved.
    kept = await client.get(f"{team.url}/{channel_id}", headers=team.owner)
    assert kept.status_code == 200
    assert kept.json()["credentials_set"] == ["access_token"]


class _RefusingAdapter:
    network = Network.sandbox

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        # Some platforms quote the token they refused: it must not be stored.
        raise PermanentError(f"invalid token {credentials['token']} for this account")


async def test_verify_error_is_recorded_without_the_credentials(
    client: httpx.AsyncClient, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel_id = (await create(client, team, credentials={"token": "s3cret-t0ken"})).json()["id"]
    monkeypatch.setattr(channel_service, "get_adapter", lambda network, ctx: _RefusingAdapter())
    response = await client.post(f"{team.url}/{channel_id}/verify", headers=team.owner)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "error"
    assert body["status_message"] == "invalid token [redacted] for this account"
    assert "s3cret-t0ken" not in response.text


async def test_credentials_no_key_opens(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other_key = Fernet.generate_key().decode()
    async with session_scope(database.write_session) as session:
        channel = await make_channel(
            session,
            workspace_id=team.workspace_id,
            credentials_encrypted=CredentialBox([other_key]).seal({"token": "lost"}),
        )
    item = f"{team.url}/{channel.id}"
    read = await client.get(item, headers=team.owner)
    assert read.status_code == 200
    assert read.json()["credentials_set"] == []
    assert read.json()["credentials_readable"] is False
    verified = await client.post(f"{item}/verify", headers=team.owner)
    assert verified.status_code == 200
    assert verified.json()["status"] == "error"
    assert "enter them again" in verified.json()["status_message"]


# -- delete with history -----------------------------------------------------------------


async def test_a_channel_with_deliveries_cannot_be_deleted(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        channel = await make_channel(session, workspace_id=team.workspace_id)
        variant = await make_variant(session, channel=channel)
        await make_delivery(session, variant=variant)
    item = f"{team.url}/{channel.id}"
    response = await client.delete(item, headers=team.owner)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "cannot be deleted" in detail and "pause it instead" in detail
    assert (await client.get(item, headers=team.owner)).status_code == 200
    assert [e.action for e in await audit_events(database, str(channel.id))] == []


# -- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.editor, Role.reviewer, Role.viewer])
async def test_only_admins_and_owners_manage_channels(
    client: httpx.AsyncClient, team: Team, role: Role
) -> None:
    headers = team.headers[role]
    channel_id = (await create(client, team)).json()["id"]
    item = f"{team.url}/{channel_id}"

    assert (await client.get(team.url, headers=headers)).status_code == 200
    assert (await client.get(item, headers=headers)).status_code == 200
    refused = await create(client, team, headers=headers)
    assert refused.status_code == 403
    assert f"Your role ({role.value})" in refused.json()["detail"]
    for method, url, body in [
        ("PATCH", item, {"name": "mine"}),
        ("DELETE", item, None),
        ("POST", f"{item}/pause", None),
        ("POST", f"{item}/resume", None),
        ("POST", f"{item}/verify", None),
    ]:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, (method, url)


async def test_admin_may_create(client: httpx.AsyncClient, team: Team) -> None:
    response = await create(client, team, headers=team.headers[Role.admin])
    assert response.status_code == 201


async def test_anonymous_callers_are_refused(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.get(team.url)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_non_members_get_404(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    channel_id = (await create(client, team)).json()["id"]
    outsider = await make_team(database, roles=(Role.owner,))
    headers = outsider.owner
    assert (await client.get(team.url, headers=headers)).status_code == 404
    assert (await client.get(f"{team.url}/{channel_id}", headers=headers)).status_code == 404
    assert (await create(client, team, headers=headers)).status_code == 404
    response = await client.post(f"{team.url}/{channel_id}/pause", headers=headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "No such workspace."


async def test_another_workspaces_channel_is_404(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other = await make_team(database, roles=(Role.owner,))
    foreign_id = (await create(client, other)).json()["id"]
    # The owner of `team` asks for `other`'s channel under their own workspace.
    item = f"{team.url}/{foreign_id}"
    for method, url, body in [
        ("GET", item, None),
        ("PATCH", item, {"name": "taken"}),
        ("DELETE", item, None),
        ("POST", f"{item}/pause", None),
        ("POST", f"{item}/resume", None),
        ("POST", f"{item}/verify", None),
    ]:
        response = await client.request(method, url, json=body, headers=team.owner)
        assert response.status_code == 404, (method, url)
        assert response.json()["detail"] == "No such channel."
    untouched = await client.get(f"{other.url}/{foreign_id}", headers=other.owner)
    assert untouched.json()["name"] == "Sandbox"
    assert untouched.json()["paused"] is False
    assert (await client.get(f"{team.url}/{uuid.uuid4()}", headers=team.owner)).status_code == 404
