"""Connecting an X account with OAuth 2.0 + PKCE, against X's authorization server
played on 127.0.0.1 (it binds each code to its S256 challenge and checks the
verifier): the whole round trip, then every way a callback is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.crypto import CredentialBox
from app.db import Database, session_scope
from app.main import create_app
from app.models import Channel, ChannelStatus, OAuthState, Role, utcnow
from app.net.outbound import close_shared_client
from app.networks.base import Network
from app.oauth.service import code_challenge
from app.settings import Settings
from tests.authz import sign_in_browser
from tests.conftest import TEST_SECRET
from tests.contract.harness import platform_fixture
from tests.contract.platforms.x import ACCESS_LIFETIME, CLIENT_ID, FakeX, server_settings
from tests.factories import make_membership, make_user, make_workspace

HTML = {"accept": "text/html"}


platform = platform_fixture(FakeX)


@pytest.fixture
def x_settings(database: Database, tmp_path: Path, platform: FakeX) -> Settings:
    platform.reset()
    return server_settings(platform, database, tmp_path / "data")


@pytest.fixture
async def oauth_app(x_settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(x_settings, database)
    yield application
    await close_shared_client(application)


@dataclass
class Browser:
    """A signed-in person's browser: Almanac in-process, the network over loopback."""

    almanac: httpx.AsyncClient
    network: httpx.AsyncClient
    workspace_id: uuid.UUID
    csrf: str

    async def start(self, network: str = "x") -> httpx.Response:
        return await self.almanac.post(
            f"/api/v1/workspaces/{self.workspace_id}/channels/oauth/{network}/start",
            headers={"x-csrf-token": self.csrf},
        )

    async def consent(self, authorize_url: str) -> str:
        """The network's consent page: its redirect back to Almanac (path and query)."""
        answer = await self.network.get(authorize_url)
        assert answer.status_code == 302, answer.text
        location = urlsplit(answer.headers["location"])
        return f"{location.path}?{location.query}"

    async def come_back(self, path: str) -> httpx.Response:
        return await self.almanac.get(path, headers=HTML)


async def _browser(
    app: FastAPI, database: Database, role: Role = Role.owner, workspace_id: uuid.UUID | None = None
) -> AsyncIterator[Browser]:
    async with session_scope(database.write_session) as session:
        user = await make_user(session)
        if workspace_id is None:
            workspace_id = (await make_workspace(session)).id
        await make_membership(session, workspace_id=workspace_id, user=user, role=role)
        signed_in = await sign_in_browser(session, user, TEST_SECRET)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=signed_in.headers
        ) as almanac,
        httpx.AsyncClient(timeout=5) as network,
    ):
        yield Browser(almanac, network, workspace_id, signed_in.csrf_token)


@pytest.fixture
async def browser(oauth_app: FastAPI, database: Database) -> AsyncIterator[Browser]:
    async for made in _browser(oauth_app, database):
        yield made


async def _channels(database: Database, workspace_id: uuid.UUID) -> list[Channel]:
    async with database.read_session() as session:
        rows = await session.scalars(select(Channel).where(Channel.workspace_id == workspace_id))
        return list(rows.all())


async def test_connecting_an_x_account_end_to_end(
    browser: Browser, database: Database, platform: FakeX, x_settings: Settings
) -> None:
    started = await browser.start()
    assert started.status_code == 200, started.text
    url = urlsplit(started.json()["authorize_url"])
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{platform.url}/i/oauth2/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{x_settings.base_url}/oauth/callback/x"
    assert query["code_challenge_method"] == "S256"
    assert "offline.access" in query["scope"].split()
    assert len(query["state"]) >= 32 and len(query["code_challenge"]) == 43
    # Only the state's hash and the sealed verifier are stored.
    async with database.read_session() as session:
        row = await session.scalar(select(OAuthState))
    assert row is not None and row.used_at is None
    assert query["state"] not in row.state_hash
    verifier = CredentialBox(x_settings.encryption_keys).open(row.verifier_encrypted)
    assert code_challenge(verifier["code_verifier"]) == query["code_challenge"]

    back = await browser.come_back(await browser.consent(started.json()["authorize_url"]))

    assert back.status_code == 303, back.text
    [channel] = await _channels(database, browser.workspace_id)
    assert back.headers["location"] == (
        f"/w/{browser.workspace_id}/channels?connected={channel.id}"
    )
    assert channel.network is Network.x
    assert channel.name == "X @almanac"
    assert channel.account_handle == "almanac"
    assert channel.status is ChannelStatus.connected
    credentials = CredentialBox(x_settings.encryption_keys).open(channel.credentials_encrypted)
    assert credentials["access_token"] in platform.access_tokens
    assert credentials["refresh_token"] in platform.refresh_tokens
    assert credentials["username"] == "almanac"
    assert channel.token_expires_at is not None
    left = channel.token_expires_at - utcnow()
    assert timedelta(seconds=ACCESS_LIFETIME - 30) < left <= timedelta(seconds=ACCESS_LIFETIME)
    # The token request carried the verifier X checked against the challenge.
    [exchange] = platform.token_requests
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code_verifier"] == verifier["code_verifier"]

    # Connecting the same account again reconnects that channel, not a second one.
    again = await browser.start()
    back = await browser.come_back(await browser.consent(again.json()["authorize_url"]))
    assert back.status_code == 303
    [same] = await _channels(database, browser.workspace_id)
    assert same.id == channel.id
    assert same.credentials_encrypted != channel.credentials_encrypted


