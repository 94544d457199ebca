"""The guard on outgoing requests to user-given hosts.

No test connects anywhere but 127.0.0.1: refused destinations are refused before
any connection, public-looking ones are only checked, and the requests that do go
out go to a local server started here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from app.net import outbound
from app.net.aio import GuardedAiohttpTransport
from app.net.outbound import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    DestinationRefused,
    GuardedTransport,
    HostNotFound,
    check_public_url,
    check_url_shape,
    close_shared_client,
    new_client,
    refusal_reason,
    shared_client,
)

# -- a local server -----------------------------------------------------------------------


@dataclass
class LocalServer:
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """An HTTP server on 127.0.0.1: ``/redirect?to=URL`` answers 302, anything else 200."""
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Host", "")))
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect?to="))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"hello from 127.0.0.1"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(port=server.server_address[1], requests=seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> list[str]:
    """Replace resolution: each name answers its lists in turn (the last one repeats)."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in answers:
            raise HostNotFound(f"The host {host} could not be found (no DNS answer).")
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return asked


def loopback_one_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat 127.0.0.1 as a public address (the only place a test may connect to),
    while every other loopback address stays refused."""
    real = refusal_reason

    def patched(address: Any) -> str | None:
        return None if address == ipaddress.ip_address("127.0.0.1") else real(address)

    monkeypatch.setattr(outbound, "refusal_reason", patched)


# -- the check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.0.0.1:8000/admin", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://LocalHost/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
async def test_non_public_destinations_are_refused(url: str, reason: str) -> None:
    with pytest.raises(DestinationRefused) as caught:
        await check_public_url(url, allow_private=False)
    message = caught.value.message
    assert reason in message
    assert "ALMANAC_ALLOW_PRIVATE_HOSTS" in message
    assert message.startswith("Almanac does not send requests to ")


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/",
        "https://93.184.216.34:8443/api/v1/statuses",
        "https://[2606:4700:4700::1111]/",
        "http://[::ffff:93.184.216.34]/",
    ],
)
async def test_public_addresses_pass(url: str) -> None:
    await check_public_url(url, allow_private=False)


async def test_the_message_names_the_host_never_the_url() -> None:
    url = "http://10.0.0.1/bot123456:AAE-secret-part/sendMessage?token=query-secret"
    with pytest.raises(DestinationRefused) as caught:
        await check_public_url(url, allow_private=False)
    assert "10.0.0.1" in caught.value.message
    assert "secret" not in caught.value.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://localhost:8080/", "http://10.0.0.1/", "http://[::1]/"]
)
async def test_the_operator_may_allow_private_hosts(url: str) -> None:
    await check_public_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://93.184.216.34/file", "this one starts with ftp://"),
        ("file:///etc/passwd", "this one starts with file://"),
        ("gopher://93.184.216.34/", "this one starts with gopher://"),
        ("93.184.216.34/hook", "does not start with either"),
        ("https://user:pass@93.184.216.34/", "user name or password"),
        ("https://token@93.184.216.34/", "user name or password"),
        ("http:///path-only", "no host name"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
async def test_scheme_and_credentials_rules_always_apply(
    url: str, expected: str, allow_private: bool
) -> None:
    with pytest.raises(DestinationRefused) as caught:
        await check_public_url(url, allow_private=allow_private)
    assert expected in caught.value.message
    assert "pass" not in caught.value.message.replace("password", "")


async def test_every_address_of_a_name_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "social.example": [["93.184.216.34", "2606:4700:4700::1111"]],
            "intranet.example": [["10.1.2.3"]],
            "mixed.example": [["93.184.216.34", "10.0.0.1"]],
            "metadata.example": [["::ffff:169.254.169.254"]],
        },
    )
    await check_public_url("https://social.example/api/v2/instance", allow_private=False)
    for host, address in [
        ("intranet.example", "10.1.2.3"),
        ("mixed.example", "10.0.0.1"),
        ("metadata.example", "::ffff:169.254.169.254"),
    ]:
        with pytest.raises(DestinationRefused) as caught:
            await check_public_url(f"https://{host}/", allow_private=False)
        assert f"{host} ({address})" in caught.value.message
    with pytest.raises(HostNotFound, match="could not be found"):
        await check_public_url("https://nowhere.example/", allow_private=False)


async def test_resolution_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "127.0.0.1" in await outbound.resolve("localhost", 80)
    assert await outbound.resolve("93.184.216.34", 443) == ["93.184.216.34"]

    async def no_answer(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_answer)
    with pytest.raises(HostNotFound, match=r"The host typo\.example could not be found"):
        await outbound.resolve("typo.example", 443)


async def test_the_check_keeps_a_name_s_answer_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before every request a name is checked; its answer is kept ``seconds``, not
    asked of the DNS each time. The address rules still apply to each check, a name
    that did not resolve is asked again, and an old answer is asked again."""
    monkeypatch.setattr(outbound, "_RECENT", outbound.RecentAnswers(seconds=0.2))
    answers = [["93.184.216.34"], ["93.184.216.34"], ["10.0.0.5"]]
    asked = fake_dns(monkeypatch, {"hooks.example": answers})
    for _ in range(3):
        await check_public_url("https://hooks.example/a", allow_private=False)
    assert asked == ["hooks.example"]
    # Another port is another answer (getaddrinfo is asked per host and port).
    await check_public_url("https://hooks.example:8443/a", allow_private=False)
    assert asked == ["hooks.example", "hooks.example"]
    with pytest.raises(HostNotFound):
        await check_public_url("https://gone.example/a", allow_private=False)
    with pytest.raises(HostNotFound):
        await check_public_url("https://gone.example/a", allow_private=False)
    assert asked.count("gone.example") == 2
    await asyncio.sleep(0.25)
    with pytest.raises(DestinationRefused, match=r"hooks\.example \(10\.0\.0\.5\)"):
        await check_public_url("https://hooks.example/a", allow_private=False)
    # A kept private answer is refused or allowed by each caller's own rule.
    await check_public_url("https://hooks.example/a", allow_private=True)
    with pytest.raises(DestinationRefused):
        await check_public_url("https://hooks.example/a", allow_private=False)
    assert asked.count("hooks.example") == 3


