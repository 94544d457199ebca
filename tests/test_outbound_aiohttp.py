"""The aiohttp transport under ``new_client`` (app/net/aio.py), against real servers
on 127.0.0.1.

The server here is raw asyncio, so a test sees the request's bytes as they came
over the wire (names, order, repeats, framing) and can misbehave on purpose: never
answer, close halfway through a body.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import gc
import gzip
import os
import socket
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from app.net import outbound
from app.net.aio import GuardedAiohttpTransport, GuardedResolver
from app.net.outbound import DestinationRefused, HostNotFound, new_client
from tests.test_outbound import fake_dns, loopback_one_is_public


@dataclass
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: list[tuple[str, str]]  # as sent: names in their case, repeats kept
    body: bytes
    chunked: bool

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


# What the server does with a request: the bytes to answer, or None to say nothing.
Handler = Callable[[Received, asyncio.StreamWriter], Awaitable[bytes | None]]


def answer(
    status: str = "200 OK", body: bytes = b"ok", headers: list[tuple[str, str]] | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def say_ok(request: Received, writer: asyncio.StreamWriter) -> bytes | None:
    return answer()


@dataclass
class RawServer:
    port: int
    requests: list[Received] = field(default_factory=list)
    connections: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _read_request(reader: asyncio.StreamReader) -> Received:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    method, target, _version = head[0].split(" ", 2)
    headers = [tuple(line.split(": ", 1)) for line in head[1:] if line]
    request = Received(method, target, headers, b"", chunked=False)  # type: ignore[arg-type]
    if "chunked" in ",".join(request.values("Transfer-Encoding")).lower():
        request.chunked = True
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            request.body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
    elif lengths := request.values("Content-Length"):
        request.body = await reader.readexactly(int(lengths[0]))
    return request


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    """``await serve(handler)``: a keep-alive HTTP/1.1 server on 127.0.0.1. Handlers
    that stall are cancelled when the test ends."""
    servers: list[asyncio.Server] = []
    handlers: list[asyncio.Task[None]] = []

    async def start(handler: Handler) -> RawServer:
        raw: RawServer

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            raw.connections += 1
            handlers.append(asyncio.current_task())  # type: ignore[arg-type]
            try:
                while True:
                    try:
                        request = await _read_request(reader)
                    except asyncio.IncompleteReadError:
                        return  # the client closed the connection
                    raw.requests.append(request)
                    response = await handler(request, writer)
                    if response is None:
                        return
                    writer.write(response)
                    await writer.drain()
            finally:
                writer.close()

        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        servers.append(server)
        raw = RawServer(port=server.sockets[0].getsockname()[1])
        return raw

    yield start
    for handler in handlers:
        handler.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for server in servers:
        server.close()
        await server.wait_closed()


def transport(allow_private: bool = True, **kwargs: object) -> GuardedAiohttpTransport:
    return GuardedAiohttpTransport(allow_private=allow_private, **kwargs)  # type: ignore[arg-type]


# -- what goes out -------------------------------------------------------------------


async def test_the_request_carries_exactly_the_headers_httpx_built(serve) -> None:
    server = await serve(say_ok)
    async with new_client(allow_private=True) as client:
        request = client.build_request(
            "GET",
            f"{server.url}/path/%7Ekept%2Fencoded?q=a%20b&q=c+d",
            headers=[("X-Tag", "first"), ("x-tag", "second"), ("Accept", "application/json")],
        )
        response = await client.send(request)
    assert response.status_code == 200
    received = server.requests[0]
    # Percent-escapes as httpx wrote them: aiohttp must not re-quote the URL.
    assert received.target == "/path/%7Ekept%2Fencoded?q=a%20b&q=c+d"
    # The same names, values, order and repeats as httpx's request: no header of
    # aiohttp's own (its User-Agent, Accept, Accept-Encoding) added or replacing one.
    assert [(name.lower(), value) for name, value in received.headers] == [
        (name.decode().lower(), value.decode()) for name, value in request.headers.raw
    ]
    assert received.values("X-Tag") == ["first", "second"]
    assert received.values("User-Agent") == [outbound.USER_AGENT]
    assert received.values("Accept") == ["application/json"]
    assert received.values("Accept-Encoding") == [request.headers["Accept-Encoding"]]


async def test_a_json_body_is_sent_once_with_httpx_framing(serve) -> None:
    server = await serve(say_ok)
    async with new_client(allow_private=True) as client:
        request = client.build_request("POST", f"{server.url}/statuses", json={"status": "héllo"})
        await client.send(request)
        await client.post(f"{server.url}/empty")
    sent, empty = server.requests
    assert sent.body == request.content == '{"status":"héllo"}'.encode()
    assert sent.values("Content-Length") == [str(len(sent.body))]
    assert sent.values("Content-Type") == ["application/json"]
    assert sent.values("Transfer-Encoding") == []
    assert empty.body == b""
    assert empty.values("Content-Length") == ["0"]
    # aiohttp would add application/octet-stream to a POST that has none.
    assert empty.values("Content-Type") == []


async def test_repeated_response_headers_are_kept(serve) -> None:
    async def links(request: Received, writer: asyncio.StreamWriter) -> bytes:
        headers = [("Link", "</page/2>; rel=next"), ("Link", "</page/9>; rel=last")]
        return answer("201 Made It", headers=headers)

    server = await serve(links)
    async with new_client(allow_private=True) as client:
        response = await client.get(f"{server.url}/statuses")
    assert response.status_code == 201
    assert response.reason_phrase == "Made It"
    assert response.http_version == "HTTP/1.1"
    assert response.headers.get_list("link") == ["</page/2>; rel=next", "</page/9>; rel=last"]


async def test_connections_are_kept_alive_and_reused(serve) -> None:
    server = await serve(say_ok)
    async with new_client(allow_private=True) as client:
        for _ in range(3):
            assert (await client.get(f"{server.url}/again")).text == "ok"
    assert len(server.requests) == 3
    assert server.connections == 1


# -- memory -----------------------------------------------------------------------------


async def test_an_answer_is_freed_without_the_garbage_collector(serve) -> None:
    """httpx binds a response's body stream to the response, a cycle; the client undoes
    it once the body is read, so each answer of a busy scheduler is freed when dropped
    instead of waiting for a collection. A streamed answer still streams."""
    server = await serve(say_ok)
    async with new_client(allow_private=True) as client:
        gc.disable()
        try:
            response = await client.get(f"{server.url}/answer")
            assert response.text == "ok"
            assert response.elapsed > timedelta(0)
            assert response.is_closed
            gone = weakref.ref(response)
            del response
            assert gone() is None
        finally:
            gc.enable()
        async with client.stream("GET", f"{server.url}/streamed") as streamed:
            assert b"".join([chunk async for chunk in streamed.aiter_bytes()]) == b"ok"


# -- cookies ---------------------------------------------------------------------------


async def cookie_setter(request: Received, writer: asyncio.StreamWriter) -> bytes:
    if request.target == "/login":
        return answer(headers=[("Set-Cookie", "session=account-a; Path=/")])
    return answer()


async def test_the_transport_keeps_no_cookies(serve) -> None:
    server = await serve(cookie_setter)
    guarded = transport()
    try:
        login = await guarded.handle_async_request(httpx.Request("GET", f"{server.url}/login"))
        assert login.headers["set-cookie"] == "session=account-a; Path=/"
        await login.aclose()
        await (
            await guarded.handle_async_request(httpx.Request("GET", f"{server.url}/me"))
        ).aclose()
    finally:
        await guarded.aclose()
    assert server.requests[1].values("Cookie") == []


async def test_the_client_keeps_no_cookies_between_requests(serve) -> None:
    """One client serves every workspace's channels: a cookie one account's answer
    set never goes out with the next request (anyone's). The answer still shows it,
    and a Cookie header a caller writes is sent as written."""
    server = await serve(cookie_setter)
    async with new_client(allow_private=True) as client:
        login = await client.get(f"{server.url}/login")
        assert login.cookies["session"] == "account-a"
        await client.get(f"{server.url}/me")
        await client.get(f"{server.url}/me", headers={"Cookie": "chosen=1"})
        assert not client.cookies
        with pytest.raises(AttributeError, match="keeps no cookies"):
            client.cookies = {"session": "account-a"}
        with pytest.raises(TypeError, match="keeps no cookies"):
            client.cookies["session"] = "account-a"
    assert server.requests[1].values("Cookie") == []
    assert server.requests[2].values("Cookie") == ["chosen=1"]
    with pytest.raises(ValueError, match="keeps no cookies"):
        new_client(allow_private=True, cookies={"session": "account-a"})


# -- bodies ----------------------------------------------------------------------------


async def test_a_streamed_multipart_upload_arrives_intact(serve, tmp_path: Path) -> None:
    picture = tmp_path / "big.png"
    picture.write_bytes(os.urandom(700_000))  # several chunks of httpx's stream
    server = await serve(say_ok)
    async with new_client(allow_private=True) as client:
        with picture.open("rb") as file:
            request = client.build_request(
                "POST",
                f"{server.url}/media",
                data={"description": "a pixel"},
                files={"file": ("big.png", file, "image/png")},
            )
            with pytest.raises(httpx.RequestNotRead):
                request.content  # noqa: B018 - it is a stream, not bytes
            response = await client.send(request)
    assert response.status_code == 200
    received = server.requests[0]
    assert received.values("Content-Length") == [str(len(received.body))]
    assert received.values("Content-Length") == [request.headers["Content-Length"]]
    assert received.values("Transfer-Encoding") == []
    assert not received.chunked
    content_type = received.values("Content-Type")
    assert len(content_type) == 1 and content_type[0].startswith("multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type[0]}\r\n\r\n".encode() + received.body
    )
    parts = {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }
    assert parts["description"].get_content() == "a pixel"
    assert parts["file"].get_content_type() == "image/png"
    assert parts["file"].get_payload(decode=True) == picture.read_bytes()


async def test_a_body_of_unknown_length_is_chunked_once(serve) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"one,", b"two,", b"three"):
            yield piece

    server = await serve(say_ok)
    async with new_client(allow_private=True) as client:
        response = await client.post(f"{server.url}/stream", content=pieces())
    assert response.status_code == 200
    received = server.requests[0]
    assert received.body == b"one,two,three"
    assert received.chunked
    assert received.values("Transfer-Encoding") == ["chunked"]
    assert received.values("Content-Length") == []


async def test_a_gzip_answer_is_decoded_once_by_httpx(serve) -> None:
    text = "déjà vu " * 500
    compressed = gzip.compress(text.encode())

    async def zipped(request: Received, writer: asyncio.StreamWriter) -> bytes:
        return answer(body=compressed, headers=[("Content-Encoding", "gzip")])

    server = await serve(zipped)
    async with new_client(allow_private=True) as client:
        response = await client.get(f"{server.url}/feed")
        streamed = client.build_request("GET", f"{server.url}/feed")
        raw = await client.send(streamed, stream=True)
        raw_bytes = b"".join([chunk async for chunk in raw.aiter_raw()])
        await raw.aclose()
    assert response.text == text
    assert response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded == len(compressed)
    assert raw_bytes == compressed  # what the transport hands httpx: still compressed


# -- failures ----------------------------------------------------------------------------


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    async with new_client(allow_private=True) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{port}/hook/secret-path")
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert "secret-path" not in str(caught.value)


async def test_a_server_that_never_answers_is_a_read_timeout(serve) -> None:
    async def silent(request: Received, writer: asyncio.StreamWriter) -> bytes | None:
        await asyncio.sleep(30)
        return None

    server = await serve(silent)
    async with new_client(allow_private=True, timeout=httpx.Timeout(0.3)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"{server.url}/slow", json={"a": 1})
    assert 0.25 < time.monotonic() - started < 2.0


async def test_a_slow_body_is_a_read_timeout_too(serve) -> None:
    async def stalls(request: Received, writer: asyncio.StreamWriter) -> bytes | None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await asyncio.sleep(30)
        return None

    server = await serve(stalls)
    async with new_client(allow_private=True, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{server.url}/slow")


async def test_a_server_that_stops_reading_the_body_is_a_write_timeout() -> None:
    """aiohttp has no write timeout of its own; the transport applies httpx's."""
    heads: list[bytes] = []
    stalls: list[asyncio.Task[None]] = []

    async def reads_the_head_only(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        stalls.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            await asyncio.sleep(60)  # reads nothing more: the body backs up to the client
        finally:
            writer.close()

    server = await asyncio.start_server(reads_the_head_only, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/upload"
    big = b"x" * (64 * 1024 * 1024)  # more than loopback's socket buffers take in
    sent_all = asyncio.Event()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(256):
            yield b"y" * (256 * 1024)
        sent_all.set()

    try:
        timeout = httpx.Timeout(5.0, write=0.3)
        async with new_client(allow_private=True, timeout=timeout) as client:
            for content in (big, stream()):
                started = time.monotonic()
                with pytest.raises(httpx.WriteTimeout):
                    await client.put(url, content=content)
                assert time.monotonic() - started < 4.0
    finally:
        for stall in stalls:
            stall.cancel()
        await asyncio.gather(*stalls, return_exceptions=True)
        server.close()
        await server.wait_closed()
    assert len(heads) == 2
    assert not sent_all.is_set()


async def test_a_server_that_closes_mid_answer_is_a_transport_error(serve) -> None:
    async def cut_short(request: Received, writer: asyncio.StreamWriter) -> bytes | None:
        if request.target == "/nothing":
            return None  # closes before any answer
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()
        return None

    server = await serve(cut_short)
    async with new_client(allow_private=True, timeout=httpx.Timeout(5.0)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError) as body_cut:
            await client.post(f"{server.url}/body", content=b"x")
        with pytest.raises(httpx.RemoteProtocolError) as no_answer:
            await client.post(f"{server.url}/nothing", content=b"x")
    assert time.monotonic() - started < 2.0  # seen at once, not after a timeout
    for caught in (body_cut, no_answer):
        assert isinstance(caught.value, httpx.TransportError)
        assert not isinstance(caught.value, httpx.TimeoutException)


async def test_a_dropped_request_is_not_sent_again(serve) -> None:
    """As with httpx's own transport, nothing is retried behind the caller's back
    (aiohttp would send an idempotent request a second time)."""

    async def hang_up(request: Received, writer: asyncio.StreamWriter) -> bytes | None:
        return None

    server = await serve(hang_up)
    async with new_client(allow_private=True) as client:
        for method in ("GET", "PUT", "DELETE"):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.request(method, f"{server.url}/item/1")
    assert [r.method for r in server.requests] == ["GET", "PUT", "DELETE"]


async def test_waiting_for_a_free_connection_times_out_as_a_connect_timeout(serve) -> None:
    """httpx's pool timeout bounds the wait for a connection (aiohttp's ``connect``)."""

    async def slow_body(request: Received, writer: asyncio.StreamWriter) -> bytes | None:
        if request.target != "/a":
            return answer()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await asyncio.sleep(30)  # the body never ends: the connection stays taken
        return None

    server = await serve(slow_body)
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with new_client(allow_private=True, limits=limits, timeout=timeout) as client:
        held = await client.send(client.build_request("GET", f"{server.url}/a"), stream=True)
        with pytest.raises(httpx.ConnectTimeout):
            await client.get(f"{server.url}/b")
        await held.aclose()
        assert (await client.get(f"{server.url}/c")).status_code == 200


async def test_an_answer_that_is_not_http_is_a_protocol_error(serve) -> None:
    async def garbage(request: Received, writer: asyncio.StreamWriter) -> bytes:
        return b"SSH-2.0-OpenSSH_9.6\r\n\r\n"

    server = await serve(garbage)
    async with new_client(allow_private=True) as client:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.get(f"{server.url}/bot123:secret/sendMessage")
    assert "secret" not in str(caught.value)


# -- the guard -------------------------------------------------------------------------


async def test_a_private_address_is_refused_before_connecting(serve) -> None:
    server = await serve(say_ok)
    guarded = transport(allow_private=False)
    try:
        with pytest.raises(DestinationRefused, match="loopback"):
            await guarded.handle_async_request(httpx.Request("GET", f"{server.url}/"))
    finally:
        await guarded.aclose()
    assert server.connections == 0


async def test_rebinding_between_check_and_connect_is_refused(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check sees a public address; aiohttp's resolver, asked next, sees 127.0.0.1."""
    server = await serve(say_ok)
    asked = fake_dns(monkeypatch, {"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]})
    guarded = transport(allow_private=False)
    try:
        with pytest.raises(DestinationRefused, match=r"rebind\.example \(127\.0\.0\.1\)"):
            await guarded.handle_async_request(
                httpx.Request("GET", f"http://rebind.example:{server.port}/")
            )
    finally:
        await guarded.aclose()
    assert asked == ["rebind.example", "rebind.example"]
    assert server.connections == 0


async def test_the_connection_goes_to_the_checked_address(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback_one_is_public(monkeypatch)
    monkeypatch.setattr(outbound, "_RECENT", outbound.RecentAnswers(seconds=0.2))
    server = await serve(say_ok)
    answers = [["127.0.0.1"], ["127.0.0.1"], ["127.0.0.2"]]  # check, connect, check
    asked = fake_dns(monkeypatch, {"outbox.example": answers})
    async with new_client(allow_private=False) as client:
        response = await client.get(f"http://outbox.example:{server.port}/hi")
        assert response.status_code == 200
        assert server.requests[0].values("Host") == [f"outbox.example:{server.port}"]
        # While the check's answer is kept, the next request goes to the same checked
        # address without asking the DNS again.
        assert (await client.get(f"http://outbox.example:{server.port}/soon")).text == "ok"
        assert asked == ["outbox.example", "outbox.example"]
        # The name now answers 127.0.0.2: aiohttp's DNS cache still holds the checked
        # 127.0.0.1, but once the check's answer is old the request is checked again
        # first, and refused.
        await asyncio.sleep(0.25)
        with pytest.raises(DestinationRefused, match=r"outbox\.example \(127\.0\.0\.2\)"):
            await client.get(f"http://outbox.example:{server.port}/again")
    assert asked == ["outbox.example", "outbox.example", "outbox.example"]
    assert len(server.requests) == 2


async def test_a_name_gone_at_connect_time_is_a_connect_error(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await serve(say_ok)
    answers = [["127.0.0.1"]]

    async def resolve(host: str, port: int) -> list[str]:
        if not answers:
            raise HostNotFound(f"The host {host} could not be found (no DNS answer).")
        return answers.pop()

    monkeypatch.setattr(outbound, "resolve", resolve)
    async with new_client(allow_private=True) as client:
        with pytest.raises(httpx.ConnectError, match=r"flaky\.example could not be found"):
            await client.get(f"http://flaky.example:{server.port}/")
    assert server.connections == 0


async def test_the_resolver_hands_aiohttp_checked_addresses_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(
        monkeypatch,
        {
            "dual.example": [["93.184.216.34", "2606:4700:4700::1111"]],
            "lan.example": [["10.0.0.7"]],
        },
    )
    public = GuardedResolver(allow_private=False)
    answers = await public.resolve("dual.example", 443)
    assert [(a["host"], a["family"], a["port"]) for a in answers] == [
        ("93.184.216.34", socket.AF_INET, 443),
        ("2606:4700:4700::1111", socket.AF_INET6, 443),
    ]
    assert all(a["hostname"] == "dual.example" for a in answers)
    only_v6 = await public.resolve("dual.example", 443, family=socket.AF_INET6)
    assert [a["host"] for a in only_v6] == ["2606:4700:4700::1111"]
    with pytest.raises(DestinationRefused, match="private"):
        await public.resolve("lan.example", 443)
    assert [
        a["host"] for a in await GuardedResolver(allow_private=True).resolve("lan.example", 80)
    ] == ["10.0.0.7"]
    with pytest.raises(HostNotFound):
        await public.resolve("missing.example", 443)


async def test_redirects_are_followed_by_httpx_through_the_guard(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback_one_is_public(monkeypatch)

    async def redirects(request: Received, writer: asyncio.StreamWriter) -> bytes:
        if request.target.startswith("/go?to="):
            return answer("302 Found", b"", [("Location", request.target.removeprefix("/go?to="))])
        return answer(body=b"landed")

    server = await serve(redirects)
    private = f"http://127.0.0.2:{server.port}/admin"
    async with new_client(allow_private=False) as client:
        # Not followed unless asked: aiohttp hands the 302 over as it is.
        unfollowed = await client.get(f"{server.url}/go?to=/landing")
        assert unfollowed.status_code == 302
        followed = await client.get(f"{server.url}/go?to=/landing", follow_redirects=True)
        assert followed.text == "landed"
        assert [r.status_code for r in followed.history] == [302]
        with pytest.raises(DestinationRefused, match=r"127\.0\.0\.2: it is a loopback"):
            await client.get(f"{server.url}/go?to={private}", follow_redirects=True)
    assert [r.target for r in server.requests] == [
        "/go?to=/landing",
        "/go?to=/landing",
        "/landing",
        f"/go?to={private}",
    ]


async def test_the_session_is_made_on_first_use_and_closed_with_the_client(serve) -> None:
    server = await serve(say_ok)
    client = new_client(allow_private=True)
    guarded = client._transport
    assert isinstance(guarded, GuardedAiohttpTransport)
    assert guarded._session is None
    await client.get(f"{server.url}/")
    session = guarded._session
    assert session is not None and not session.closed
    assert session.cookie_jar.__class__.__name__ == "DummyCookieJar"
    assert session.trust_env is False
    await client.aclose()
    assert session.closed
    assert guarded._session is None