async def test_a_code_issued_for_another_challenge_is_refused(
    browser: Browser, database: Database, platform: FakeX
) -> None:
    """The verifier Almanac holds must match the challenge the code was issued for:
    a code obtained with someone else's challenge cannot be redeemed."""
    started = (await browser.start()).json()["authorize_url"]
    state = parse_qs(urlsplit(started).query)["state"][0]
    forged = started.replace(
        parse_qs(urlsplit(started).query)["code_challenge"][0], code_challenge("x" * 64)
    )
    back = await browser.come_back(await browser.consent(forged))
    assert back.status_code == 422
    assert "code verifier was invalid" in back.text
    assert await _channels(database, browser.workspace_id) == []
    # The state was spent: trying it again is refused.
    again = await browser.come_back(f"/oauth/callback/x?state={state}&code=anything")
    assert again.status_code == 409


async def test_refused_callbacks_change_nothing(
    browser: Browser, oauth_app: FastAPI, database: Database
) -> None:
    started = (await browser.start()).json()["authorize_url"]
    back_path = await browser.consent(started)
    state = parse_qs(urlsplit(back_path).query)["state"][0]

    unknown = await browser.come_back("/oauth/callback/x?state=not-a-state&code=c")
    assert unknown.status_code == 422 and "unknown state" in unknown.text
    wrong_network = await browser.come_back(back_path.replace("/x?", "/linkedin?"))
    assert wrong_network.status_code == 422

    async for other in _browser(oauth_app, database, workspace_id=browser.workspace_id):
        stolen = await other.come_back(back_path)
        assert stolen.status_code == 403
        assert "another person" in stolen.text

    async with session_scope(database.write_session) as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await browser.come_back(back_path)
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert await _channels(database, browser.workspace_id) == []
    async with database.read_session() as session:
        used = await session.scalar(select(func.count()).where(OAuthState.used_at.is_not(None)))
    assert used == 0, "a refused callback spends no state"
    assert state


async def test_a_used_state_is_refused(browser: Browser, database: Database) -> None:
    back_path = await browser.consent((await browser.start()).json()["authorize_url"])
    assert (await browser.come_back(back_path)).status_code == 303
    replay = await browser.come_back(back_path)
    assert replay.status_code == 409
    assert "already been used" in replay.text
    assert len(await _channels(database, browser.workspace_id)) == 1


async def test_declining_at_the_network_connects_nothing(
    browser: Browser, database: Database
) -> None:
    started = (await browser.start()).json()["authorize_url"]
    state = parse_qs(urlsplit(started).query)["state"][0]
    back = await browser.come_back(f"/oauth/callback/x?state={state}&error=access_denied")
    assert back.status_code == 303
    assert back.headers["location"] == f"/w/{browser.workspace_id}/channels?declined=1"
    assert await _channels(database, browser.workspace_id) == []


async def test_start_is_refused_for_networks_without_oauth_or_configuration(
    browser: Browser,
) -> None:
    mastodon = await browser.start("mastodon")
    assert mastodon.status_code == 422
    assert "take their credentials directly" in mastodon.json()["detail"]
    linkedin = await browser.start("linkedin")  # no ALMANAC_LINKEDIN_CLIENT_ID here
    assert linkedin.status_code == 422
    assert "ALMANAC_LINKEDIN_CLIENT_ID" in linkedin.json()["detail"]
    unknown = await browser.start("myspace")
    assert unknown.status_code == 422


async def test_only_admins_and_owners_may_start(oauth_app: FastAPI, database: Database) -> None:
    async for editor in _browser(oauth_app, database, role=Role.editor):
        refused = await editor.start()
        assert refused.status_code == 403
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(OAuthState)) == 0


async def test_a_reconnect_that_cannot_be_verified_is_refused_and_creates_nothing(
    database: Database, tmp_path: Path, platform: FakeX
) -> None:
    # X's sign-in gives only tokens: without a verified account nothing tells which
    # channel they belong to, so nothing is connected (no duplicate channel).
    from app.oauth import meta
    from app.oauth.service import Unavailable
    from tests.test_oauth_meta import DOWN, connect_while_down

    settings = server_settings(platform, database, tmp_path / "data")
    settings.x_api_base = DOWN
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
    account = meta.Account(Network.x, {"access_token": "t", "refresh_token": "r"}, None)
    with pytest.raises(Unavailable, match="could not confirm the account") as refused:
        await connect_while_down(database, settings, account, workspace_id)
    assert "Nothing was connected" in str(refused.value)
    assert "access_token" not in str(refused.value)
    assert await _channels(database, workspace_id) == []
