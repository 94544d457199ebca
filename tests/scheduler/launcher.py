"""Real processes for the multi-process fault tests.

- :class:`PlatformServer`: ``bench/platform_server.py`` (the benchmark's platform) in
  its own process: it answers every ``POST`` after a fixed latency, honours
  ``Idempotency-Key`` and counts posts by the ``delivery=<id>`` word of the text, so
  a duplicate is a second post of one delivery id whatever the keys said.
- :class:`SchedulerProcess`: ``almanac scheduler`` (``python -m app.cli scheduler``)
  as a child process on the test's database, configured through ``ALMANAC_*``
  variables only. The webhook and Discord adapters reach the platform on 127.0.0.1
  because ``ALMANAC_ALLOW_PRIVATE_HOSTS`` is on: no adapter is replaced.
- :func:`insert_due`: approved posts (one variant, one delivery each) written in
  bulk, each text carrying its delivery id for the platform.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from app.db import Database
from app.deliveries.wake import wake_dispatch
from app.models import Delivery, DeliveryAttempt, Post, SchedulerHeartbeat, Variant
from app.models.delivery import new_idempotency_key
from app.networks.base import Network
from app.posts.content import content_hash, effective_content
from app.settings import Settings
from tests.factories import make_channel, make_workspace
from tests.scheduler.conftest import seal

ROOT = Path(__file__).resolve().parents[2]
# Multi-process fault tests run on one backend only (the ``database`` fixture's
# session database, chosen here instead of both).
ON_POSTGRESQL = pytest.mark.parametrize(
    "migrated_database",
    [pytest.param("postgresql", marks=pytest.mark.postgresql)],
    indirect=True,
)
ON_SQLITE = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
PLATFORM_SCRIPT = ROOT / "bench" / "platform_server.py"
# Settings passed to the child process as ALMANAC_<NAME>.
FORWARDED = (
    "database_url",
    "data_dir",
    "secret_key",
    "base_url",
    "publish_workers",
    "publish_per_channel",
    "publish_lease_seconds",
    "publish_max_attempts",
    "publish_backoff_seconds",
    "dispatch_idle_seconds",
    "heartbeat_interval_seconds",
)


class PlatformServer:
    """The benchmark's platform server in its own process (see ``bench/platform_server.py``)."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(PLATFORM_SCRIPT), "--latency", str(latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"the platform server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self.control = httpx.AsyncClient(base_url=self.url, timeout=30)

    async def count(self) -> int:
        """Distinct delivery ids posted so far."""
        return int((await self.control.get("/_count")).text)

    async def stats(self) -> dict[str, Any]:
        """``arrivals`` (delivery id → first arrival, Unix seconds), ``duplicates``
        ([delivery id, arrival, key] of every second post of an id), ``requests``,
        ``replays`` (a known key sent again), ``unmarked``."""
        return (await self.control.get("/_stats")).json()

    async def wait_for_count(self, at_least: int, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while (count := await self.count()) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"the platform saw {count} posts, waited for {at_least}")
            await asyncio.sleep(0.02)
        return count

    async def close(self) -> None:
        await self.control.aclose()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def scheduler_environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMANAC_")}
    for name in FORWARDED:
        env[f"ALMANAC_{name.upper()}"] = str(getattr(settings, name))
    env.update(
        {
            "ALMANAC_ENV": "test",
            "ALMANAC_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "ALMANAC_ALLOW_PRIVATE_HOSTS": "true",
            "ALMANAC_LOG_FORMAT": "json",
            "ALMANAC_LOG_LEVEL": "WARNING",
        }
    )
    return env


class SchedulerProcess:
    """One ``almanac scheduler`` child process; its output goes to ``log``."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        with log.open("wb") as output:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "scheduler"],
                cwd=ROOT,
                env=scheduler_environment(settings),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.process_id: str | None = None  # the lease owner, once it beat

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU the process used so far (0 once it is gone)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:]

    async def wait_ready(self, database: Database, seconds: float = 60.0) -> str:
        """Until its first heartbeat row (its jobs run); returns its process id."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the scheduler process ended at start:\n{self.tail()}")
            async with database.read_session() as session:
                found = await session.scalar(
                    select(SchedulerHeartbeat.process_id).where(SchedulerHeartbeat.pid == self.pid)
                )
            if found is not None:
                self.process_id = found
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"the scheduler process did not beat in {seconds} s:\n{self.tail()}")

    def kill(self) -> None:
        """``kill -9``: no drain, no farewell, leases left as they are."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def stop(self, seconds: float = 40.0) -> int | None:
        """SIGTERM (a clean stop), SIGKILL when it takes longer than ``seconds``."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)
        return self.process.returncode


