"""A platform played on 127.0.0.1 for the fault tests, and its adapter.

The platform honours ``Idempotency-Key`` (a second request with a known key gets
the first post back) and counts posts by the delivery id carried in the body, so
duplicates are counted whatever the key. ``faults`` decides each publishing
request's fate: ``"ok"``, ``"5xx"``, ``"timeout"`` (the post is created, the answer
comes too late) or ``"429"`` (with a reset ``reset_after`` seconds ahead).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse

from app.networks.base import (
    Network,
    PublishRequest,
    PublishResult,
    RateLimitedError,
    TransientError,
)
from app.networks.http import send
from tests.contract.harness import FakePlatform

CLIENT_TIMEOUT = 0.5


class LoopbackPlatform(FakePlatform):
    def __init__(self, fault: Callable[[], str] = lambda: "ok") -> None:
        super().__init__()
        self.fault = fault
        self.by_key: dict[str, str] = {}
        self.count = Counter[str]()
        self.arrivals: list[tuple[float, str]] = []  # (time.time(), channel)
        self.reset_after = 2.0

        @self.app.post("/posts")
        async def create(request: Request) -> JSONResponse:
            body = await request.json()
            self.arrivals.append((time.time(), body["channel"]))
            fate = self.fault()
            if fate == "5xx":
                return JSONResponse({"error": "unavailable"}, status_code=503)
            if fate == "429":
                reset = time.time() + self.reset_after
                return JSONResponse(
                    {"error": "slow down"}, status_code=429, headers={"x-reset": str(reset)}
                )
            key = request.headers["idempotency-key"]
            if key not in self.by_key:
                self.by_key[key] = body["delivery"]
                self.count[body["delivery"]] += 1
            if fate == "timeout":
                await asyncio.sleep(CLIENT_TIMEOUT * 3)
            return JSONResponse({"id": key})


class LoopbackAdapter:
    """Publishes to the loopback platform named in the credentials (``url``)."""

    network = Network.webhook
    idempotency_window: timedelta | None = timedelta(hours=1)

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def publish(self, request: PublishRequest, checkpoint: Any) -> PublishResult:
        response = await send(
            self.http,
            "POST",
            f"{request.credentials['url']}/posts",
            network="loopback",
            json={"delivery": request.text, "channel": request.channel_id},
            headers={"Idempotency-Key": request.idempotency_key},
            timeout=CLIENT_TIMEOUT,
        )
        if response.status_code == 429:
            until = datetime.fromtimestamp(float(response.headers["x-reset"]), UTC)
            raise RateLimitedError("loopback: rate limited", until=until)
        if response.status_code >= 500:
            raise TransientError(f"loopback answered HTTP {response.status_code}")
        return PublishResult(external_id=response.json()["id"])

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        return None

    async def verify(self, credentials: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        raise NotImplementedError

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Any:
        raise NotImplementedError


def flaky(rate_5xx: float, rate_timeout: float, seed: int = 6) -> Callable[[], str]:
    rng = random.Random(seed)

    def fate() -> str:
        roll = rng.random()
        if roll < rate_5xx:
            return "5xx"
        if roll < rate_5xx + rate_timeout:
            return "timeout"
        return "ok"

    return fate
