"""Workers that must stop: an adapter bug that raises on every attempt (backoff, then
``failed``), a worker whose lease was taken back (cancelled before its next
request), and refreshed credentials that lost the race to a newer token."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.crypto import CredentialBox
from app.db import Database, create_engine, session_scope
from app.models import AttemptOutcome, Channel, Delivery, DeliveryStatus, utcnow
from app.networks import _FACTORIES, AdapterContext
from app.networks.base import Network, PublishRequest, PublishResult, TransientError
from app.networks.sandbox import SandboxAdapter
from app.settings import Settings
from scheduler import publisher
from scheduler.dispatch import claim
from scheduler.leases import lease_keeper
from scheduler.main import run_scheduler
from scheduler.runtime import SchedulerRuntime
from tests.conftest import TEST_KEYS
from tests.scheduler.conftest import (
    approved_delivery,
    attempts_of,
    get_channel,
    get_delivery,
    make_world,
    notifications,
    seal,
    wait_for,
)

Step = Callable[["ScriptedSandbox", PublishRequest, Any], Awaitable[PublishResult]]


class ScriptedSandbox(SandboxAdapter):
    """The sandbox adapter whose ``publish`` runs the test's ``script``."""

    script: Step

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.steps: list[str] = []

    async def publish(self, request: PublishRequest, checkpoint: Any) -> PublishResult:
        return await type(self).script(self, request, checkpoint)


@pytest.fixture
def scripted() -> Iterator[list[ScriptedSandbox]]:
    """Every sandbox adapter built while the test runs is a ScriptedSandbox (listed)."""
    built: list[ScriptedSandbox] = []
    original = _FACTORIES[Network.sandbox]

    def build(ctx: AdapterContext) -> ScriptedSandbox:
        adapter = ScriptedSandbox(ctx.sessions, ctx.base_url)
        built.append(adapter)
        return adapter

    _FACTORIES[Network.sandbox] = build
    yield built
    _FACTORIES[Network.sandbox] = original


async def _set(database: Database, delivery_id: Any, **values: Any) -> None:
    async with session_scope(database.write_session) as session:
        await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


# -- 1. an adapter bug: backoff, then failed -----------------------------------------


async def _raise_key_error(adapter: ScriptedSandbox, request: PublishRequest, _cp: Any) -> Any:
    adapter.steps.append("request")
    raise KeyError("id")


