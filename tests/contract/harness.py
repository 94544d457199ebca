"""The contract harness: platforms played on 127.0.0.1 by the tests.

Each network has one module in ``tests/contract/platforms/`` that builds a
:class:`FakePlatform` subclass (a FastAPI app that behaves as the platform
documents: auth headers and body shape checked, the real success and error bodies,
rate-limit headers in the network's own format; each response notes its source)
and two module-level functions: ``make_platform() -> FakePlatform`` (not started)
and ``case(platform) -> ContractCase`` (called once the platform listens).
``tests/contract/test_contract_suite.py`` runs the same suite against every one.

Faults are injected per request: ``platform.inject(Fault.rate_limited)`` makes the
next *publishing* request (the call that creates the post) answer as the network
answers that fault. ``Fault.timeout`` is special: the platform does the work (the
post is created) but answers only after ``TIMEOUT_DELAY`` seconds, so the client
times out although the post exists: the case an idempotency key is for.

The network test modules (``test_<network>.py``) share their set-up from here too:
``platform = platform_fixture(FakeX)`` serves the module's platform, an ``adapter``
fixture builds its adapter on :func:`adapter_client`, and :class:`Checkpoints` /
:func:`no_checkpoint` stand in for the publisher's checkpoint callback.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.net.outbound import new_client
from app.networks.base import MediaItem, Network, NetworkAdapter

# The adapters' client times out well before the platform answers a `timeout` fault.
CLIENT_TIMEOUT = httpx.Timeout(1.0, connect=1.0)
TIMEOUT_DELAY = 2.0
# A small picture the tests publish.
PNG = str(Path(__file__).resolve().parents[1] / "data" / "pixel.png")
PNG_BYTES = Path(PNG).read_bytes()


class Fault(StrEnum):
    rate_limited = "rate_limited"  # the network's 429 (or its own code) with its reset
    validation = "validation"  # the network refuses the content (4xx, its error body)
    server_error = "server_error"  # a 5xx
    timeout = "timeout"  # the post is created, the answer comes too late
    expired = "expired"  # the token was revoked / expired (401 or the network's code)


@dataclass
class PublishedPost:
    """What the platform holds for one created post (read back by the suite)."""

    text: str
    media: list[dict[str, Any]] = field(default_factory=list)  # each with at least "alt"
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class FakePlatform:
    """Base of the platforms played by the tests. Subclasses add routes to ``self.app``
    in ``__init__`` and call :meth:`fault_for_publish` in the route that creates a post."""

    # The message the platform returns for Fault.validation; the adapter's
    # PermanentError must carry it (so a person sees the network's words).
    validation_message = "Validation failed: Text character limit of 500 exceeded"

    def __init__(self) -> None:
        self.app = FastAPI()
        self.faults: deque[Fault] = deque()
        self.posts: dict[str, PublishedPost] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path), in order
        # When Fault.rate_limited was answered: the reset the platform named.
        self.rate_limit_reset: datetime | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

        @self.app.middleware("http")
        async def record(request, call_next):  # type: ignore[no-untyped-def]
            self.requests.append((request.method, request.url.path))
            return await call_next(request)

    # -- faults ----------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def take_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else None

    async def fault_for_publish(self) -> Fault | None:
        """The fault to answer with now; sleeps first for Fault.timeout (the caller
        then creates the post as usual and answers late)."""
        fault = self.take_fault()
        if fault is Fault.timeout:
            await asyncio.sleep(TIMEOUT_DELAY)
        return fault

    def live_posts(self) -> list[PublishedPost]:
        return [post for post in self.posts.values() if not post.deleted]

    # -- lifecycle ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        self.faults.clear()
        self.posts.clear()
        self.requests.clear()
        self.rate_limit_reset = None


@dataclass
class ContractCase:
    """One network's side of the shared suite."""

    network: Network
    platform: FakePlatform
    # Builds the adapter on the given client, pointed at the platform's URL.
    make_adapter: Callable[[httpx.AsyncClient], NetworkAdapter]
    credentials: dict[str, Any]
    # Strings that must never appear in any captured log line (tokens, bot tokens,
    # webhook URLs with their secret, passwords).
    secrets: list[str]
    # The handle verify() must return for ``credentials``.
    handle: str
    # A picture to publish in the media test (the suite passes its own file).
    media_mime_type: str = "image/png"
    # False where the network's API has no take-down (the adapter then raises
    # PermanentError with a sentence that says so).
    supports_take_down: bool = True
    # True where text alone cannot be published (Instagram): every request of the
    # suite then carries the media item.
    requires_media: bool = False
    # Limits to pass in PublishRequest.limits (e.g. a Telegram chat id lives in credentials).
    limits: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    notes: str = ""
    media_item: Callable[[str], MediaItem] | None = None


# -- set-up shared by the network test modules ---------------------------------------

Platform = TypeVar("Platform", bound=FakePlatform)


def platform_fixture(make: Callable[[], Platform]) -> Any:
    """A module-scoped ``platform`` fixture: ``make()`` listening on 127.0.0.1 while
    the module's tests run (``platform = platform_fixture(FakeX)``)."""

    @pytest.fixture(scope="module", name="platform")
    def serve() -> Iterator[Platform]:
        platform = make()
        platform.start()
        try:
            yield platform
        finally:
            platform.stop()

    return serve


@asynccontextmanager
async def adapter_client(platform: FakePlatform) -> AsyncIterator[httpx.AsyncClient]:
    """The platform emptied of earlier tests' posts and faults, and the client an
    adapter under test is built on (loopback allowed, :data:`CLIENT_TIMEOUT`)."""
    platform.reset()
    async with new_client(allow_private=True, timeout=CLIENT_TIMEOUT) as http:
        yield http


class Checkpoints:
    """A checkpoint callback that records each save (a copy, as the publisher stores
    them): ``saved`` in order, ``state`` the latest, what a retry resumes from."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def __call__(self, ids: dict[str, Any]) -> None:
        self.saved.append(copy.deepcopy(ids))

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.saved[-1]) if self.saved else {}

    @property
    def calls(self) -> int:
        return len(self.saved)


async def no_checkpoint(ids: dict[str, Any]) -> None:
    """The checkpoint callback of tests that do not look at checkpoints."""
