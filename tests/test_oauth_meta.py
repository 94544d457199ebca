"""Connecting Facebook Pages, Instagram accounts and Threads accounts by signing in
with Meta, against Facebook Login and Threads played on 127.0.0.1 (codes bound to the
redirect URI and spent once, app id and secret checked, long-lived token exchange,
``/me/accounts`` paged by cursor), and the token-refresh job renewing the Instagram
token that connect stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
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
from app.net.outbound import close_shared_client, new_client
from app.networks import AdapterContext
from app.networks.base import Network
from app.oauth import meta
from app.oauth import service as oauth
from app.settings import Settings
from scheduler.runtime import SchedulerRuntime
from scheduler.token_refresh import refresh_tokens
from tests.conftest import make_settings
from tests.contract.platforms._graph import LONG_LIVED_SECONDS, META_APP_ID, META_APP_SECRET
from tests.contract.platforms.facebook import (
    IG_USER_ID,
    PAGE_ID,
    SECOND_PAGE_ID,
    SECOND_TOKEN,
    TOKEN,
    FacebookPlatform,
)
from tests.contract.platforms.instagram import TOKEN as IG_TOKEN
from tests.contract.platforms.instagram import InstagramPlatform
from tests.contract.platforms.threads import APP_ID, APP_SECRET, ThreadsPlatform
from tests.factories import make_channel, make_membership, make_user, make_workspace
from tests.test_oauth_connect import HTML, Browser, _browser, _channels

SIXTY_DAYS = timedelta(seconds=LONG_LIVED_SECONDS)


@pytest.fixture(scope="module")
def platforms() -> Iterator[tuple[FacebookPlatform, ThreadsPlatform, InstagramPlatform]]:
    made = (FacebookPlatform(), ThreadsPlatform(), InstagramPlatform())
    for platform in made:
        platform.start()
    try:
        yield made
    finally:
        for platform in made:
            platform.stop()


@pytest.fixture
def facebook(platforms: tuple[FacebookPlatform, ThreadsPlatform, InstagramPlatform]):  # type: ignore[no-untyped-def]
    platforms[0].reset()
    return platforms[0]


@pytest.fixture
def threads(platforms: tuple[FacebookPlatform, ThreadsPlatform, InstagramPlatform]):  # type: ignore[no-untyped-def]
    platforms[1].reset()
    return platforms[1]


@pytest.fixture
def instagram(platforms: tuple[FacebookPlatform, ThreadsPlatform, InstagramPlatform]):  # type: ignore[no-untyped-def]
    platforms[2].reset()
    return platforms[2]


def meta_settings(
    database: Database, data_dir: Path, *, graph: str, threads: str, **overrides: str
) -> Settings:
    """The Meta and Threads apps pointed at the local platforms."""
    values = {
        "meta_app_id": META_APP_ID,
        "meta_app_secret": META_APP_SECRET,
        "meta_dialog_url": f"{graph}/v25.0/dialog/oauth",
        "meta_graph_base": graph,
        "threads_app_id": APP_ID,
        "threads_app_secret": APP_SECRET,
        "threads_authorize_url": f"{threads}/oauth/authorize",
        "threads_token_url": f"{threads}/oauth/access_token",
        "threads_api_base": threads,
        **overrides,
    }
    return make_settings(
        data_dir, database.engine.url.render_as_string(hide_password=False), **values
    )


@pytest.fixture
def settings(
    database: Database, tmp_path: Path, facebook: FacebookPlatform, threads: ThreadsPlatform
) -> Settings:
    return meta_settings(database, tmp_path / "data", graph=facebook.url, threads=threads.url)


@pytest.fixture
async def meta_app(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database)
    yield application
    await close_shared_client(application)


@pytest.fixture
async def browser(meta_app: FastAPI, database: Database) -> AsyncIterator[Browser]:
    async for made in _browser(meta_app, database):
        yield made


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _credentials(settings: Settings, channel: Channel) -> dict[str, str]:
    return CredentialBox(settings.encryption_keys).open(channel.credentials_encrypted or b"")


def _lasts(channel: Channel, lifetime: timedelta) -> bool:
    assert channel.token_expires_at is not None
    left = channel.token_expires_at - utcnow()
    return lifetime - timedelta(seconds=60) < left <= lifetime


async def test_connect_with_facebook_connects_every_granted_page(
    browser: Browser, database: Database, facebook: FacebookPlatform, settings: Settings
) -> None:
    started = await browser.start("facebook")
    assert started.status_code == 200, started.text
    url = started.json()["authorize_url"]
    query = _query(url)
    assert url.startswith(f"{facebook.url}/v25.0/dialog/oauth?")
    assert query["client_id"] == META_APP_ID
    assert query["redirect_uri"] == f"{settings.base_url}/oauth/callback/facebook"
    assert query["response_type"] == "code"
    assert "pages_manage_posts" in query["scope"].split(",")
    assert "code_challenge" not in query  # Meta's web login takes no PKCE
    assert len(query["state"]) >= 32

    back = await browser.come_back(await browser.consent(url))

    assert back.status_code == 303, back.text
    channels = {c.account_handle: c for c in await _channels(database, browser.workspace_id)}
    assert set(channels) == {"almanaccoffee", "almanacroastery"}
    first, second = channels["almanaccoffee"], channels["almanacroastery"]
    assert back.headers["location"].endswith(f"?connected={first.id}")
    assert (first.network, first.name, first.status) == (
        Network.facebook,
        "Facebook Almanac Coffee",
        ChannelStatus.connected,
    )
    assert _credentials(settings, first) == {"page_id": PAGE_ID, "page_access_token": TOKEN}
    assert _credentials(settings, second) == {
        "page_id": SECOND_PAGE_ID,
        "page_access_token": SECOND_TOKEN,
    }
    # Page tokens fetched with a long-lived user token do not expire: nothing to refresh.
    assert first.token_expires_at is None and second.token_expires_at is None
    # Code → short-lived token → long-lived token, the secret in the form body; the Pages
    # were listed with the long-lived token, following the cursor (one Page per answer).
    code_form, exchange_form = facebook.login.token_forms
    assert code_form["redirect_uri"] == query["redirect_uri"]
    assert code_form["client_secret"] == META_APP_SECRET
    assert exchange_form["grant_type"] == "fb_exchange_token"
    assert exchange_form["fb_exchange_token"] in facebook.login.short_lived
    assert len(facebook.accounts_tokens) == 2
    assert set(facebook.accounts_tokens) <= set(facebook.login.long_lived)
    assert facebook.tokens_in_url == 0, "tokens travel in a header"

    # Signing in again reconnects the same channels.
    again = await browser.start("facebook")
    assert (
        await browser.come_back(await browser.consent(again.json()["authorize_url"]))
    ).status_code == 303
    assert {c.id for c in await _channels(database, browser.workspace_id)} == {first.id, second.id}


async def test_connect_with_instagram_stores_the_long_lived_user_token_and_its_expiry(
    browser: Browser, database: Database, facebook: FacebookPlatform, settings: Settings
) -> None:
    started = (await browser.start("instagram")).json()["authorize_url"]
    assert "instagram_content_publish" in _query(started)["scope"].split(",")
    back = await browser.come_back(await browser.consent(started))
    assert back.status_code == 303, back.text
    # Two Pages granted, one with the Instagram account linked: one channel.
    [channel] = await _channels(database, browser.workspace_id)
    assert channel.network is Network.instagram
    assert channel.account_handle == "almanac.coffee"
    assert channel.name == "Instagram Almanac Coffee"
    assert channel.status is ChannelStatus.connected
    credentials = _credentials(settings, channel)
    assert credentials["ig_user_id"] == IG_USER_ID
    assert credentials["page_id"] == PAGE_ID
    assert credentials["access_token"] in facebook.login.long_lived
    assert _lasts(channel, SIXTY_DAYS)


async def test_instagram_without_a_linked_account_connects_nothing(
    browser: Browser, database: Database, facebook: FacebookPlatform
) -> None:
    facebook.instagram_linked_to = None
    back = await browser.come_back(
        await browser.consent((await browser.start("instagram")).json()["authorize_url"])
    )
    assert back.status_code == 422
    assert "Instagram professional account linked" in back.text
    assert await _channels(database, browser.workspace_id) == []


async def test_no_page_granted_connects_nothing(
    browser: Browser, database: Database, facebook: FacebookPlatform
) -> None:
    facebook.granted_pages = []
    back = await browser.come_back(
        await browser.consent((await browser.start("facebook")).json()["authorize_url"])
    )
    assert back.status_code == 422
    assert "No Facebook Page" in back.text
    assert await _channels(database, browser.workspace_id) == []


async def test_refused_meta_callbacks_change_nothing(
    browser: Browser, meta_app: FastAPI, database: Database, facebook: FacebookPlatform
) -> None:
    back_path = await browser.consent((await browser.start("facebook")).json()["authorize_url"])
    state = _query(back_path)["state"]

    assert (
        await browser.come_back(back_path.replace("/facebook?", "/instagram?"))
    ).status_code == 422
    async for other in _browser(meta_app, database, workspace_id=browser.workspace_id):
        stolen = await other.come_back(back_path)
        assert stolen.status_code == 403 and "another person" in stolen.text
    async with session_scope(database.write_session) as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await browser.come_back(back_path)
    assert expired.status_code == 410
    async with database.read_session() as session:
        assert (
            await session.scalar(select(func.count()).where(OAuthState.used_at.is_not(None))) == 0
        )
    assert facebook.login.token_forms == [], "no refused callback reached Meta"

    # A used state: the first callback connects, the replay is refused.
    fresh = await browser.consent((await browser.start("facebook")).json()["authorize_url"])
    assert (await browser.come_back(fresh)).status_code == 303
    replay = await browser.come_back(fresh)
    assert replay.status_code == 409 and "already been used" in replay.text
    assert len(await _channels(database, browser.workspace_id)) == 2
    assert state


async def test_a_used_code_and_a_wrong_app_secret_are_reported(
    browser: Browser, database: Database, facebook: FacebookPlatform, settings: Settings
) -> None:
    url = (await browser.start("facebook")).json()["authorize_url"]
    back_path = await browser.consent(url)
    code = _query(back_path)["code"]
    facebook.login.codes.pop(code)  # Meta has already seen this code used
    used = await browser.come_back(back_path)
    assert used.status_code == 422
    assert "authorization code has been used" in used.text
    assert code not in used.text

    wrong = meta_settings(
        database,
        Path(settings.data_dir),
        graph=facebook.url,
        threads=facebook.url,
        meta_app_secret="not-the-secret",
    )
    application = create_app(wrong, database)
    try:
        async for other in _browser(application, database, workspace_id=browser.workspace_id):
            refused = await other.come_back(
                await other.consent((await other.start("facebook")).json()["authorize_url"])
            )
            assert refused.status_code == 422
            assert "ALMANAC_META_APP_SECRET" in refused.text
            assert "not-the-secret" not in refused.text
    finally:
        await close_shared_client(application)
    assert await _channels(database, browser.workspace_id) == []


async def test_start_names_the_meta_settings_when_missing(
    database: Database, tmp_path: Path
) -> None:
    bare = make_settings(
        tmp_path / "data", database.engine.url.render_as_string(hide_password=False)
    )
    application = create_app(bare, database)
    try:
        async for person in _browser(application, database):
            for network, setting in (
                ("facebook", "ALMANAC_META_APP_ID"),
                ("instagram", "ALMANAC_META_APP_ID"),
                ("threads", "ALMANAC_THREADS_APP_ID"),
            ):
                refused = await person.start(network)
                assert refused.status_code == 422
                assert setting in refused.json()["detail"]
            async with database.read_session() as session:
                assert await session.scalar(select(func.count()).select_from(OAuthState)) == 0
    finally:
        await close_shared_client(application)


async def test_connect_with_threads_exchanges_for_a_long_lived_token(
    browser: Browser, database: Database, threads: ThreadsPlatform, settings: Settings
) -> None:
    started = (await browser.start("threads")).json()["authorize_url"]
    query = _query(started)
    assert started.startswith(f"{threads.url}/oauth/authorize?")
    assert query["client_id"] == APP_ID
    assert query["scope"].split(",") == [
        "threads_basic",
        "threads_content_publish",
        "threads_delete",
    ]
    assert "code_challenge" not in query

    back = await browser.come_back(await browser.consent(started))

    assert back.status_code == 303, back.text
    [channel] = await _channels(database, browser.workspace_id)
    assert (channel.network, channel.account_handle, channel.status) == (
        Network.threads,
        "almanac.coffee",
        ChannelStatus.connected,
    )
    credentials = _credentials(settings, channel)
    assert credentials["threads_user_id"] == threads.account_id
    assert credentials["access_token"] in threads.extra_tokens  # the long-lived one
    assert _lasts(channel, SIXTY_DAYS)
    code_form, exchange = threads.token_forms
    assert code_form["grant_type"] == "authorization_code"
    assert code_form["redirect_uri"] == f"{settings.base_url}/oauth/callback/threads"
    assert exchange["grant_type"] == "th_exchange_token"
    assert "access_token" not in exchange  # the short-lived token went in a header
    assert threads.tokens_in_url == 0


# -- the token-refresh job renews the Instagram token ------------------------------------


async def _instagram_channel(
    database: Database, settings: Settings, *, expires_in: timedelta, token: str = IG_TOKEN
) -> Channel:
    box = CredentialBox(settings.encryption_keys)
    now = utcnow()
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session)
        owner = await make_user(session)
        await make_membership(session, workspace=workspace, user=owner, role=Role.owner)
        return await make_channel(
            session,
            workspace=workspace,
            network=Network.instagram,
            name="Instagram almanac.coffee",
            credentials_encrypted=box.seal(
                {
                    "ig_user_id": InstagramPlatform.account_id,
                    "access_token": token,
                    "page_id": PAGE_ID,
                }
            ),
            token_expires_at=now + expires_in,
            last_refresh_at=now + expires_in - SIXTY_DAYS,
        )


async def test_the_refresh_job_renews_an_expiring_instagram_token(
    database: Database, tmp_path: Path, instagram: InstagramPlatform
) -> None:
    settings = meta_settings(
        database, tmp_path / "data", graph=instagram.url, threads=instagram.url
    )
    channel = await _instagram_channel(database, settings, expires_in=timedelta(hours=12))
    async with httpx.AsyncClient(timeout=5) as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        run = await refresh_tokens(runtime)

        assert run.renewed == [channel.id]
        [form] = instagram.login.token_forms
        assert form == {
            "grant_type": "fb_exchange_token",
            "client_id": META_APP_ID,
            "client_secret": META_APP_SECRET,
            "fb_exchange_token": IG_TOKEN,
        }
        async with database.read_session() as session:
            stored = await session.get(Channel, channel.id)
        assert stored is not None and stored.status is ChannelStatus.connected
        credentials = _credentials(settings, stored)
        assert credentials["access_token"] != IG_TOKEN
        assert credentials["access_token"] in instagram.login.long_lived
        assert credentials["ig_user_id"] == InstagramPlatform.account_id
        assert _lasts(stored, SIXTY_DAYS)
        assert instagram.tokens_in_url == 0

        # A token Meta no longer knows (expired, password changed): the channel expires.
        revoked = await _instagram_channel(
            database, settings, expires_in=timedelta(hours=1), token="EAAGrevoked-secret"
        )
        run = await refresh_tokens(runtime)
        assert run.expired == [revoked.id]
        async with database.read_session() as session:
            gone = await session.get(Channel, revoked.id)
        assert gone is not None and gone.status is ChannelStatus.expired
        assert "EAAGrevoked-secret" not in (gone.status_message or "")


async def test_the_channels_page_offers_the_meta_buttons(browser: Browser) -> None:
    html = (await browser.almanac.get(f"/w/{browser.workspace_id}/channels", headers=HTML)).text
    for network, name in (
        ("facebook", "Facebook"),
        ("instagram", "Instagram"),
        ("threads", "Threads"),
    ):
        start = f"/api/v1/workspaces/{browser.workspace_id}/channels/oauth/{network}/start"
        assert f'data-api="{start}" data-done="follow:authorize_url"' in html, network
        assert f">Connect with {name}</button>" in html, network


# -- a reconnect while the network does not answer ------------------------------------

DOWN = "http://127.0.0.1:9"  # nothing listens: every verify fails to connect


async def connect_while_down(
    database: Database, settings: Settings, account: meta.Account, workspace_id: uuid.UUID
) -> Channel:
    """What the callback does for one granted account, with verify failing on the wire."""
    async with new_client(allow_private=True) as http:
        adapters = AdapterContext(
            http=http,
            sessions=database.write_session,
            base_url=settings.base_url,
            oauth_apps=oauth.oauth_apps(settings),
        )
        async with session_scope(database.write_session) as session:
            user = await make_user(session)
            return await oauth._connect_account(
                session,
                account,
                workspace_id=workspace_id,
                adapters=adapters,
                box=CredentialBox(settings.encryption_keys),
                user=user,
                request=None,
            )


@pytest.mark.parametrize(
    ("network", "key", "account_id"),
    [
        (Network.facebook, "page_id", PAGE_ID),
        (Network.instagram, "ig_user_id", IG_USER_ID),
        (Network.threads, "threads_user_id", "17841400000000001"),
    ],
)
async def test_a_reconnect_during_a_network_hiccup_finds_the_channel_by_its_account_id(
    database: Database, tmp_path: Path, network: Network, key: str, account_id: str
) -> None:
    settings = meta_settings(database, tmp_path / "data", graph=DOWN, threads=DOWN)
    box = CredentialBox(settings.encryption_keys)
    async with session_scope(database.write_session) as session:
        workspace_id = (await make_workspace(session)).id
        # Another account on the same network, and the account's own channel.
        await make_channel(
            session,
            workspace_id=workspace_id,
            network=network,
            credentials_encrypted=box.seal({key: "someone-else", "access_token": "a"}),
        )
        existing = await make_channel(
            session,
            workspace_id=workspace_id,
            network=network,
            status=ChannelStatus.expired,
            credentials_encrypted=box.seal({key: account_id, "access_token": "old"}),
        )
    fresh = {key: account_id, "access_token": "new", "page_access_token": "new"}
    channel = await connect_while_down(
        database, settings, meta.Account(network, fresh, None, name="Almanac"), workspace_id
    )
    assert channel.id == existing.id
    assert channel.status is ChannelStatus.error and channel.status_message
    assert box.open(channel.credentials_encrypted or b"")["access_token"] == "new"
    assert len(await _channels(database, workspace_id)) == 2

    # An account with no channel yet still gets one (in error, to be verified later).
    other = {key: "brand-new", "access_token": "t", "page_access_token": "t"}
    added = await connect_while_down(
        database, settings, meta.Account(network, other, None, name="New"), workspace_id
    )
    assert added.id != existing.id
    assert len(await _channels(database, workspace_id)) == 3
