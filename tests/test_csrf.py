"""CSRF: a cookie-authenticated write needs the session's CSRF token (header or form
field); bearer-token calls need none; a cross-site browser post is refused outright.

(The authorization matrix also sends every write route a cookie without the token.)
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from app.db import Database
from app.models import ApiToken, Membership, Role, User, Workspace
from app.settings import Settings
from tests.authz import BrowserSession, add_api_token, bearer, new_workspace, sign_in_browser
from tests.factories import make_user

HTML = {"accept": "text/html,application/xhtml+xml"}
CSRF_REFUSAL = "CSRF token missing or wrong"
CROSS_SITE_REFUSAL = "Cross-site request refused: this form was not sent from Almanac."


@dataclass
class Scene:
    owner: User
    viewer: User
    workspace: Workspace
    browser: BrowserSession  # the owner, signed in
    other_browser: BrowserSession  # the owner again, in another browser
    token: str  # the owner's API token

    @property
    def member_url(self) -> str:
        return f"/api/v1/workspaces/{self.workspace.id}/members/{self.viewer.id}"


@pytest.fixture
async def scene(database: Database, settings: Settings) -> Scene:
    async with database.write_session() as session:
        owner = await make_user(session)
        viewer = await make_user(session)
        workspace = await new_workspace(session, (owner, Role.owner), (viewer, Role.viewer))
        browser = await sign_in_browser(session, owner, settings.secret_key)
        other_browser = await sign_in_browser(session, owner, settings.secret_key)
        token, _ = await add_api_token(session, owner)
        await session.commit()
    return Scene(owner, viewer, workspace, browser, other_browser, token)


async def _role(database: Database, scene: Scene) -> Role:
    """The viewer's role now, read from the database."""
    async with database.read_session() as session:
        role = await session.scalar(
            select(Membership.role).where(
                Membership.workspace_id == scene.workspace.id,
                Membership.user_id == scene.viewer.id,
            )
        )
    assert role is not None
    return role


async def _token_names(database: Database) -> list[str]:
    async with database.read_session() as session:
        return list((await session.scalars(select(ApiToken.name))).all())


def _assert_refused(response: httpx.Response, detail_part: str) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["errors"] == []
    assert detail_part in body["detail"]


# -- the session cookie needs the token ----------------------------------------------------


@pytest.mark.parametrize(
    "csrf_header",
    [None, "", "wrong-token", "other-session"],
    ids=["missing", "empty", "wrong", "another-session's"],
)
async def test_a_cookie_write_without_the_right_token_is_refused(
    client: httpx.AsyncClient, database: Database, scene: Scene, csrf_header: str | None
) -> None:
    headers = dict(scene.browser.headers)
    if csrf_header == "other-session":
        # A token is bound to its session: the same user's other browser's won't do.
        headers["x-csrf-token"] = scene.other_browser.csrf_token
    elif csrf_header is not None:
        headers["x-csrf-token"] = csrf_header
    response = await client.patch(scene.member_url, json={"role": "editor"}, headers=headers)
    _assert_refused(response, CSRF_REFUSAL)
    assert await _role(database, scene) is Role.viewer


async def test_a_cookie_write_with_the_token_in_the_header_passes(
    client: httpx.AsyncClient, database: Database, scene: Scene
) -> None:
    headers = {**scene.browser.headers, "x-csrf-token": scene.browser.csrf_token}
    response = await client.patch(scene.member_url, json={"role": "editor"}, headers=headers)
    assert response.status_code == 200, response.text
    assert await _role(database, scene) is Role.editor


async def test_a_form_post_with_the_token_field_passes_and_without_it_is_refused(
    client: httpx.AsyncClient, database: Database, scene: Scene
) -> None:
    refused = await client.post(
        "/account/tokens",
        data={"name": "laptop"},
        headers={**scene.browser.headers, **HTML},
    )
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]  # the error page, for a browser
    assert CSRF_REFUSAL in refused.text

    created = await client.post(
        "/account/tokens",
        data={"name": "laptop", "csrf_token": scene.browser.csrf_token},
        headers={**scene.browser.headers, **HTML},
    )
    assert created.status_code == 200, created.text
    assert (await _token_names(database)).count("laptop") == 1


async def test_reading_needs_no_token(client: httpx.AsyncClient, scene: Scene) -> None:
    response = await client.get(
        f"/api/v1/workspaces/{scene.workspace.id}/members", headers=scene.browser.headers
    )
    assert response.status_code == 200


async def test_a_bearer_token_call_needs_no_csrf_token(
    client: httpx.AsyncClient, database: Database, scene: Scene
) -> None:
    response = await client.patch(
        scene.member_url, json={"role": "reviewer"}, headers=bearer(scene.token)
    )
    assert response.status_code == 200, response.text
    assert await _role(database, scene) is Role.reviewer


# -- cross-site posts are refused before any route -------------------------------------------


@pytest.mark.parametrize(
    "claimed",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},  # a sandboxed frame or a data: page
        {"origin": "http://testserver.evil.example"},
        {"referer": "https://evil.example/page.html"},  # no Origin: the Referer decides
    ],
    ids=["other-origin", "opaque-origin", "lookalike-host", "other-referer"],
)
async def test_a_cross_site_form_post_is_refused(
    client: httpx.AsyncClient, database: Database, scene: Scene, claimed: dict[str, str]
) -> None:
    # Even with the right token (say, leaked): the browser says it came from elsewhere.
    form_post = await client.post(
        "/account/tokens",
        data={"name": "forged", "csrf_token": scene.browser.csrf_token},
        headers={**scene.browser.headers, **claimed, **HTML},
    )
    _assert_refused(form_post, CROSS_SITE_REFUSAL)
    assert "forged" not in await _token_names(database)

    forged_patch = await client.patch(
        scene.member_url,
        json={"role": "owner"},
        headers={**scene.browser.headers, **claimed, "x-csrf-token": scene.browser.csrf_token},
    )
    _assert_refused(forged_patch, CROSS_SITE_REFUSAL)
    assert await _role(database, scene) is Role.viewer


async def test_a_cross_site_sign_in_post_is_refused(client: httpx.AsyncClient) -> None:
    """Sign-in CSRF: no session yet, so only the same-origin check can refuse it."""
    response = await client.post(
        "/sign-in",
        data={"email": "victim@example.org", "password": "attacker-password"},
        headers={"origin": "https://evil.example", **HTML},
    )
    _assert_refused(response, CROSS_SITE_REFUSAL)


async def test_a_same_origin_post_passes(
    client: httpx.AsyncClient, database: Database, scene: Scene
) -> None:
    response = await client.patch(
        scene.member_url,
        json={"role": "editor"},
        headers={
            **scene.browser.headers,
            "origin": "http://testserver",
            "referer": "http://testserver/account",
            "x-csrf-token": scene.browser.csrf_token,
        },
    )
    assert response.status_code == 200, response.text
    assert await _role(database, scene) is Role.editor


async def test_a_bearer_call_from_a_browser_page_is_not_a_forgery(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    """A page cannot make a browser attach someone's API token by itself, so an
    Authorization header proves the caller holds the token, wherever it runs."""
    response = await client.patch(
        scene.member_url,
        json={"role": "editor"},
        headers={**bearer(scene.token), "origin": "https://tools.example"},
    )
    assert response.status_code == 200, response.text
