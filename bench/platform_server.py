"""The platform played for ``bench/publish_lag.py``: a small HTTP server in its own process.

    .venv/bin/python bench/platform_server.py [--port 0] [--latency 0.05]

It prints ``READY <port>`` when it listens. Every ``POST`` to any path other than
the control routes below is a publication, shaped like the generic webhook's
``post.published`` event (``app/networks/webhook.py``):

- the arrival time (wall clock, ``time.time()``) is taken when the whole request
  has been read, before the latency;
- the answer comes ``--latency`` seconds later (an event-loop timer, so thousands
  of requests wait at once: a network, not a slow server);
- ``Idempotency-Key`` is honoured: a key seen before gets the same answer and makes
  no new post (counted as a *replay*);
- a new key makes a post. Its *delivery id* is read from the body: the
  ``delivery=<id>`` word of ``post.text``. A second post of one delivery id (under
  another key) is a *duplicate*: this is what "published twice" means, whatever the
  keys said.

Control routes: ``POST /_reset`` forgets everything and restarts the CPU clock;
``GET /_count`` answers the number of distinct delivery ids posted (cheap, for
polling); ``GET /_stats`` answers everything as JSON, with the server's own CPU time
since the reset (``cpu_seconds``), from which the benchmark derives its capacity.

A raw ``asyncio.Protocol`` (on uvloop when installed) with keep-alive and no logging:
about 30–60 µs of CPU per publication on these machines, far below what a client
written in Python spends, so the server is never the bottleneck (the benchmark
prints how busy it was).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any

MARKER = re.compile(rb"delivery=([0-9A-Za-z_-]+)")


class Platform:
    """What the platform saw since the last reset."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.reset()

    def reset(self) -> None:
        self.answers: dict[bytes, bytes] = {}  # idempotency key -> the response
        self.posted: dict[bytes, float] = {}  # delivery id -> first arrival
        self.keys_of: dict[bytes, bytes] = {}  # delivery id -> its first key
        self.duplicates: list[list[Any]] = []  # [delivery id, arrival, key]
        self.requests = 0
        self.replays = 0
        self.unmarked = 0
        self.cpu_started = time.process_time()
        self.wall_started = time.time()

    def publish(self, headers: dict[bytes, bytes], body: bytes) -> bytes:
        arrival = time.time()
        self.requests += 1
        key = headers.get(b"idempotency-key", b"")
        if key and key in self.answers:
            self.replays += 1
            return self.answers[key]
        found = MARKER.search(body)
        if found is None:
            self.unmarked += 1
            return _response(400, b'{"error":"no delivery=<id> in the text"}')
        delivery = found.group(1)
        number = len(self.answers) + 1
        answer = _response(200, b'{"id":"p%d","url":"http://127.0.0.1/p/%d"}' % (number, number))
        if key:
            self.answers[key] = answer
        if delivery in self.posted:
            self.duplicates.append([delivery.decode(), arrival, key.decode()])
        else:
            self.posted[delivery] = arrival
            self.keys_of[delivery] = key
        return answer

    def stats(self) -> dict[str, Any]:
        return {
            "arrivals": {d.decode(): t for d, t in self.posted.items()},
            "duplicates": self.duplicates,
            "requests": self.requests,
            "replays": self.replays,
            "unmarked": self.unmarked,
            "cpu_seconds": time.process_time() - self.cpu_started,
            "wall_seconds": time.time() - self.wall_started,
        }


def _response(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"OK")
    return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (
        status,
        reason,
        content_type,
        len(body),
        body,
    )


class Connection(asyncio.Protocol):
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path = head[0].split(b" ")[:2]
            self.handle(method, path, headers, body)

    def handle(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> None:
        platform = self.platform
        if path == b"/_count":
            self.send(_response(200, b"%d" % len(platform.posted), b"text/plain"))
        elif path == b"/_stats":
            self.send(_response(200, json.dumps(platform.stats()).encode()))
        elif path == b"/_reset" and method == b"POST":
            platform.reset()
            self.send(_response(200, b"{}"))
        elif method == b"POST":
            answer = platform.publish(headers, body)
            self.loop.call_later(platform.latency, self.send, answer)
        else:
            self.send(_response(404, b'{"error":"not found"}'))

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(port: int, latency: float) -> None:
    platform = Platform(latency)
    server = await asyncio.get_running_loop().create_server(
        lambda: Connection(platform), "127.0.0.1", port, backlog=4096
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(serve(args.port, args.latency))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