async def test_literal_addresses_skip_getaddrinfo_but_not_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    real = asyncio.get_running_loop().getaddrinfo

    async def counting(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", counting)
    assert await outbound.resolve("93.184.216.34", 443) == ["93.184.216.34"]
    assert await outbound.resolve("::FFFF:5DB8:D822", 443) == ["::ffff:5db8:d822"]
    assert asked == []
    with pytest.raises(DestinationRefused, match="loopback"):
        await check_public_url("http://127.0.0.1:8080/hook", allow_private=False)
    with pytest.raises(DestinationRefused, match="loopback"):
        await check_public_url("http://[::ffff:127.0.0.1]/hook", allow_private=False)
    assert asked == []
    # What only getaddrinfo reads as an address still goes through it (and is checked).
    with pytest.raises(DestinationRefused, match="loopback"):
        await check_public_url("http://127.1/hook", allow_private=False)
    assert asked == ["127.1"]


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("93.184.216.34", False),
        ("2001:4860:4860::8888", False),
        ("127.0.0.53", True),
        ("10.255.255.255", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.0.2.1", True),  # documentation
        ("198.18.0.1", True),  # benchmarking
        ("255.255.255.255", True),
        ("::ffff:8.8.8.8", False),
        ("::127.0.0.1", True),  # the deprecated IPv4-compatible form
        ("2001:db8::1", True),  # documentation
    ],
)
def test_refusal_reason(address: str, refused: bool) -> None:
    assert (refusal_reason(ipaddress.ip_address(address)) is not None) is refused


# -- the transports --------------------------------------------------------------------------

MakeClient = Callable[..., httpx.AsyncClient]


