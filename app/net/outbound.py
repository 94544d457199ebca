"""Outgoing requests to hosts a user typed in (webhook URLs, Mastodon instances,
Matrix homeservers) go through here, so nobody can point Almanac at the machine
it runs on or at the private network behind it (cloud metadata at
169.254.169.254, an admin panel on 10.0.0.5, a database on localhost).

Two layers, both applied to every request of a client made by :func:`new_client`
(each redirect hop included, since httpx sends every hop through the transport):

1. :func:`check_public_url` refuses a scheme other than http(s), a URL that
   carries a user name or password, and a host any of whose addresses (after DNS
   resolution, kept 10 s: :class:`RecentAnswers`) is not public.
2. The transport's connections are opened to an address checked at connect time,
   never to a name resolved again afterwards, so a DNS answer that changes between
   the check and the connection (DNS rebinding) cannot slip through.

``allow_private=True`` (``ALMANAC_ALLOW_PRIVATE_HOSTS``; tests and on-premise
installs) lifts the address rule only; the scheme and credential rules stay.

The default transport is :class:`app.net.aio.GuardedAiohttpTransport` (httpx on an
aiohttp pool): it costs about half the CPU per request of httpcore's async pool,
which is what limits the scheduler's publish burst (bench/README.md, "publish_lag").
:class:`GuardedTransport` below is the same guard on httpcore.

Errors::

    OutboundError
    ├── DestinationRefused   the URL or one of its addresses is not allowed (permanent)
    └── HostNotFound         the name does not resolve (may be temporary)

Messages name the host, never the whole URL: Telegram and Discord carry their
secret in the path.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from app import __version__

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = f"Almanac/{__version__}"

# Prefixes that embed an IPv4 address which is the real destination.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT


class OutboundError(Exception):
    """Base of the outbound guard's errors. ``message`` is fit to show to a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DestinationRefused(OutboundError):
    """The destination is not allowed; retrying cannot help."""


class HostNotFound(OutboundError):
    """The host name has no address (a typo, or DNS is down)."""


# -- addresses ------------------------------------------------------------------


def refusal_reason(address: IPAddress) -> str | None:
    """Why Almanac must not connect to ``address``, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address in IPv6 clothing is that IPv4 address.
        if address.ipv4_mapped is not None:
            return _embedded(refusal_reason(address.ipv4_mapped))
        if address in _NAT64:
            return _embedded(refusal_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
        # Tunnels to an IPv4 address: refused with it, else judged as IPv6 below.
        tunnelled = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if tunnelled is not None and (reason := refusal_reason(tunnelled)) is not None:
            return _embedded(reason)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a special-purpose address"
    return None


def _embedded(reason: str | None) -> str | None:
    return None if reason is None else f"{reason} (inside an IPv6 address)"


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    literal = _literal(host)
    if literal is not None:
        # No DNS to ask (and no thread hop for getaddrinfo on every request); the
        # caller's address checks apply to it all the same.
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(f"The host {host} could not be found (no DNS answer).") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 scope ids ("fe80::1%eth0") are not part of the address.
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostNotFound(f"The host {host} could not be found (no DNS answer).")
    return addresses


def _literal(host: str) -> str | None:
    """``host`` as an address when it is written as one exactly (``93.184.216.34``,
    ``::1``); None for names and for what only getaddrinfo reads as an address
    (``127.1``, ``0x7f.1``) or an IPv6 scope (``fe80::1%eth0``): those are resolved."""
    if "%" in host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _refused(host: str, address: str, reason: str) -> DestinationRefused:
    shown = host if host == address else f"{host} ({address})"
    return DestinationRefused(
        f"Almanac does not send requests to {shown}: it is {reason}. Use a public host, "
        "or let the operator allow private hosts (ALMANAC_ALLOW_PRIVATE_HOSTS)."
    )


async def public_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host``; refuse it when any of its addresses is not public."""
    return _allowed(host, await resolve(host, port), allow_private=allow_private)


def _allowed(host: str, addresses: list[str], *, allow_private: bool) -> list[str]:
    if allow_private:
        return addresses
    for address in addresses:
        reason = refusal_reason(ipaddress.ip_address(address))
        if reason is not None:
            raise _refused(host, address, reason)
    return addresses


class RecentAnswers:
    """What names resolved to in the last ``seconds``, for the check made before each
    request (layer 1). A scheduler publishes to a handful of hosts, and a
    ``getaddrinfo`` (in a thread, then a DNS query) before every request cost ~160 µs
    of CPU even for a name in ``/etc/hosts``, a fifth of a publish. Only answers are
    kept: the address rules apply to each request, and the connection is checked
    again when it is made (layer 2), so an answer that changed meanwhile is refused
    there. Failures are not kept."""

    LIMIT = 1024

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        now = time.monotonic()
        kept = self._answers.get((host, port))
        if kept is not None and kept[0] > now:
            return kept[1]
        addresses = await resolve(host, port)
        if len(self._answers) >= self.LIMIT:
            self._answers.clear()
        self._answers[(host, port)] = (now + self.seconds, addresses)
        return addresses


_RECENT = RecentAnswers()


# -- URLs -----------------------------------------------------------------------


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL:
        raise DestinationRefused("This is not a valid web address.") from None


def check_url_shape(url: str | httpx.URL) -> httpx.URL:
    """The rules that need no DNS: http(s) only, a host, no credentials in the URL."""
    if isinstance(url, str):
        return _checked_shape(url)
    return _check_shape(url)


@functools.lru_cache(maxsize=1024)
def _checked_shape(url: str) -> httpx.URL:
    """A channel's URL is checked before every request: parsed once (a refused one is
    not kept, it raises each time)."""
    return _check_shape(url)