async def webhook_workspace(
    database: Database, platform: PlatformServer, channels: int
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A workspace with ``channels`` webhook channels posting to the platform."""
    async with database.write_session() as session:
        workspace = await make_workspace(session)
        ids = [
            (
                await make_channel(
                    session,
                    workspace=workspace,
                    network=Network.webhook,
                    credentials_encrypted=seal({"url": f"{platform.url}/hook/{i}", "secret": "s"}),
                )
            ).id
            for i in range(channels)
        ]
        await session.commit()
    return workspace.id, ids


@dataclass
class Due:
    """What :func:`insert_due` wrote: delivery id (hex, as the platform reports it) →
    due instant (Unix seconds) and channel id."""

    due: dict[str, float]
    channel: dict[str, uuid.UUID]

    def of(self, channels: set[uuid.UUID]) -> set[str]:
        return {d for d, c in self.channel.items() if c in channels}


def delivery_text(index: int, delivery_id: uuid.UUID) -> str:
    return f"Fault test post {index}. delivery={delivery_id.hex}"


async def insert_due(
    database: Database,
    workspace_id: uuid.UUID,
    channel_ids: list[uuid.UUID],
    due: list[datetime],
) -> Due:
    """One approved post per entry of ``due`` (channels in turn), in one transaction
    that wakes dispatch (NOTIFY on PostgreSQL), as a reschedule would."""
    posts, variants, deliveries = [], [], []
    written = Due({}, {})
    for index, when in enumerate(due):
        post_id, variant_id, delivery_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        channel_id = channel_ids[index % len(channel_ids)]
        text = delivery_text(index, delivery_id)
        digest = content_hash(
            effective_content(
                base_text=text, base_media=[], base_link=None, text=None, media=None, link=None
            )
        )
        posts.append(
            {
                "id": post_id,
                "workspace_id": workspace_id,
                "title": f"Fault test post {index}",
                "body": text,
                "status": "approved",
                "local_at": when.replace(tzinfo=None),
                "timezone": "UTC",
                "due_at": when,
                "version": 1,
                "media": [],
                "fold": 0,
            }
        )
        variants.append(
            {
                "id": variant_id,
                "post_id": post_id,
                "channel_id": channel_id,
                "content_hash": digest,
                "approved_hash": digest,
            }
        )
        deliveries.append(
            {
                "id": delivery_id,
                "workspace_id": workspace_id,
                "post_id": post_id,
                "variant_id": variant_id,
                "channel_id": channel_id,
                "status": "pending",
                "due_at": when,
                "next_attempt_at": when,
                "attempts": 0,
                "idempotency_key": new_idempotency_key(),
            }
        )
        written.due[delivery_id.hex] = when.timestamp()
        written.channel[delivery_id.hex] = channel_id
    async with database.write_session() as session:
        for start in range(0, len(posts), 1000):
            await session.execute(insert(Post), posts[start : start + 1000])
            await session.execute(insert(Variant), variants[start : start + 1000])
            await session.execute(insert(Delivery), deliveries[start : start + 1000])
        await wake_dispatch(session)
        await session.commit()
    return written


async def statuses(database: Database, workspace_id: uuid.UUID | None = None) -> dict[str, int]:
    query = select(Delivery.status, func.count()).group_by(Delivery.status)
    if workspace_id is not None:
        query = query.where(Delivery.workspace_id == workspace_id)
    async with database.read_session() as session:
        return {status.value: n for status, n in await session.execute(query)}


async def published_by_process(database: Database) -> dict[str, int]:
    """Published attempts per scheduler process id (the lease owner that sent them)."""
    async with database.read_session() as session:
        rows = await session.execute(
            select(DeliveryAttempt.process_id, func.count())
            .where(DeliveryAttempt.outcome == "published")
            .group_by(DeliveryAttempt.process_id)
        )
        return {key: n for key, n in rows}


OPEN = ("pending", "retrying", "sending")


async def wait_settled(
    database: Database, seconds: float, workspace_id: uuid.UUID | None = None
) -> dict[str, int]:
    """Until no delivery (of the workspace) is waiting or being sent; the final count
    by status."""
    deadline = time.monotonic() + seconds
    while True:
        now = await statuses(database, workspace_id)
        if not any(now.get(status) for status in OPEN):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries still open after {seconds} s: {now}")
        await asyncio.sleep(0.2)
