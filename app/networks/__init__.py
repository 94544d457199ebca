"""Networks: their rules and adapters behind one Protocol, in an enum-keyed registry.

Adding a network is one new module and one line in ``_FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.networks.base import Network, NetworkAdapter, OAuthApp
from app.networks.bluesky import BlueskyAdapter
from app.networks.discord import DiscordAdapter
from app.networks.facebook import FacebookAdapter
from app.networks.instagram import InstagramAdapter
from app.networks.linkedin import LinkedInAdapter
from app.networks.mastodon import MastodonAdapter
from app.networks.matrix import MatrixAdapter
from app.networks.sandbox import SandboxAdapter
from app.networks.telegram import TelegramAdapter
from app.networks.threads import ThreadsAdapter
from app.networks.webhook import WebhookAdapter
from app.networks.x import XAdapter


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What adapters are built with: one long-lived httpx client per process."""

    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    base_url: str
    # The OAuth applications configured in the settings (client id, secret, endpoints)
    # for networks whose tokens expire and are renewed (app.oauth.service.oauth_apps).
    oauth_apps: Mapping[Network, OAuthApp] = field(default_factory=dict)


_FACTORIES: dict[Network, Callable[[AdapterContext], NetworkAdapter]] = {
    Network.sandbox: lambda ctx: SandboxAdapter(ctx.sessions, ctx.base_url),
    Network.mastodon: lambda ctx: MastodonAdapter(ctx.http),
    Network.webhook: lambda ctx: WebhookAdapter(ctx.http),
    Network.matrix: lambda ctx: MatrixAdapter(ctx.http),
    Network.bluesky: lambda ctx: BlueskyAdapter(ctx.http),
    Network.telegram: lambda ctx: TelegramAdapter(ctx.http),
    Network.discord: lambda ctx: DiscordAdapter(ctx.http),
    Network.facebook: lambda ctx: FacebookAdapter(
        ctx.http, oauth=ctx.oauth_apps.get(Network.facebook)
    ),
    Network.instagram: lambda ctx: InstagramAdapter(
        ctx.http, oauth=ctx.oauth_apps.get(Network.instagram)
    ),
    Network.threads: lambda ctx: ThreadsAdapter(
        ctx.http, oauth=ctx.oauth_apps.get(Network.threads)
    ),
    Network.x: lambda ctx: XAdapter(ctx.http, oauth=ctx.oauth_apps.get(Network.x)),
    Network.linkedin: lambda ctx: LinkedInAdapter(
        ctx.http, oauth=ctx.oauth_apps.get(Network.linkedin)
    ),
}


class NetworkUnavailable(LookupError):
    """The network has no adapter in this build yet."""


def available_networks() -> list[Network]:
    return [network for network in Network if network in _FACTORIES]


def get_adapter(network: Network, ctx: AdapterContext) -> NetworkAdapter:
    try:
        factory = _FACTORIES[network]
    except KeyError:
        raise NetworkUnavailable(f"publishing to {network.value} is not available yet") from None
    return factory(ctx)