async def test_an_adapter_bug_backs_off_then_fails_after_max_attempts(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    ScriptedSandbox.script = _raise_key_error
    runtime.settings.publish_max_attempts = 3
    runtime.settings.publish_backoff_seconds = 3600.0
    world = await make_world(database)
    delivery = await approved_delivery(database, world)

    [job] = await claim(runtime, 1)
    await publisher.publish(runtime, job)
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.retrying
    assert "KeyError" in (row.last_error or "")
    # Backed off (full jitter under an hour), not re-queued for at once.
    assert utcnow() < row.next_attempt_at <= utcnow() + timedelta(hours=1)
    assert row.lease_owner is None
    assert await claim(runtime, 1) == []

    for _ in range(2):
        await _set(database, delivery.id, next_attempt_at=utcnow() - timedelta(seconds=1))
        [job] = await claim(runtime, 1)
        await publisher.publish(runtime, job)

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.failed
    assert row.attempts == 3
    assert "gave up after 3 attempts" in (row.last_error or "")
    outcomes = [a.outcome for a in await attempts_of(database, delivery.id)]
    assert outcomes == [AttemptOutcome.error] * 3
    told = await notifications(database, "publish_failed")
    assert {n.user_id for n in told} == {world.author_id, world.reviewer_id}
    await _set(database, delivery.id, next_attempt_at=utcnow() - timedelta(seconds=1))
    assert await claim(runtime, 1) == []


async def test_an_adapter_bug_past_the_lateness_limit_fails(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    ScriptedSandbox.script = _raise_key_error
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    [job] = await claim(runtime, 1)
    # As if the attempt had started long ago: its due time + 60 min are behind us.
    late = dataclasses.replace(job, due_at=utcnow() - timedelta(hours=2))

    await publisher.publish(runtime, late)

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.failed
    assert "lateness limit" in (row.last_error or "")
    assert len(await notifications(database, "publish_failed")) == 2


# -- 2. a worker that lost its lease stops ---------------------------------------------


class Gate:
    """The adapter's pause between its two requests, opened by the test."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.go = asyncio.Event()


def _two_requests(gate: Gate) -> Step:
    async def script(adapter: ScriptedSandbox, request: PublishRequest, checkpoint: Any) -> Any:
        adapter.steps.append("upload")
        try:
            await checkpoint({"upload": "u1"})
            gate.reached.set()
            await gate.go.wait()
            await checkpoint({"container": "c1"})
        except asyncio.CancelledError:
            adapter.steps.append("cancelled")
            raise
        adapter.steps.append("post")
        return PublishResult(external_id="never")

    return script


async def _claim_and_start(
    runtime: SchedulerRuntime, database: Database, gate: Gate
) -> tuple[Any, asyncio.Task[None]]:
    ScriptedSandbox.script = _two_requests(gate)
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    [job] = await claim(runtime, 1)
    task = publisher.start(runtime, job)
    async with asyncio.timeout(5):
        await gate.reached.wait()
    return delivery, task


async def test_one_renewal_keeps_every_long_publish_leased(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    """Three slow publishes held by one process: the process's one renewal task moves
    all their leases forward (one statement), so none is lost or cut short even though
    each takes longer than the lease itself."""
    runtime.settings.publish_lease_seconds = 3  # renewed every second
    gate = asyncio.Event()

    async def slow(adapter: ScriptedSandbox, request: PublishRequest, _cp: Any) -> Any:
        await gate.wait()
        return PublishResult(external_id=f"slow-{request.idempotency_key[:8]}")

    ScriptedSandbox.script = slow
    world = await make_world(database)
    deliveries = [await approved_delivery(database, world) for _ in range(3)]
    jobs = await claim(runtime, 3)
    assert len(jobs) == 3
    first_expiry = {d.id: (await get_delivery(database, d.id)).lease_expires_at for d in deliveries}
    tasks = [publisher.start(runtime, job) for job in jobs]
    await asyncio.sleep(4.5)  # past the first lease: renewed (at least) four times
    for delivery in deliveries:
        row = await get_delivery(database, delivery.id)
        assert row.status is DeliveryStatus.sending
        assert row.lease_expires_at > first_expiry[delivery.id] + timedelta(seconds=3)
    gate.set()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    for delivery in deliveries:
        row = await get_delivery(database, delivery.id)
        assert row.status is DeliveryStatus.published
        assert row.lease_owner is None
    assert lease_keeper(runtime).held == {}


async def test_a_stolen_lease_cancels_the_publish_at_the_next_renewal(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    runtime.settings.publish_lease_seconds = 3  # renewed every second
    gate = Gate()
    delivery, task = await _claim_and_start(runtime, database, gate)

    taken = utcnow()
    await _set(database, delivery.id, lease_owner="another-process")
    async with asyncio.timeout(5):
        await task
    # Found by a renewal (every second), not by the lease running out (3 s).
    assert utcnow() - taken < timedelta(seconds=2.5)
    gate.go.set()
    await asyncio.sleep(0.05)

    [adapter] = scripted
    assert adapter.steps == ["upload", "cancelled"]
    row = await get_delivery(database, delivery.id)
    # Left to the lease's holder: still sending, its attempt still open.
    assert row.status is DeliveryStatus.sending
    assert row.lease_owner == "another-process"
    assert row.checkpoint == {"upload": "u1"}
    [attempt] = await attempts_of(database, delivery.id)
    assert attempt.outcome is AttemptOutcome.started


async def test_a_lost_lease_stops_the_publish_but_not_the_process_stop(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    """The adapter runs in the worker's own task: the lease keeper's cancellation ends
    the publish and the worker returns; a stop of the process at the same moment still
    ends the worker as cancelled (it is not swallowed as the lease's)."""
    gate = Gate()
    delivery, lost_only = await _claim_and_start(runtime, database, gate)
    lease_keeper(runtime).held[delivery.id].lose()
    async with asyncio.timeout(5):
        await lost_only  # returns: the lease's holder settles the delivery
    assert not lost_only.cancelled()

    second_gate = Gate()
    ScriptedSandbox.script = _two_requests(second_gate)
    second = await approved_delivery(database, await make_world(database))
    [job] = await claim(runtime, 1)
    stopped = publisher.start(runtime, job)
    async with asyncio.timeout(5):
        await second_gate.reached.wait()
    lease_keeper(runtime).held[second.id].lose()
    stopped.cancel()  # the process stops
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await stopped
    assert [adapter.steps for adapter in scripted] == [
        ["upload", "cancelled"],
        ["upload", "cancelled"],
    ]


async def test_a_checkpoint_after_the_lease_was_stolen_stops_the_adapter(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    gate = Gate()  # the lease (30 s) is not renewed during this test
    delivery, task = await _claim_and_start(runtime, database, gate)

    await _set(database, delivery.id, lease_owner="another-process")
    gate.go.set()
    async with asyncio.timeout(5):
        await task

    [adapter] = scripted
    assert adapter.steps == ["upload"]
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.sending
    assert row.lease_owner == "another-process"
    assert row.checkpoint == {"upload": "u1"}
    assert row.external_id is None


async def test_a_lease_that_ran_out_unrenewed_cancels_the_publish(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    """The database went away: no renewal can succeed, and once the lease has run out
    (the reaper may take it back) the worker stops."""
    gate = Gate()

    async def waits(adapter: ScriptedSandbox, request: PublishRequest, _cp: Any) -> Any:
        adapter.steps.append("upload")
        try:
            await gate.go.wait()
        except asyncio.CancelledError:
            adapter.steps.append("cancelled")
            raise
        adapter.steps.append("post")
        return PublishResult(external_id="never")

    ScriptedSandbox.script = waits
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    [job] = await claim(runtime, 1)
    runtime.settings.publish_lease_seconds = 3
    # Nothing listens on port 1: every renewal fails at once (connection refused).
    gone = Database(create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test"))
    cut_off = dataclasses.replace(runtime, database=gone, workers=set(), _context=None)
    try:
        started = utcnow()
        async with asyncio.timeout(10):
            await publisher.publish(cut_off, job)
    finally:
        await gone.dispose()

    [adapter] = scripted
    assert adapter.steps == ["upload", "cancelled"]
    # Not before the lease ran out (3 s after the claim).
    assert utcnow() - started >= timedelta(seconds=2)
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.sending and row.external_id is None


async def test_a_retry_time_wakes_dispatch_by_itself(
    database: Database, settings: Settings, scripted: list[ScriptedSandbox]
) -> None:
    """Between bursts dispatch sleeps until the next due time, at most
    ``dispatch_idle_seconds`` (60 here; SQLite polls every second). A finished worker
    no longer wakes it unless a claim is worth it, so a retry's time must: the second
    attempt comes after the backoff, not a minute later."""
    settings.dispatch_idle_seconds = 60
    settings.publish_backoff_seconds = 0.3
    calls: list[Any] = []

    async def flaky(adapter: ScriptedSandbox, request: PublishRequest, _cp: Any) -> Any:
        calls.append(utcnow())
        if len(calls) == 1:
            raise TransientError("the platform hiccupped")
        return PublishResult(external_id="second-time-lucky")

    ScriptedSandbox.script = flaky
    world = await make_world(database)
    delivery = await approved_delivery(database, world)

    async def published() -> bool:
        return (await get_delivery(database, delivery.id)).status is DeliveryStatus.published

    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, stop))
    try:
        await wait_for(published, seconds=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert len(calls) == 2
    assert calls[1] - calls[0] < timedelta(seconds=1.5)
    assert [a.outcome for a in await attempts_of(database, delivery.id)] == [
        AttemptOutcome.transient,
        AttemptOutcome.published,
    ]


# -- 3. refreshed credentials are compare-and-set --------------------------------------


def _refreshing(renewed_meanwhile: dict[str, Any] | None) -> Step:
    """Publishes, returning refreshed credentials; ``renewed_meanwhile``: what the
    token-refresh job stored on the channel while the request ran."""

    async def script(adapter: ScriptedSandbox, request: PublishRequest, checkpoint: Any) -> Any:
        if renewed_meanwhile is not None:
            async with session_scope(adapter._sessions) as session:
                await session.execute(
                    update(Channel)
                    .where(Channel.id == uuid.UUID(request.channel_id))
                    .values(credentials_encrypted=seal(renewed_meanwhile))
                )
        return PublishResult(
            external_id="ext-1", refreshed_credentials={"token": "refreshed-by-publish"}
        )

    return script


def _opened(channel: Channel) -> dict[str, Any]:
    assert channel.credentials_encrypted is not None
    return CredentialBox(TEST_KEYS).open(channel.credentials_encrypted)


async def test_refreshed_credentials_never_overwrite_a_newer_token(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    ScriptedSandbox.script = _refreshing({"token": "renewed-by-refresh-job"})
    world = await make_world(database, credentials={"token": "old"})
    delivery = await approved_delivery(database, world)

    [job] = await claim(runtime, 1)
    await publisher.publish(runtime, job)

    assert (await get_delivery(database, delivery.id)).status is DeliveryStatus.published
    channel = await get_channel(database, world.channel.id)
    assert _opened(channel) == {"token": "renewed-by-refresh-job"}


async def test_refreshed_credentials_are_stored_over_the_ones_read(
    runtime: SchedulerRuntime, database: Database, scripted: list[ScriptedSandbox]
) -> None:
    ScriptedSandbox.script = _refreshing(None)
    world = await make_world(database, credentials={"token": "old"})
    delivery = await approved_delivery(database, world)

    [job] = await claim(runtime, 1)
    await publisher.publish(runtime, job)

    assert (await get_delivery(database, delivery.id)).status is DeliveryStatus.published
    channel = await get_channel(database, world.channel.id)
    assert _opened(channel) == {"token": "refreshed-by-publish"}
