"""GET /api/v1/workspaces/{workspace_id}/audit: admins and owners read their workspace's
trail, newest first, filtered by action and paged by ``before``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.db import Database
from app.models import AuditEvent, Role, User, Workspace, utcnow
from tests.authz import add_api_token, bearer, new_workspace
from tests.factories import make_channel, make_user


@dataclass
class Trail:
    workspace: Workspace
    tokens: dict[str, dict[str, str]]  # caller → headers
    admin: User
    events: list[AuditEvent]  # of the workspace, oldest first


async def _trail(database: Database) -> Trail:
    """Workspace A with one member per role and four events; workspace B and the
    install (no workspace) have events of their own that A's admins must not see."""
    now = utcnow()
    async with database.write_session() as session:
        users = {role: await make_user(session) for role in Role}
        workspace = await new_workspace(session, *((user, role) for role, user in users.items()))
        outsider = await make_user(session)
        other = await new_workspace(session, (outsider, Role.owner))
        tokens: dict[str, dict[str, str]] = {}
        for role, user in users.items():
            tokens[role.value] = bearer((await add_api_token(session, user))[0])
        tokens["outsider"] = bearer((await add_api_token(session, outsider))[0])
        admin = users[Role.admin]

        def event(minutes_ago: int, action: str, **values: Any) -> AuditEvent:
            values.setdefault("workspace_id", workspace.id)
            values.setdefault("actor_id", admin.id)
            values.setdefault("actor_label", admin.email)
            return AuditEvent(
                action=action, created_at=now - timedelta(minutes=minutes_ago), **values
            )

        events = [
            event(
                40,
                "member.role_changed",
                target_type="user",
                target_id=str(users[Role.editor].id),
                data={"from": "viewer", "to": "editor"},
                ip="203.0.113.7",
                user_agent="Firefox",
            ),
            event(30, "channel.paused", target_type="channel", target_id=str(uuid.uuid4())),
            # The actor's account was deleted since: the label keeps the trail readable.
            event(20, "member.role_changed", actor_id=None, actor_label="gone@example.org"),
            event(10, "workspace.paused", actor_id=None, actor_label=None),
        ]
        session.add_all(events)
        session.add_all(
            [
                event(5, "channel.paused", workspace_id=other.id, actor_id=outsider.id),
                event(5, "auth.sign_in", workspace_id=None),
            ]
        )
        await session.commit()
    return Trail(workspace, tokens, admin, events)


def _url(trail: Trail) -> str:
    return f"/api/v1/workspaces/{trail.workspace.id}/audit"


async def test_admins_and_owners_read_their_workspace_trail_newest_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    trail = await _trail(database)
    for caller in ("admin", "owner"):
        response = await client.get(_url(trail), headers=trail.tokens[caller])
        assert response.status_code == 200, response.text
        body = response.json()
        assert [item["id"] for item in body] == [str(e.id) for e in reversed(trail.events)]

    oldest = body[-1]
    first = trail.events[0]
    assert oldest == {
        "id": str(first.id),
        "action": "member.role_changed",
        "actor": {"id": str(trail.admin.id), "label": trail.admin.email},
        "target_type": "user",
        "target_id": first.target_id,
        "data": {"from": "viewer", "to": "editor"},
        "ip": "203.0.113.7",
        "user_agent": "Firefox",
        "created_at": oldest["created_at"],
    }
    assert oldest["created_at"].endswith(("Z", "+00:00"))
    assert body[1]["actor"] == {"id": None, "label": "gone@example.org"}
    assert body[0]["actor"] is None
    assert body[0]["target_type"] is None and body[0]["data"] == {}


@pytest.mark.parametrize(
    ("caller", "status"),
    [("editor", 403), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
async def test_others_are_refused(
    client: httpx.AsyncClient, database: Database, caller: str, status: int
) -> None:
    trail = await _trail(database)
    response = await client.get(_url(trail), headers=trail.tokens[caller])
    assert response.status_code == status
    assert set(response.json()) == {"detail", "errors"}


async def test_anonymous_callers_must_authenticate(
    client: httpx.AsyncClient, database: Database
) -> None:
    trail = await _trail(database)
    response = await client.get(_url(trail))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_filter_by_action(client: httpx.AsyncClient, database: Database) -> None:
    trail = await _trail(database)
    response = await client.get(
        _url(trail), params={"action": "member.role_changed"}, headers=trail.tokens["admin"]
    )
    assert [item["id"] for item in response.json()] == [
        str(trail.events[2].id),
        str(trail.events[0].id),
    ]
    none = await client.get(
        _url(trail), params={"action": "auth.sign_in"}, headers=trail.tokens["admin"]
    )
    assert none.json() == []


async def test_pages_with_limit_and_before(client: httpx.AsyncClient, database: Database) -> None:
    trail = await _trail(database)
    admin = trail.tokens["admin"]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = (await client.get(_url(trail), params=params, headers=admin)).json()
        if not page:
            break
        seen += [item["id"] for item in page]
        params["before"] = page[-1]["created_at"]
    assert seen == [str(e.id) for e in reversed(trail.events)]

    both = await client.get(
        _url(trail),
        params={"action": "member.role_changed", "before": trail.events[2].created_at.isoformat()},
        headers=admin,
    )
    assert [item["id"] for item in both.json()] == [str(trail.events[0].id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"before": "yesterday"}, "before"),
        ({"before": "2026-11-22T10:00:00"}, "before"),  # no zone: which 10:00?
    ],
)
async def test_bad_parameters_are_explained(
    client: httpx.AsyncClient, database: Database, params: dict[str, Any], field: str
) -> None:
    trail = await _trail(database)
    response = await client.get(_url(trail), params=params, headers=trail.tokens["admin"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_limit_500_is_accepted(client: httpx.AsyncClient, database: Database) -> None:
    trail = await _trail(database)
    response = await client.get(_url(trail), params={"limit": 500}, headers=trail.tokens["owner"])
    assert response.status_code == 200
    assert len(response.json()) == len(trail.events)


async def test_a_real_change_shows_in_the_trail(
    client: httpx.AsyncClient, database: Database
) -> None:
    trail = await _trail(database)
    async with database.write_session() as session:
        channel = await make_channel(session, workspace_id=trail.workspace.id)
        await session.commit()
    headers = {**trail.tokens["admin"], "user-agent": "almanac-test/1"}
    paused = await client.post(
        f"/api/v1/workspaces/{trail.workspace.id}/channels/{channel.id}/pause",
        json={"reason": "Crisis"},
        headers=headers,
    )
    assert paused.status_code == 200, paused.text
    newest = (await client.get(_url(trail), headers=trail.tokens["admin"])).json()[0]
    assert newest["action"] == "channel.paused"
    assert newest["target_id"] == str(channel.id)
    assert newest["actor"] == {"id": str(trail.admin.id), "label": trail.admin.email}
    assert newest["user_agent"] == "almanac-test/1"
    assert newest["ip"]
