"""Networks: their rules and adapters behind one Protocol, in an enum-keyed registry.

Adding a network is one new module and one line in ``_FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.networks.base import Network, NetworkAdapter
from app.networks.sandbox import SandboxAdapter


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What adapters are built with: one long-lived httpx client per process."""

    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    base_url: str


_FACTORIES: dict[Network, Callable[[AdapterContext], NetworkAdapter]] = {
    Network.sandbox: lambda ctx: SandboxAdapter(ctx.sessions, ctx.base_url),
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
