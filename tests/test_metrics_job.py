"""The metrics job against the real sandbox adapter: snapshots 1 h, 24 h and 7 days
after publishing, each once, never for a removed post, errors retried next run; and
``GET .../posts/{id}/metrics``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select, update

from app.db import Database, session_scope
from app.models import (
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    MetricSnapshot,
    Role,
    SandboxPost,
    utcnow,
)
from app.networks import _FACTORIES
from app.networks.base import Metrics, Network
from app.networks.sandbox import SandboxAdapter
from app.settings import Settings
from scheduler import metrics
from scheduler.jobs import JobId
from scheduler.main import build_scheduler
from scheduler.runtime import SchedulerRuntime
from tests.test_channels_api import make_team
from tests.test_deliveries_api import Setup, make_setup


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> AsyncIterator[SchedulerRuntime]:
    async with httpx.AsyncClient() as http:
        yield SchedulerRuntime(settings=settings, database=database, http=http)


async def published(
    database: Database, *, ago: timedelta, network: Network = Network.sandbox
) -> Setup:
    """A delivery published ``ago`` (into the sandbox outbox, same instant)."""
    at = utcnow() - ago
    setup = await make_setup(database, channels=((network, True),), due_at=at)
    async with session_scope(database.write_session) as session:
        outbox = SandboxPost(
            channel_id=setup.channels[0],
            idempotency_key=uuid.uuid4().hex,
            text="Hello",
            published_at=at,
        )
        session.add(outbox)
        await session.flush()
        await session.execute(
            update(Delivery)
            .where(Delivery.id == setup.deliveries[0])
            .values(status=DeliveryStatus.published, published_at=at, external_id=str(outbox.id))
        )
    return setup


async def snapshots(database: Database, delivery_id: uuid.UUID) -> list[MetricSnapshot]:
    async with database.read_session() as session:
        rows = await session.scalars(
            select(MetricSnapshot)
            .where(MetricSnapshot.delivery_id == delivery_id)
            .order_by(MetricSnapshot.taken_at)
        )
        return list(rows.all())


async def test_each_snapshot_is_taken_once_at_its_age(
    runtime: SchedulerRuntime, database: Database
) -> None:
    fresh = await published(database, ago=timedelta(minutes=30))
    hour = await published(database, ago=timedelta(minutes=90))
    assert await metrics.collect(runtime) == 1
    assert await snapshots(database, fresh.deliveries[0]) == []
    [snap] = await snapshots(database, hour.deliveries[0])
    assert snap.kind.value == "1h"
    # The sandbox's figures grow with the post's age: 90 minutes → 30 likes, 630 views.
    assert (snap.likes, snap.reposts, snap.replies, snap.views) == (30, 9, 4, 630)

    assert await metrics.collect(runtime) == 0  # once
    later: datetime = utcnow() + timedelta(days=1)
    assert await metrics.collect(runtime, now=later) >= 1
    kinds = [s.kind.value for s in await snapshots(database, hour.deliveries[0])]
    assert kinds == ["1h", "24h"]
    # The fresh one is owed its 1 h and 24 h figures by then... but a day later its
    # 1 h window has closed: only the 24 h one is taken.
    assert [s.kind.value for s in await snapshots(database, fresh.deliveries[0])] == ["24h"]


async def test_week_snapshot_and_window(runtime: SchedulerRuntime, database: Database) -> None:
    week = await published(database, ago=timedelta(days=7, hours=1))
    too_old = await published(database, ago=timedelta(days=30))
    await metrics.collect(runtime)
    assert [s.kind.value for s in await snapshots(database, week.deliveries[0])] == ["7d"]
    assert await snapshots(database, too_old.deliveries[0]) == []


async def test_removed_posts_and_networks_without_figures_are_not_asked(
    runtime: SchedulerRuntime, database: Database
) -> None:
    removed = await published(database, ago=timedelta(hours=2))
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == removed.deliveries[0])
            .values(status=DeliveryStatus.removed)
        )
    telegram = await published(database, ago=timedelta(hours=2), network=Network.telegram)
    assert await metrics.owed(runtime, utcnow()) == []
    assert await metrics.collect(runtime) == 0
    assert await snapshots(database, removed.deliveries[0]) == []
    assert await snapshots(database, telegram.deliveries[0]) == []


async def test_an_adapter_error_is_retried_at_the_next_run(
    runtime: SchedulerRuntime, database: Database
) -> None:
    setup = await published(database, ago=timedelta(hours=2))
    async with session_scope(database.write_session) as session:
        delivery = await session.get(Delivery, setup.deliveries[0])
        assert delivery is not None
        real_id, delivery.external_id = delivery.external_id, str(uuid.uuid4())
    # The sandbox answers "no post": logged, nothing stored, still owed.
    assert await metrics.collect(runtime) == 0
    assert len(await metrics.owed(runtime, utcnow())) == 1
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Delivery).where(Delivery.id == setup.deliveries[0]).values(external_id=real_id)
        )
    assert await metrics.collect(runtime) == 1


async def test_the_metrics_job_is_registered(runtime: SchedulerRuntime) -> None:
    scheduler = build_scheduler(runtime)
    job = scheduler.get_job(JobId.metrics)
    assert job is not None and job.max_instances == 1 and job.coalesce


async def test_post_metrics_endpoint_lists_snapshots_per_channel(
    client: httpx.AsyncClient, runtime: SchedulerRuntime, database: Database
) -> None:
    team = await make_team(database, (Role.owner, Role.viewer))
    at = utcnow() - timedelta(hours=2)
    setup = await make_setup(database, team, due_at=at)
    async with session_scope(database.write_session) as session:
        outbox = SandboxPost(
            channel_id=setup.channels[0], idempotency_key=uuid.uuid4().hex, published_at=at
        )
        session.add(outbox)
        await session.flush()
        await session.execute(
            update(Delivery)
            .where(Delivery.id == setup.deliveries[0])
            .values(
                status=DeliveryStatus.published,
                published_at=at,
                external_id=str(outbox.id),
                external_url="http://127.0.0.1/sandbox/x",
            )
        )
    await metrics.collect(runtime)
    response = await client.get(
        f"{setup.ws}/posts/{setup.post_id}/metrics", headers=team.headers[Role.viewer]
    )
    assert response.status_code == 200, response.text
    [channel] = response.json()["channels"]
    assert channel["channel_id"] == str(setup.channels[0]) and channel["network"] == "sandbox"
    [snap] = channel["snapshots"]
    assert snap["kind"] == "1h" and snap["likes"] == 40 and snap["views"] == 840


class SlowCountingSandbox(SandboxAdapter):
    """The sandbox's figures, slowly (a slow network), counting the requests."""

    asked: ClassVar[list[str]] = []

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        type(self).asked.append(external_id)
        await asyncio.sleep(0.3)
        return await super().fetch_metrics(credentials, external_id)


