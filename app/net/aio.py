"""The default transport of :func:`app.net.outbound.new_client`: httpx on top of an
aiohttp connection pool, which costs about half the CPU per request of httpcore's
async pool (bench/README.md, "publish_lag").

The transport is only the seam under ``httpx.AsyncClient``: httpx still builds the
requests, follows redirects (each hop comes back through here) and decodes bodies
(the client keeps no cookies: :class:`~app.net.outbound.OutboundClient`). aiohttp
only moves bytes, so everything it would add on its own is turned off: its cookie
jar, proxies from the environment, redirects, decompression, compression and its
default headers.

Both layers of the outbound guard hold (see :mod:`app.net.outbound`):

1. every request is checked with :func:`~app.net.outbound.check_public_url` first;
2. aiohttp resolves names through :class:`GuardedResolver`, which hands it only
   addresses that passed the same rules, so it connects to exactly what was checked.
   aiohttp's DNS cache is kept (10 s): it only ever holds checked answers, and the
   policy (``allow_private``) is fixed for the transport's life. Address literals
   never reach a resolver; they are the URL's host, checked in layer 1.

Where it differs from httpcore: aiohttp has no write timeout, so the transport
applies httpx's itself (:class:`_WriteDeadline`); a pool timeout is reported as
:class:`httpx.ConnectTimeout`; ``max_keepalive_connections`` has no aiohttp
equivalent; aiohttp sends ``Content-Length: 0`` on a DELETE without a body.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from app.net import outbound
from app.net.outbound import DestinationRefused, HostNotFound

# aiohttp keeps resolved (and checked) answers this long; its own default.
DNS_CACHE_SECONDS = 10
# httpcore accepts up to 100 KiB of response head; aiohttp's default is 8 KiB a line.
MAX_HEADER_LINE = 64 * 1024
# httpx sends these itself; aiohttp must not add its own when a caller removed one.
_HTTPX_OWNS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class GuardedResolver(AbstractResolver):
    """Resolves through :func:`~app.net.outbound.public_addresses`: a name with any
    address that is not public is refused (:class:`DestinationRefused`) unless
    ``allow_private``; a name without an answer raises :class:`HostNotFound`."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        addresses = await outbound.public_addresses(host, port, allow_private=self.allow_private)
        results: list[ResolveResult] = []
        for address in addresses:
            address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, address_family):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": address_family,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise HostNotFound(f"The host {host} could not be found (no DNS answer).")
        return results

    async def close(self) -> None:
        pass


class GuardedAiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on one aiohttp session, guarded like
    :class:`~app.net.outbound.GuardedTransport`. The session is made on the first
    request (inside the running loop) and closed by :meth:`aclose`.

    No proxy and no Unix socket: either would make the connection out of our sight."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        proxy: Any = None,
        uds: str | None = None,
    ) -> None:
        if proxy is not None or uds is not None:
            raise ValueError("GuardedAiohttpTransport connects directly; no proxy or socket")
        self.allow_private = allow_private
        self.limits = limits
        # As httpx's own transport does (so SSL_CERT_FILE is honoured the same way).
        self._ssl = httpx.create_ssl_context(verify=verify, cert=cert)
        self._session: aiohttp.ClientSession | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,  # 0: no limit, as httpx's None
            keepalive_timeout=self.limits.keepalive_expiry,
            resolver=GuardedResolver(allow_private=self.allow_private),
            use_dns_cache=True,
            ttl_dns_cache=DNS_CACHE_SECONDS,
            ssl=self._ssl,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=_HTTPX_OWNS,
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
        )
        # aiohttp sends a GET, PUT or DELETE a second time when its connection drops;
        # httpx never does (a server that crashes on a request would get it twice).
        # No argument turns that off; aiohttp's own test client sets this attribute.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            await outbound.check_public_url(request.url, allow_private=self.allow_private)
        except HostNotFound as exc:
            raise httpx.ConnectError(exc.message, request=request) from None
        if self._session is None:
            self._session = self._new_session()
        headers = _headers(request)
        timeout = request.extensions.get("timeout", {})
        deadline: _WriteDeadline | None = None
        try:
            async with asyncio.timeout(None) as scope:
                body: bytes | AsyncIterable[bytes] | None
                try:
                    body = request.content or None
                except httpx.RequestNotRead:
                    # A stream (a multipart upload): httpx named its Content-Length
                    # when it knows it, which aiohttp then honours; otherwise aiohttp
                    # chunks it and writes the Transfer-Encoding header itself.
                    assert isinstance(request.stream, httpx.AsyncByteStream)
                    body = request.stream
                    headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
                if timeout.get("write") is not None and _may_stall(body):
                    deadline = _WriteDeadline(scope, timeout["write"])
                    body = deadline.timed(body)  # type: ignore[arg-type]
                with _mapped_errors(request):
                    response = await self._session.request(
                        request.method,
                        URL(str(request.url), encoded=True),  # as httpx encoded it
                        headers=headers,
                        data=body,
                        allow_redirects=False,
                        compress=False,
                        timeout=aiohttp.ClientTimeout(
                            total=None,
                            connect=timeout.get("pool"),
                            sock_connect=timeout.get("connect"),
                            sock_read=timeout.get("read"),
                        ),
                        server_hostname=_sni(request),
                    )
        except TimeoutError:
            if not scope.expired():  # pragma: no cover - every other timeout is mapped
                raise
            raise httpx.WriteTimeout(
                "Timed out while sending the request", request=request
            ) from None
        finally:
            if deadline is not None:
                deadline.close()
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


