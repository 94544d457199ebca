"""The editor, plan, channels and sandbox pages over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.db import Database, session_scope
from app.models import Role, SandboxPost
from app.networks.base import Network
from app.settings import Settings
from tests.authz import run_matrix, survey_routes
from tests.test_authorization_matrix import PUBLIC, RESOURCES
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, add_label, add_plan, create_post

HTML = {"accept": "text/html"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.viewer))


async def page(client: httpx.AsyncClient, team: Team, rest: str, role: Role = Role.owner):
    return await client.get(
        f"/w/{team.workspace_id}/{rest}", headers={**team.headers[role], **HTML}
    )


def editor_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="editor-data">(.*?)</script>', html)
    assert found is not None
    return json.loads(found.group(1))


async def test_new_post_page_starts_on_the_day_given(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    await add_channel(database, team, Network.x, name="Our X")
    response = await page(client, team, "posts/new?date=2026-12-09")
    assert response.status_code == 200
    assert 'id="local-date" name="date" type="date" value="2026-12-09"' in response.text
    assert "Copy for Our X (X)" in response.text
    data = editor_data(response.text)
    assert data["post"] is None and data["may_write"] is True
    assert [c["name"] for c in data["channels"]] == ["Our X"]
    bad = await client.get(f"/w/{team.workspace_id}/posts/new?date=soon", headers=team.owner)
    assert bad.status_code == 422


async def test_post_page_shows_the_post_its_copies_and_comments(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    label = await add_label(database, team, name="News")
    post = await create_post(
        client, team, title="Hello </script> world", channels=[str(x)], labels=[str(label)]
    )
    comment = await client.post(
        f"/api/v1/workspaces/{team.workspace_id}/posts/{post['id']}/comments",
        json={"body": "Looks good"},
        headers=team.owner,
    )
    assert comment.status_code == 201
    response = await page(client, team, f"posts/{post['id']}")
    assert response.status_code == 200
    data = editor_data(response.text)  # the title cannot close the data block
    assert data["post"]["title"] == "Hello </script> world"
    assert data["post"]["variants"][0]["channel_id"] == str(x)
    assert "Looks good" in response.text and "Draft" in response.text
    viewer = await page(client, team, f"posts/{post['id']}", Role.viewer)
    assert viewer.status_code == 200 and "data-readonly" in viewer.text
    assert (await page(client, team, "posts/new", Role.viewer)).status_code == 403


async def test_plan_pages(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    await add_channel(database, team, Network.mastodon)
    plan = await add_plan(
        database,
        team,
        title="December push",
        goals="Grow",
        themes=[{"week": "2026-W50", "theme": "Winter"}],
        cadence_targets={"mastodon": 2},
    )
    listing = await page(client, team, "plans")
    assert listing.status_code == 200 and "December push" in listing.text
    assert "Create plan" in listing.text
    detail = await page(client, team, f"plans/{plan}")
    assert detail.status_code == 200
    html = detail.text
    assert "Winter" in html and "Grow" in html and "2026-W50" in html
    assert "31 days without a post" in html
    assert "Duplicate to another period" in html
    viewer = await page(client, team, f"plans/{plan}", Role.viewer)
    assert "Duplicate to another period" not in viewer.text


async def test_channels_page_never_shows_credentials(client: httpx.AsyncClient, team: Team) -> None:
    created = await client.post(
        f"/api/v1/workspaces/{team.workspace_id}/channels",
        json={"network": "sandbox", "name": "Try it", "credentials": {"handle": "s3cr3t-value"}},
        headers=team.owner,
    )
    assert created.status_code == 201, created.text
    response = await page(client, team, "channels")
    assert response.status_code == 200
    assert "Try it" in response.text and "s3cr3t-value" not in response.text
    assert re.search(r'<use href="[^"]*networks\.svg\?v=[^"#]+#sandbox"', response.text)
    viewer = await page(client, team, "channels", Role.viewer)
    assert "Connect a channel" not in viewer.text and "Try it" in viewer.text


# The credential keys each adapter documents (app/networks/<network>.py), and which of
# them are secrets. X and LinkedIn connect through OAuth.
CONNECT_FORMS: dict[str, dict[str, str]] = {
    "mastodon": {"instance_url": "url", "access_token": "password"},
    "bluesky": {"identifier": "text", "app_password": "password", "pds_url": "url"},
    "facebook": {"page_id": "text", "page_access_token": "password"},
    "instagram": {"ig_user_id": "text", "access_token": "password"},
    "threads": {"threads_user_id": "text", "access_token": "password"},
    "telegram": {"bot_token": "password", "chat_id": "text"},
    "discord": {"webhook_url": "password"},
    "matrix": {"homeserver_url": "url", "access_token": "password", "room_id": "text"},
    "webhook": {"url": "url", "secret": "password", "send_deletions": "checkbox"},
    "sandbox": {"handle": "text", "simulate": "select"},
}
OPTIONAL = {("bluesky", "pds_url"), ("webhook", "send_deletions")}


def connect_forms(html: str) -> dict[str, str]:
    """network → the HTML of its connect form."""
    forms = re.findall(
        r'<form class="form connect-form" data-api="[^"]+/channels".*?</form>', html, re.S
    )
    found = {}
    for form in forms:
        network = re.search(r'name="network" value="([a-z]+)"', form)
        assert network is not None
        found[network[1]] = form
    return found


def credential_inputs(form: str) -> dict[str, str]:
    """credential key → input type (or "select") in a connect form."""
    inputs = {
        m[2]: m[3]
        for m in re.finditer(r'<input (id="[^"]+") name="credentials\.(\w+)" type="(\w+)"', form)
    }
    inputs.update(
        {m[1]: "select" for m in re.finditer(r'<select id="[^"]+" name="credentials\.(\w+)"', form)}
    )
    return inputs


async def test_connect_forms_ask_for_what_each_adapter_reads(
    client: httpx.AsyncClient, team: Team
) -> None:
    html = (await page(client, team, "channels")).text
    forms = connect_forms(html)
    assert set(forms) == set(CONNECT_FORMS)
    for network, expected in CONNECT_FORMS.items():
        source = (ROOT / "app" / "networks" / f"{network}.py").read_text()
        form = forms[network]
        assert credential_inputs(form) == expected, network
        for key in expected:
            assert f'"{key}"' in source or f"``{key}``" in source, (network, key)
            field = form[form.index(f'id="{network}-{key}"') :]
            tag = field[: field.index(">")]
            # Every field says where its value comes from.
            assert f'aria-describedby="{network}-{key}-help"' in tag, (network, key)
            help_text = re.search(
                rf'<p class="field-hint" id="{network}-{key}-help">([^<]+)</p>', form
            )
            assert help_text is not None and len(help_text[1]) > 20, (network, key)
            if expected[key] in ("checkbox", "select") or (network, key) in OPTIONAL:
                assert " required" not in tag, (network, key)
            elif network != "sandbox":
                assert " required" in tag, (network, key)
            if expected[key] == "password":
                assert 'autocomplete="new-password"' in tag  # never the user's own password
    # Where to get an app password, and that it is not the account's password.
    assert "Settings → Privacy and security → App passwords" in forms["bluesky"]
    assert "@BotFather" in forms["telegram"]


async def test_x_and_linkedin_connect_through_oauth(client: httpx.AsyncClient, team: Team) -> None:
    html = (await page(client, team, "channels")).text
    for network, name in (("x", "X"), ("linkedin", "LinkedIn")):
        start = f"/api/v1/workspaces/{team.workspace_id}/channels/oauth/{network}/start"
        button = re.search(
            rf'<form class="form connect-form" data-api="{start}" data-done="follow:authorize_url">'
            rf".*?<button [^>]*>Connect with {name}</button>",
            html,
            re.S,
        )
        assert button is not None, network
        # The button's route is the real one: here the server has no X/LinkedIn app, and
        # says so in words the form shows.
        started = await client.post(start, headers=team.owner)
        assert started.status_code == 422
        assert "not set up on this server" in started.json()["detail"]
    assert 'name="credentials.refresh_token"' not in html  # no token pasting for OAuth


async def test_the_page_says_how_an_oauth_connect_ended(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    channel = await add_channel(database, team, Network.x, name="Acme on X")
    connected = await page(client, team, f"channels?connected={channel}")
    assert "Connected Acme on X (X)." in connected.text
    declined = await page(client, team, "channels?declined=1")
    assert "Nothing was connected" in declined.text
    unknown = await page(client, team, f"channels?connected={team.workspace_id}")
    assert "Connected " not in unknown.text


async def test_sandbox_outbox_lists_what_was_published(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    channel = await add_channel(database, team, Network.sandbox, name="Sandbox one")
    async with session_scope(database.write_session) as session:
        session.add(SandboxPost(channel_id=channel, idempotency_key="k-1", text="It went out"))
    response = await page(client, team, "sandbox")
    assert response.status_code == 200
    assert "It went out" in response.text and "Sandbox one" in response.text


async def test_other_workspaces_are_not_found(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other = await make_team(database, (Role.owner,))
    for rest in ("calendar", "plans", "channels", "sandbox", "posts/new"):
        response = await client.get(f"/w/{other.workspace_id}/{rest}", headers=team.owner)
        assert response.status_code == 404, rest


async def test_the_authorization_matrix_over_the_workspace_pages(
    app: FastAPI, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """The full matrix (tests/test_authorization_matrix.py) covers every route; this runs
    it on the workspace pages alone, so a page's authorization is checked with its tests."""
    survey = survey_routes(app, PUBLIC, RESOURCES)
    cases = [case for case in survey.cases if case.path.startswith("/w/")]
    paths = {case.path for case in cases}
    assert paths >= {
        "/w/{workspace_id}",
        "/w/{workspace_id}/calendar",
        "/w/{workspace_id}/posts/new",
        "/w/{workspace_id}/posts/{post_id}",
        "/w/{workspace_id}/plans",
        "/w/{workspace_id}/plans/{plan_id}",
        "/w/{workspace_id}/channels",
        "/w/{workspace_id}/sandbox",
    }
    assert all(case.requirement.page for case in cases)
    result = await run_matrix(client, database, cases, RESOURCES, settings.secret_key)
    assert not result.failures, "\n".join(result.failures)