@pytest.fixture
def counting_sandbox() -> Iterator[list[str]]:
    original = _FACTORIES[Network.sandbox]
    SlowCountingSandbox.asked = []
    _FACTORIES[Network.sandbox] = lambda ctx: SlowCountingSandbox(ctx.sessions, ctx.base_url)
    yield SlowCountingSandbox.asked
    _FACTORIES[Network.sandbox] = original


async def test_two_schedulers_ask_the_network_once_per_snapshot(
    runtime: SchedulerRuntime, database: Database, counting_sandbox: list[str]
) -> None:
    setups = [await published(database, ago=timedelta(hours=2)) for _ in range(3)]
    other = SchedulerRuntime(settings=runtime.settings, database=database, http=runtime.http)

    written = await asyncio.gather(metrics.collect(runtime), metrics.collect(other))

    assert sorted(written) == [0, 3]
    assert len(counting_sandbox) == 3
    for setup in setups:
        assert [s.kind.value for s in await snapshots(database, setup.deliveries[0])] == ["1h"]
    # The claim was released: nothing is held once the run is over.
    async with database.read_session() as session:
        held = await session.scalars(
            select(Delivery.lease_owner).where(Delivery.id.in_([s.deliveries[0] for s in setups]))
        )
        assert set(held) == {None}


async def test_expired_and_rate_limited_channels_are_not_asked(
    runtime: SchedulerRuntime, database: Database, counting_sandbox: list[str]
) -> None:
    expired = await published(database, ago=timedelta(hours=2))
    limited = await published(database, ago=timedelta(hours=2))
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Channel)
            .where(Channel.id == expired.channels[0])
            .values(status=ChannelStatus.expired)
        )
        await session.execute(
            update(Channel)
            .where(Channel.id == limited.channels[0])
            .values(rate_limited_until=utcnow() + timedelta(minutes=10))
        )

    assert await metrics.owed(runtime, utcnow()) == []
    assert await metrics.collect(runtime) == 0
    assert counting_sandbox == []
    # Once the limit has reset, that one is asked again (its window is still open).
    later = utcnow() + timedelta(minutes=11)
    assert [o.delivery_id for o in await metrics.owed(runtime, later)] == limited.deliveries