# aiohttp buffers this much of a body without waiting for the socket: a smaller body
# cannot stall while being written (the read timeout covers it from then on).
_UNBLOCKED_WRITE = 64 * 1024


def _may_stall(body: bytes | AsyncIterable[bytes] | None) -> bool:
    return body is not None and not (isinstance(body, bytes) and len(body) <= _UNBLOCKED_WRITE)


class _WriteDeadline:
    """httpx's write timeout, which aiohttp lacks: the body is handed to aiohttp piece
    by piece, and aiohttp asks for the next piece only once the previous one was
    written, so each piece re-arms ``scope`` (an ``asyncio.timeout`` around the
    request) and the last one disarms it. A server that stops reading the body then
    fails the request with :class:`httpx.WriteTimeout` after ``seconds``."""

    def __init__(self, scope: asyncio.Timeout, seconds: float) -> None:
        self._scope = scope
        self._seconds = seconds
        self._open = True  # False once the request returned: the scope is gone

    async def timed(self, body: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        pieces = _pieces(body) if isinstance(body, bytes) else body
        async for piece in pieces:
            if self._open:
                self._scope.reschedule(loop.time() + self._seconds)
            yield piece
        if self._open:
            self._scope.reschedule(None)

    def close(self) -> None:
        self._open = False


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(view), _UNBLOCKED_WRITE):
        yield bytes(view[start : start + _UNBLOCKED_WRITE])


class _ResponseStream(httpx.AsyncByteStream):
    """The body of an aiohttp response, read as it arrives; closing it gives the
    connection back to the pool (or closes it when the body was not read to its end)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


def _headers(request: httpx.Request) -> list[tuple[str, str]]:
    """httpx's headers in its order and case, repeated ones kept. A repeated name is
    spelled as its first occurrence: aiohttp compares names case-sensitively when it
    merges them, so ``X-Tag`` then ``x-tag`` would keep only the last value."""
    spelling: dict[bytes, str] = {}
    headers = []
    for name, value in request.headers.raw:
        shown = spelling.setdefault(name.lower(), name.decode("latin-1"))
        headers.append((shown, _header_value(value)))
    return headers


def _header_value(value: bytes) -> str:
    # aiohttp writes header text as UTF-8; httpx's bytes are ASCII in practice.
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _sni(request: httpx.Request) -> str | None:
    sni = request.extensions.get("sni_hostname")
    return sni.decode("ascii") if isinstance(sni, bytes) else sni


@contextmanager
def _mapped_errors(request: httpx.Request) -> Iterator[None]:
    """aiohttp's errors as the httpx errors httpcore raises for the same failure
    (``app.networks.http.send`` tells timeouts from other transport errors)."""
    try:
        yield
    except (DestinationRefused, httpx.HTTPError):
        raise
    except HostNotFound as exc:
        raise httpx.ConnectError(exc.message, request=request) from None
    except aiohttp.ClientError as exc:
        raise _httpx_error(exc, request) from exc
    except TimeoutError as exc:  # a bare asyncio timeout inside aiohttp
        raise httpx.ReadTimeout(str(exc) or "Timed out", request=request) from exc


def _httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for ``exc``; its message names at most the host and port, never
    the URL (Telegram and Discord carry their secret in the path)."""
    error: type[httpx.TransportError]
    message = str(exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error, message = httpx.ConnectTimeout, "Timed out while connecting"
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        error, message = httpx.ReadTimeout, "Timed out while reading the answer"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError  # refused, unreachable, TLS handshake or certificate
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        error, message = httpx.RemoteProtocolError, "Server disconnected without an answer"
    elif isinstance(exc, aiohttp.ClientResponseError):
        error, message = httpx.RemoteProtocolError, exc.message  # not HTTP; str() has the URL
    elif isinstance(exc, aiohttp.ClientPayloadError):
        error = httpx.RemoteProtocolError  # a body cut short or badly framed
    elif isinstance(exc, aiohttp.InvalidURL):
        error, message = httpx.UnsupportedProtocol, "This is not a valid web address."
    elif isinstance(exc, aiohttp.NonHttpUrlClientError):
        error, message = httpx.UnsupportedProtocol, "Only http:// and https:// are supported."
    else:  # ClientOSError and other connection errors while sending or reading
        error = httpx.ReadError
    return error(message, request=request)
