"""Signing in with Meta: Facebook Login for Facebook Pages and Instagram, and the
Threads login, from the authorization code to the accounts to connect.

Facebook Login ("Manually Build a Login Flow", "Long-Lived Access Tokens"): the code
is traded at ``POST /v25.0/oauth/access_token`` (app id, app secret, the same
``redirect_uri``) for a short-lived user token, which is exchanged at the same endpoint
(``grant_type=fb_exchange_token``) for a long-lived one (about 60 days). The person's
Pages come from ``GET /me/accounts`` with that token, each with its Page token (which
does not expire when fetched with a long-lived user token) and its linked Instagram
professional account (``instagram_business_account{id,username}``). Every Page the
person granted is connected: a Facebook channel per Page, or, for Instagram, a channel
per linked Instagram account holding the long-lived *user* token (what
:meth:`app.networks.instagram.InstagramAdapter.refresh_credentials` renews) and its
expiry.

Threads ("Get Access Tokens and Permissions", "Long-Lived Tokens"): the code is traded
at ``POST graph.threads.net/oauth/access_token`` for a short-lived token (1 hour) and
the account's ``user_id``, then exchanged at ``GET /access_token?grant_type=
th_exchange_token`` (app secret) for a 60-day token, which the token-refresh job
renews (``th_refresh_token``).

Neither login asks for PKCE: Facebook Login's PKCE belongs to its OIDC flow, which
Meta marks as still in testing, and the Threads login documents none. Both are
confidential clients (the code is worthless without the app secret), and the
single-use ``state`` bound to the person who started is checked as for X. Every token
request sends the secret in a form body, except Threads' ``th_exchange_token``, which
is documented as a GET (its query is redacted from logs); tokens travel in an
``Authorization`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from app.networks.base import Network, OAuthApp, PermanentError
from app.networks.graph import call, token_exchange
from app.oauth.tokens import expiry

GRAPH_VERSION = "v25.0"
PAGE_FIELDS = "id,name,access_token,instagram_business_account{id,username}"
# /me/accounts pages through cursors; a person rarely manages more than a few hundred.
MAX_PAGE_REQUESTS = 10
META_SETTINGS = "ALMANAC_META_APP_ID and ALMANAC_META_APP_SECRET"
THREADS_SETTINGS = "ALMANAC_THREADS_APP_ID and ALMANAC_THREADS_APP_SECRET"


@dataclass(frozen=True)
class Account:
    """One account to connect: its credentials, their expiry (None: they do not
    expire) and a name to give the channel if the account cannot be verified."""

    network: Network
    credentials: dict[str, Any]
    expires_at: datetime | None
    name: str = ""


async def page_accounts(
    http: httpx.AsyncClient, app: OAuthApp, *, network: Network, code: str, redirect_uri: str
) -> list[Account]:
    """The Facebook Pages (``network=facebook``) or the Instagram accounts linked to
    them (``network=instagram``) the person granted."""
    short = await token_exchange(
        http,
        "POST",
        app.token_url,
        network="Facebook",
        settings_hint=META_SETTINGS,
        data={
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    long_lived = await token_exchange(
        http,
        "POST",
        app.token_url,
        network="Facebook",
        settings_hint=META_SETTINGS,
        data={
            "grant_type": "fb_exchange_token",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "fb_exchange_token": short["access_token"],
        },
    )
    user_token = str(long_lived["access_token"])
    expires_at = expiry(long_lived.get("expires_in"))
    pages = await _pages(http, f"{app.api_base.rstrip('/')}/{GRAPH_VERSION}", user_token)
    accounts: list[Account] = []
    seen: set[str] = set()
    for page in pages:
        page_id, name = str(page.get("id") or ""), str(page.get("name") or "")
        if network is Network.facebook:
            token = page.get("access_token")
            # No Page token: the person has no task on the Page that allows posting.
            if page_id and isinstance(token, str) and token:
                accounts.append(
                    Account(
                        network,
                        {"page_id": page_id, "page_access_token": token},
                        None,
                        f"Facebook {name or page_id}",
                    )
                )
            continue
        linked = page.get("instagram_business_account")
        ig_id = str(linked.get("id") or "") if isinstance(linked, dict) else ""
        if not ig_id or ig_id in seen:
            continue
        seen.add(ig_id)
        handle = str(linked.get("username") or "") if isinstance(linked, dict) else ""
        accounts.append(
            Account(
                network,
                {"ig_user_id": ig_id, "access_token": user_token, "page_id": page_id},
                expires_at,
                f"Instagram {handle or name or ig_id}",
            )
        )
    return accounts


async def _pages(http: httpx.AsyncClient, graph: str, user_token: str) -> list[dict[str, Any]]:
    """Every entry of ``/me/accounts``, following the ``after`` cursor (the ``next``
    URL Meta gives carries the token in its query, so it is not followed as is)."""
    pages: list[dict[str, Any]] = []
    params = {"fields": PAGE_FIELDS, "limit": "100"}
    for _ in range(MAX_PAGE_REQUESTS):
        body = await call(
            http, "GET", f"{graph}/me/accounts", network="Facebook", token=user_token, params=params
        )
        pages += [page for page in body.get("data") or [] if isinstance(page, dict)]
        paging = body.get("paging")
        cursors = paging.get("cursors") if isinstance(paging, dict) else None
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not isinstance(paging, dict) or not paging.get("next") or not after:
            break
        params = {**params, "after": str(after)}
    return pages


async def threads_accounts(
    http: httpx.AsyncClient, app: OAuthApp, *, code: str, redirect_uri: str
) -> list[Account]:
    """The Threads account that signed in, with its long-lived token."""
    short = await token_exchange(
        http,
        "POST",
        app.token_url,
        network="Threads",
        settings_hint=THREADS_SETTINGS,
        data={
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    user_id = short.get("user_id")
    if not isinstance(user_id, str | int) or isinstance(user_id, bool) or not str(user_id):
        raise PermanentError("Threads answered the sign-in without the account's user_id")
    long_lived = await token_exchange(
        http,
        "GET",
        f"{app.api_base.rstrip('/')}/access_token",
        network="Threads",
        settings_hint=THREADS_SETTINGS,
        token=str(short["access_token"]),
        params={"grant_type": "th_exchange_token", "client_secret": app.client_secret},
    )
    return [
        Account(
            Network.threads,
            {"threads_user_id": str(user_id), "access_token": str(long_lived["access_token"])},
            expiry(long_lived.get("expires_in")),
            "Threads account",
        )
    ]


def nothing_granted(network: Network) -> str:
    if network is Network.instagram:
        return (
            "None of the Facebook Pages shared with Almanac has an Instagram professional "
            "account linked to it, so nothing was connected. Link the Instagram account "
            "to a Page (in the Page's settings), then connect again and choose that Page."
        )
    return (
        "No Facebook Page that you may post to was shared with Almanac, so nothing was "
        "connected. Connect again and choose at least one Page in Facebook's dialog."
    )