def httpcore_client(*, allow_private: bool, **kwargs: Any) -> httpx.AsyncClient:
    """What :func:`new_client` made before its default moved to aiohttp: the same
    client on :class:`GuardedTransport` (httpcore), which stays supported."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    kwargs.setdefault("headers", {"User-Agent": USER_AGENT})
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private), trust_env=False, **kwargs
    )


@pytest.fixture(params=["aiohttp", "httpcore"])
def make_client(request: pytest.FixtureRequest) -> MakeClient:
    """Each transport test runs on the default (:func:`new_client`, aiohttp) and on
    :class:`GuardedTransport` (httpcore)."""
    return new_client if request.param == "aiohttp" else httpcore_client


async def test_an_allowed_request_goes_out(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    async with make_client(allow_private=True) as client:
        response = await client.get(f"{local_server.url}/ping")
    assert response.status_code == 200
    assert response.text == "hello from 127.0.0.1"
    assert [path for path, _ in local_server.requests] == ["/ping"]


async def test_a_refused_request_never_connects(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    async with make_client(allow_private=False) as client:
        with pytest.raises(DestinationRefused, match="loopback"):
            await client.get(f"{local_server.url}/ping")
        with pytest.raises(DestinationRefused, match="loopback"):
            await client.get(f"http://localhost:{local_server.port}/ping")
    assert local_server.requests == []


async def test_redirects_are_checked_too(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    target = f"http://user:secret@127.0.0.1:{local_server.port}/landing"
    async with make_client(allow_private=True, follow_redirects=True) as client:
        with pytest.raises(DestinationRefused, match="user name or password"):
            await client.get(f"{local_server.url}/redirect?to={target}")
    assert [path for path, _ in local_server.requests] == [f"/redirect?to={target}"]


async def test_a_redirect_to_a_private_address_is_refused(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    loopback_one_is_public(monkeypatch)
    target = f"http://127.0.0.2:{local_server.port}/admin"
    async with make_client(allow_private=False, follow_redirects=True) as client:
        ok = await client.get(f"{local_server.url}/ping")
        assert ok.status_code == 200
        with pytest.raises(DestinationRefused, match=r"127\.0\.0\.2: it is a loopback"):
            await client.get(f"{local_server.url}/redirect?to={target}")
    assert [path for path, _ in local_server.requests] == ["/ping", f"/redirect?to={target}"]


async def test_connections_go_to_the_checked_address(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    """The connection is opened to the address that passed the check, with the
    name kept for the Host header (and TLS's SNI)."""
    loopback_one_is_public(monkeypatch)
    asked = fake_dns(monkeypatch, {"outbox.example": [["127.0.0.1"]]})
    async with make_client(allow_private=False) as client:
        response = await client.get(f"http://outbox.example:{local_server.port}/hi")
    assert response.status_code == 200
    assert local_server.requests == [("/hi", f"outbox.example:{local_server.port}")]
    # Checked once per request, and again when the connection is opened.
    assert asked == ["outbox.example", "outbox.example"]


async def test_dns_rebinding_is_refused_at_connect_time(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    """The name looks public when checked, then answers 127.0.0.1 when connecting."""
    fake_dns(monkeypatch, {"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]})
    async with make_client(allow_private=False) as client:
        with pytest.raises(DestinationRefused, match=r"rebind\.example \(127\.0\.0\.1\)"):
            await client.get(f"http://rebind.example:{local_server.port}/")
    assert local_server.requests == []


async def test_an_unknown_host_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    fake_dns(monkeypatch, {})
    async with make_client(allow_private=False) as client:
        with pytest.raises(httpx.ConnectError, match="could not be found"):
            await client.get("https://nowhere.example/")


@pytest.mark.parametrize("transport", [GuardedAiohttpTransport, GuardedTransport])
def test_the_transports_take_no_proxy_and_no_socket(transport: type) -> None:
    with pytest.raises(ValueError, match="no proxy"):
        transport(proxy="http://proxy.example:3128")
    with pytest.raises(ValueError, match="no proxy or socket"):
        transport(uds="/run/docker.sock")


async def test_the_client_ignores_environment_proxies(
    monkeypatch: pytest.MonkeyPatch, local_server: LocalServer, make_client: MakeClient
) -> None:
    # Port 9 (discard) has no listener: a request sent through the proxy would fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with make_client(allow_private=True) as client:
        assert client.trust_env is False
        assert client._mounts == {}
        assert client.timeout.connect == 5.0
        assert client.headers["user-agent"].startswith("Almanac/")
        response = await client.get(f"{local_server.url}/direct")
    assert response.status_code == 200
    assert [path for path, _ in local_server.requests] == ["/direct"]


async def test_the_default_transport_is_the_aiohttp_one() -> None:
    async with new_client(allow_private=False) as client:
        assert isinstance(client._transport, GuardedAiohttpTransport)
        assert client._transport.allow_private is False


async def test_one_shared_client_per_app() -> None:
    app = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(allow_private_hosts=True)))
    first = shared_client(app)
    assert shared_client(app) is first
    assert first._transport.allow_private is True  # type: ignore[attr-defined]
    await close_shared_client(app)
    assert first.is_closed
    assert app.state.http is None
    second = shared_client(app)
    assert second is not first
    await close_shared_client(app)
    await close_shared_client(app)  # closing twice is harmless


def test_a_url_shape_is_parsed_once_and_a_refusal_every_time() -> None:
    """Adapters check their channel's URL before every request: a good one is parsed
    once (the same parsed URL comes back), a refused one raises every time."""
    first = check_url_shape("https://hooks.example.org/a?b=1")
    assert check_url_shape("https://hooks.example.org/a?b=1") is first
    assert first.host == "hooks.example.org"
    for _ in range(2):
        with pytest.raises(DestinationRefused, match="user name or password"):
            check_url_shape("https://user:secret@hooks.example.org/")