def _check_shape(url: str | httpx.URL) -> httpx.URL:
    parsed = _parse(url)
    if parsed.scheme not in ALLOWED_SCHEMES:
        found = f"starts with {parsed.scheme}://" if parsed.scheme else "does not start with either"
        raise DestinationRefused(
            f"Only http:// and https:// addresses are allowed; this one {found}."
        )
    if not parsed.host:
        raise DestinationRefused("This web address has no host name.")
    if parsed.userinfo:
        raise DestinationRefused(
            "Web addresses with a user name or password in them are refused "
            "(they would end up in logs); put credentials in the channel's settings."
        )
    return parsed


def _host(url: httpx.URL) -> str:
    # The ASCII (IDNA) form is what DNS knows; IPv6 literals come without brackets.
    return url.raw_host.decode("ascii")


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def check_public_url(url: str | httpx.URL, *, allow_private: bool) -> None:
    """Refuse ``url`` unless it is http(s), carries no credentials and every address
    of its host is public (or ``allow_private``). Raises :class:`OutboundError`."""
    parsed = check_url_shape(url)
    host = _host(parsed)
    _allowed(host, await _RECENT.resolve(host, _port(parsed)), allow_private=allow_private)


# -- the transport ------------------------------------------------------------------


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to an address that passed the check, never to a name resolved again."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await public_addresses(host, port, allow_private=False)
        except HostNotFound as exc:
            raise httpcore.ConnectError(exc.message) from None
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("Almanac does not send requests to local sockets.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that checks every request (so every redirect hop) with
    :func:`check_public_url` and pins its connections to checked addresses.

    No proxy: a proxy would make the connection, out of our sight (and a client
    that trusts the environment mounts its own proxy transports around this one,
    so :func:`new_client` turns that off)."""

    def __init__(self, *, allow_private: bool = False, **kwargs: Any) -> None:
        if kwargs.get("proxy") is not None or kwargs.get("uds") is not None:
            raise ValueError("GuardedTransport connects directly; no proxy or socket")
        super().__init__(**kwargs)
        self.allow_private = allow_private
        if not allow_private:
            # httpx offers no argument for the network backend: put ours under the
            # pool it built (tests/test_outbound.py proves this still takes effect).
            pool = self._pool
            if not isinstance(pool, httpcore.AsyncConnectionPool):  # pragma: no cover
                raise TypeError(f"unexpected httpcore pool {type(pool).__name__}")
            pool._network_backend = _PinnedBackend(pool._network_backend)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            await check_public_url(request.url, allow_private=self.allow_private)
        except HostNotFound as exc:
            # What httpx itself would raise: a connection problem, worth a retry.
            raise httpx.ConnectError(exc.message, request=request) from None
        return await super().handle_async_request(request)


class _NoCookies(httpx.Cookies):
    """A cookie jar that stays empty (see :class:`OutboundClient`)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise TypeError("OutboundClient keeps no cookies; send a Cookie header instead")


class OutboundClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that keeps no cookies between requests.

    One client serves every workspace's channels, so a cookie that one account's
    answer set (a Mastodon instance, a webhook host shared by several customers)
    must not ride along with another account's next request. Our adapters
    authenticate with tokens and signatures, never with cookies; an answer's
    ``Set-Cookie`` stays readable on that response. It also spares httpx's
    ``http.cookiejar`` round on every answer (a tenth of a publish's CPU).
    """

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("cookies"):
            raise ValueError("OutboundClient keeps no cookies; send a Cookie header instead")
        super().__init__(**kwargs)
        self._cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise AttributeError("OutboundClient keeps no cookies; send a Cookie header instead")

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """httpx's ``send``, with the reference cycle it leaves on every answer undone.

        httpx binds a response's body stream to the response itself (to set
        ``elapsed`` when it closes): a cycle that only the garbage collector frees, so
        every answer (its headers, our transport's stream) waited for a collection,
        which had to walk them all (a third of the scheduler's collection time under
        a burst, bench/README.md). Once the body is read (every request that does not
        stream it), the stream is only the bytes already in ``response.content``."""
        response = await super().send(request, **kwargs)
        if not kwargs.get("stream"):
            response.stream = httpx.ByteStream(response.content)
        return response


def new_client(*, allow_private: bool, **kwargs: Any) -> httpx.AsyncClient:
    """The process's client for user-given hosts: guarded, explicit timeouts, no
    environment proxies, no cookies kept (:class:`OutboundClient`), redirects not
    followed unless a caller asks."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    kwargs.setdefault("headers", {"User-Agent": USER_AGENT})
    # With a transport of its own, the client ignores ``limits``: the transport takes them.
    limits = kwargs.pop("limits", httpx.Limits(max_connections=100, max_keepalive_connections=20))
    from app.net.aio import GuardedAiohttpTransport  # imports this module

    return OutboundClient(
        transport=GuardedAiohttpTransport(allow_private=allow_private, limits=limits),
        trust_env=False,
        **kwargs,
    )


# -- one client per process -------------------------------------------------------


def shared_client(app: Any) -> httpx.AsyncClient:
    """The web process's long-lived client, made on first use and closed by the
    app's lifespan (:func:`close_shared_client`)."""
    client: httpx.AsyncClient | None = getattr(app.state, "http", None)
    if client is None or client.is_closed:
        client = new_client(allow_private=app.state.settings.allow_private_hosts)
        app.state.http = client
    return client


async def close_shared_client(app: Any) -> None:
    client: httpx.AsyncClient | None = getattr(app.state, "http", None)
    if client is not None:
        app.state.http = None
        await client.aclose()
