"""Connecting an account with OAuth 2.0: authorization code + PKCE (RFC 7636, S256).

``start_connect`` makes a single-use ``state`` and a ``code_verifier``, keeps them
server-side (the state as its SHA-256, the verifier sealed) bound to the workspace
and the person who started, and returns the network's consent URL. The network sends
the browser back to ``/oauth/callback/{network}``; ``complete_connect`` checks the
state (known, same network, same person, unused, not expired), spends it before any
network call, trades the code and the verifier for tokens, and stores them sealed on
a new channel, or on the workspace's existing channel of the same account (a
reconnect). The person must still be allowed to manage channels.

Facebook, Instagram and Threads sign in through Meta (app.oauth.meta): the same state
rules, no PKCE (Meta's web flows do not use it), and one sign-in may connect several
accounts (every Page the person granted, or every Instagram account linked to them).

Binding the state to the person who started it is what stops a forged callback: a
consent URL sent to someone else cannot connect their account to the sender's
workspace.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import Request
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.service import record
from app.auth.deps import membership_of
from app.auth.policy import Action, allowed
from app.channels import service as channels
from app.channels.schemas import ChannelCreate
from app.crypto import CredentialBox, CredentialsUnreadable
from app.errors import AppError, Conflict, Forbidden, Invalid
from app.models import Channel, ChannelStatus, OAuthState, User, utcnow
from app.networks import AdapterContext, get_adapter
from app.networks.base import (
    AccountInfo,
    CredentialsExpiredError,
    Network,
    NetworkError,
    OAuthApp,
    PermanentError,
)
from app.oauth import meta
from app.oauth.tokens import TokenGrant, token_request
from app.settings import Settings

# Networks connected through this flow, with the label people know them by.
OAUTH_NETWORKS: dict[Network, str] = {
    Network.x: "X",
    Network.linkedin: "LinkedIn",
    Network.facebook: "Facebook",
    Network.instagram: "Instagram",
    Network.threads: "Threads",
}
# The authorization code + PKCE networks (the others sign in through Meta, app.oauth.meta).
PKCE_NETWORKS = (Network.x, Network.linkedin)
# X takes a confidential client's secret by HTTP Basic; LinkedIn in the form body.
CLIENT_AUTH: dict[Network, str] = {Network.x: "basic", Network.linkedin: "body"}
# The settings naming each network's app (its id, then its secret).
APP_SETTINGS: dict[Network, tuple[str, str]] = {
    Network.x: ("ALMANAC_X_CLIENT_ID", "ALMANAC_X_CLIENT_SECRET"),
    Network.linkedin: ("ALMANAC_LINKEDIN_CLIENT_ID", "ALMANAC_LINKEDIN_CLIENT_SECRET"),
    Network.facebook: ("ALMANAC_META_APP_ID", "ALMANAC_META_APP_SECRET"),
    Network.instagram: ("ALMANAC_META_APP_ID", "ALMANAC_META_APP_SECRET"),
    Network.threads: ("ALMANAC_THREADS_APP_ID", "ALMANAC_THREADS_APP_SECRET"),
}
# Used and expired states are kept this long, so a replayed callback is told why.
KEEP_STATES = timedelta(days=1)


class Gone(AppError):
    status_code = 410


class Unavailable(AppError):
    status_code = 503


# -- configuration ---------------------------------------------------------------------


def oauth_apps(settings: Settings) -> dict[Network, OAuthApp]:
    """The OAuth application of each network, from the ``ALMANAC_<NETWORK>_*`` settings
    (Facebook and Instagram share the Meta app, ``ALMANAC_META_*``)."""
    apps = {}
    for network in PKCE_NETWORKS:
        name = network.value
        apps[network] = OAuthApp(
            client_id=getattr(settings, f"{name}_client_id"),
            client_secret=getattr(settings, f"{name}_client_secret"),
            authorize_url=getattr(settings, f"{name}_authorize_url"),
            token_url=getattr(settings, f"{name}_token_url"),
            api_base=getattr(settings, f"{name}_api_base"),
            scopes=tuple(getattr(settings, f"{name}_scopes").split()),
            client_auth=CLIENT_AUTH[network],
        )
    graph = settings.meta_graph_base.rstrip("/")
    for network, scopes in (
        (Network.facebook, settings.meta_facebook_scopes),
        (Network.instagram, settings.meta_instagram_scopes),
    ):
        apps[network] = OAuthApp(
            client_id=settings.meta_app_id,
            client_secret=settings.meta_app_secret,
            authorize_url=settings.meta_dialog_url,
            token_url=f"{graph}/{meta.GRAPH_VERSION}/oauth/access_token",
            api_base=graph,
            scopes=tuple(scopes.split()),
            client_auth="body",
        )
    apps[Network.threads] = OAuthApp(
        client_id=settings.threads_app_id,
        client_secret=settings.threads_app_secret,
        authorize_url=settings.threads_authorize_url,
        token_url=settings.threads_token_url,
        api_base=settings.threads_api_base,
        scopes=tuple(settings.threads_scopes.split()),
        client_auth="body",
    )
    return apps


def adapter_context(
    settings: Settings, http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> AdapterContext:
    """Adapters built with the configured OAuth applications (and their endpoints)."""
    return AdapterContext(
        http=http, sessions=sessions, base_url=settings.base_url, oauth_apps=oauth_apps(settings)
    )


def _configured_app(settings: Settings, network: Network) -> OAuthApp:
    if network not in OAUTH_NETWORKS:
        connectable = " and ".join(OAUTH_NETWORKS.values())
        raise Invalid(
            f"{connectable} accounts are connected by signing in to the network; "
            f"{network.value} channels take their credentials directly.",
            errors=[{"field": "network", "network": network.value, "message": "no OAuth connect"}],
        )
    app = oauth_apps(settings)[network]
    # Meta's logins are confidential clients only: without the secret, no token.
    secret_needed = network not in PKCE_NETWORKS and not app.client_secret
    if not app.client_id or not app.authorize_url or not app.token_url or secret_needed:
        id_setting, secret_setting = APP_SETTINGS[network]
        raise Invalid(
            f"Connecting {OAUTH_NETWORKS[network]} accounts is not set up on this server: "
            f"the operator must set {id_setting} (and {secret_setting}).",
            errors=[{"field": "network", "network": network.value, "message": "not configured"}],
        )
    return app


def redirect_uri(settings: Settings, network: Network) -> str:
    return f"{settings.base_url}/oauth/callback/{network.value}"


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier))), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


# -- start -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    authorize_url: str
    expires_at: datetime


async def start_connect(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user: User,
    network: Network,
    settings: Settings,
    box: CredentialBox,
) -> Started:
    app = _configured_app(settings, network)
    now = utcnow()
    await db.execute(delete(OAuthState).where(OAuthState.expires_at < now - KEEP_STATES))
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: RFC 7636 §4.1
    expires_at = now + timedelta(seconds=settings.oauth_state_ttl_seconds)
    callback = redirect_uri(settings, network)
    db.add(
        OAuthState(
            state_hash=_state_hash(state),
            workspace_id=workspace_id,
            user_id=user.id,
            network=network,
            verifier_encrypted=box.seal({"code_verifier": verifier}),
            redirect_uri=callback,
            created_at=now,
            expires_at=expires_at,
        )
    )
    await db.flush()
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": callback,
        "scope": " ".join(app.scopes),
        "state": state,
    }
    if network in PKCE_NETWORKS:
        params["code_challenge"] = code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    else:
        # Meta's dialogs document comma-separated scopes, and no PKCE (app.oauth.meta):
        # the verifier stored above is then never sent.
        params["scope"] = ",".join(app.scopes)
    query = urlencode(params, quote_via=quote)
    joiner = "&" if "?" in app.authorize_url else "?"
    return Started(authorize_url=f"{app.authorize_url}{joiner}{query}", expires_at=expires_at)


# -- callback ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    """Where the callback sends the browser: the workspace's channels page, with the
    channel connected (or the reason nothing was)."""

    workspace_id: uuid.UUID
    channel_id: uuid.UUID | None = None
    declined: bool = False
    # Every channel connected (a Meta sign-in may connect several); ``channel_id`` is
    # the first, the one the page shows.
    channel_ids: tuple[uuid.UUID, ...] = ()

    @property
    def location(self) -> str:
        page = f"/w/{self.workspace_id}/channels"
        if self.channel_id is not None:
            return f"{page}?connected={self.channel_id}"
        return f"{page}?declined=1" if self.declined else page


async def _spend_state(db: AsyncSession, *, state: str, network: Network, user: User) -> OAuthState:
    """The state's row, checked and marked used (atomically: a second callback with
    the same state, even a concurrent one, is refused)."""
    row = await db.scalar(select(OAuthState).where(OAuthState.state_hash == _state_hash(state)))
    if row is None or row.network != network:
        raise Invalid(
            "This sign-in did not start in Almanac, or no longer exists (unknown state); "
            "start connecting the account again from the channels page."
        )
    if row.user_id != user.id:
        raise Forbidden(
            "This sign-in was started by another person; start connecting the account "
            "yourself from the channels page."
        )
    if row.used_at is not None:
        raise Conflict("This sign-in has already been used; the account was handled then.")
    now = utcnow()
    if row.expires_at <= now:
        raise Gone(
            "This sign-in took too long and has expired; start connecting the account again."
        )
    spent = await db.execute(
        update(OAuthState)
        .where(OAuthState.id == row.id, OAuthState.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise Conflict("This sign-in has already been used; the account was handled then.")
    return row


async def complete_connect(
    db: AsyncSession,
    *,
    user: User,
    network: Network,
    state: str,
    code: str | None,
    error: str | None,
    settings: Settings,
    box: CredentialBox,
    adapters: AdapterContext,
    request: Request | None = None,
) -> Connected:
    app = _configured_app(settings, network)
    row = await _spend_state(db, state=state, network=network, user=user)
    workspace_id, callback = row.workspace_id, row.redirect_uri
    try:
        verifier = str(box.open(row.verifier_encrypted)["code_verifier"])
    except (CredentialsUnreadable, KeyError):
        raise Invalid(
            "This sign-in cannot be completed (its secret cannot be read with the configured "
            "keys); start connecting the account again."
        ) from None
    found = await membership_of(db, user, workspace_id)
    if found is None or not allowed(found[1], Action.channels_manage):
        raise Forbidden("Your role in this workspace no longer allows connecting channels.")
    # The state is spent for good, whatever happens next; no lock is held while the
    # network answers (on SQLite a write transaction holds the write lock).
    await db.commit()
    if error or not code:
        return Connected(workspace_id, declined=True)

    try:
        accounts = await _accounts(
            adapters.http, app, network=network, code=code, callback=callback, verifier=verifier
        )
    except (CredentialsExpiredError, PermanentError) as exc:
        raise Invalid(f"{exc.message}. Nothing was connected; start again.") from None
    except NetworkError as exc:
        raise Unavailable(f"{exc.message}. Nothing was connected; start again.") from None
    if not accounts:
        raise Invalid(meta.nothing_granted(network))

    connected = []
    for account in accounts:
        channel = await _connect_account(
            db,
            account,
            workspace_id=workspace_id,
            adapters=adapters,
            box=box,
            user=user,
            request=request,
        )
        connected.append(channel.id)
    return Connected(workspace_id, channel_id=connected[0], channel_ids=tuple(connected))


async def _accounts(
    http: httpx.AsyncClient,
    app: OAuthApp,
    *,
    network: Network,
    code: str,
    callback: str,
    verifier: str,
) -> list[meta.Account]:
    """The accounts this sign-in grants, with their credentials."""
    if network is Network.threads:
        return await meta.threads_accounts(http, app, code=code, redirect_uri=callback)
    if network not in PKCE_NETWORKS:
        return await meta.page_accounts(
            http, app, network=network, code=code, redirect_uri=callback
        )
    grant = await token_request(
        http,
        app,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback,
            "code_verifier": verifier,
        },
        network=OAUTH_NETWORKS[network],
        settings_prefix=f"ALMANAC_{network.value.upper()}_",
    )
    return [meta.Account(network, _credentials(grant), grant.expires_at)]


async def _connect_account(
    db: AsyncSession,
    found: meta.Account,
    *,
    workspace_id: uuid.UUID,
    adapters: AdapterContext,
    box: CredentialBox,
    user: User,
    request: Request | None,
) -> Channel:
    """Verify one account and store its credentials on its channel (new or reconnected)."""
    network, credentials = found.network, found.credentials
    account: AccountInfo | None = None
    problem: tuple[ChannelStatus, str] | None = None
    try:
        account = await get_adapter(network, adapters).verify(credentials)
    except CredentialsExpiredError as exc:
        problem = (ChannelStatus.expired, channels.without_secrets(exc.message, credentials))
    except NetworkError as exc:
        problem = (ChannelStatus.error, channels.without_secrets(exc.message, credentials))
    if account is not None and account.refreshed_credentials is not None:
        credentials = account.refreshed_credentials

    if account is None and not _account_key(network, credentials):
        # Without a verified account and without an id in the credentials, nothing
        # tells whether this account already has a channel: refuse rather than make
        # a duplicate of it.
        assert problem is not None
        status, words = problem
        refusal = Unavailable if status is ChannelStatus.error else Invalid
        raise refusal(
            f"{OAUTH_NETWORKS[network]} could not confirm the account ({words}). "
            "Nothing was connected; try again."
        )
    channel = await _channel_for(
        db,
        workspace_id=workspace_id,
        network=network,
        account=account,
        credentials=credentials,
        box=box,
        user=user,
        request=request,
        fallback_name=found.name,
    )
    now = utcnow()
    channel.credentials_encrypted = box.seal(credentials)
    channel.token_expires_at = found.expires_at
    channel.last_refresh_at = now
    channel.refresh_failures = 0
    channel.refresh_lease_until = None
    if account is not None:
        channel.account_handle = account.handle[:255]
        channel.limits = dict(account.limits)
        channel.verified_at = now
        channel.status, channel.status_message = ChannelStatus.connected, None
    else:
        assert problem is not None
        channel.status, channel.status_message = problem
    await db.flush()
    return channel


# The credential that names the account for good, per network whose sign-in gives
# one (X and LinkedIn give only tokens: their account is known once verified).
ACCOUNT_KEYS: dict[Network, str] = {
    Network.facebook: "page_id",
    Network.instagram: "ig_user_id",
    Network.threads: "threads_user_id",
}


def _account_key(network: Network, credentials: dict[str, Any]) -> str | None:
    name = ACCOUNT_KEYS.get(network)
    value = credentials.get(name) if name else None
    return str(value) if isinstance(value, str | int) and str(value) else None


async def _channel_by_key(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    network: Network,
    credentials: dict[str, Any],
    box: CredentialBox,
) -> Channel | None:
    """The oldest channel of the workspace on ``network`` whose sealed credentials
    name the same account id as ``credentials``."""
    key = _account_key(network, credentials)
    if key is None:
        return None
    candidates = await db.scalars(
        select(Channel)
        .where(
            Channel.workspace_id == workspace_id,
            Channel.network == network,
            Channel.credentials_encrypted.is_not(None),
        )
        .order_by(Channel.created_at, Channel.id)
    )
    for channel in candidates:
        try:
            stored = box.open(channel.credentials_encrypted or b"")
        except CredentialsUnreadable:
            continue
        if _account_key(network, stored) == key:
            return channel
    return None


def _credentials(grant: TokenGrant) -> dict[str, Any]:
    credentials: dict[str, Any] = {"access_token": grant.access_token}
    if grant.refresh_token:
        credentials["refresh_token"] = grant.refresh_token
    return credentials


async def _channel_for(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    network: Network,
    account: AccountInfo | None,
    credentials: dict[str, Any],
    box: CredentialBox,
    user: User,
    request: Request | None,
    fallback_name: str = "",
) -> Channel:
    """The workspace's channel of this account (reconnecting it), or a new one. The
    account is recognised by the id its credentials carry (a Page id, an Instagram or
    Threads user id), else by the handle its verification named."""
    existing = await _channel_by_key(db, workspace_id, network, credentials, box)
    if existing is None and account is not None:
        existing = await db.scalar(
            select(Channel)
            .where(
                Channel.workspace_id == workspace_id,
                Channel.network == network,
                Channel.account_handle == account.handle[:255],
            )
            .order_by(Channel.created_at)
            .limit(1)
        )
    if existing is not None:
        await record(
            db,
            action="channel.credentials_changed",
            actor=user,
            request=request,
            workspace_id=workspace_id,
            target_type=channels.TARGET,
            target_id=existing.id,
            data={"credentials_set": sorted(credentials), "via": "oauth"},
        )
        return existing
    label = OAUTH_NETWORKS[network]
    if account is None:
        name = fallback_name or f"{label} account"
    elif network is Network.x:
        name = f"{label} @{account.handle}"
    else:
        name = f"{label} {account.display_name or account.handle}"
    return await channels.create_channel(
        db,
        workspace_id=workspace_id,
        data=ChannelCreate(network=network, name=name[:120], credentials=credentials),
        box=box,
        actor=user,
        request=request,
    )
