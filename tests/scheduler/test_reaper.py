"""Expired leases: re-queued where a retry cannot duplicate, looked up, or uncertain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.db import Database
from app.models import AttemptOutcome, Delivery, DeliveryStatus, utcnow
from app.networks import _FACTORIES, AdapterContext
from app.networks.base import LookupUnsupported, Network, PublishRequest, PublishResult
from app.networks.sandbox import SandboxAdapter
from scheduler import reaper
from scheduler.dispatch import claim
from scheduler.runtime import SchedulerRuntime
from tests.scheduler.conftest import (
    approved_delivery,
    attempts_of,
    get_delivery,
    make_world,
    notifications,
)


class NoKeySandbox(SandboxAdapter):
    """The sandbox outbox without idempotency; ``lookup`` decides what
    ``find_existing`` can tell."""

    idempotency_window = timedelta(0)
    lookup = "supported"

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        if self.lookup == "unsupported":
            raise LookupUnsupported("this network cannot look a post up")
        return await super().find_existing(request)


@pytest.fixture
def no_key_sandbox() -> Any:
    original = _FACTORIES[Network.sandbox]

    def build(ctx: AdapterContext) -> NoKeySandbox:
        return NoKeySandbox(ctx.sessions, ctx.base_url)

    _FACTORIES[Network.sandbox] = build
    yield NoKeySandbox
    _FACTORIES[Network.sandbox] = original
    NoKeySandbox.lookup = "supported"


async def _claim_then_die(runtime: SchedulerRuntime, database: Database, *, publish: bool) -> Any:
    """Claim one delivery, maybe publish it to the outbox, and let its lease expire
    as if the process had been killed."""
    [job] = await claim(runtime, 1)
    if publish:
        adapter = SandboxAdapter(database.write_session, runtime.settings.base_url)
        await adapter.publish(
            PublishRequest(
                idempotency_key=job.idempotency_key,
                text=job.text,
                credentials={},
                channel_id=str(job.channel_id),
            ),
            _no_checkpoint,
        )
    async with database.write_session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == job.delivery_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    return job


async def _no_checkpoint(_ids: dict[str, Any]) -> None:
    return None


async def test_idempotent_network_is_requeued(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    await _claim_then_die(runtime, database, publish=False)

    assert await reaper.reap(runtime) == 1

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.retrying
    # After the publisher's backoff (full jitter under 1 s for a first attempt).
    assert row.next_attempt_at <= utcnow() + timedelta(seconds=1)
    assert row.lease_owner is None
    [attempt] = await attempts_of(database, delivery.id)
    assert attempt.outcome is AttemptOutcome.lease_expired
    # Settled once: nothing left to reap.
    assert await reaper.reap(runtime) == 0


async def test_live_lease_is_left_alone(runtime: SchedulerRuntime, database: Database) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    await claim(runtime, 1)
    assert await reaper.reap(runtime) == 0
    assert (await get_delivery(database, delivery.id)).status is DeliveryStatus.sending


async def test_no_key_but_found_by_lookup_is_published(
    runtime: SchedulerRuntime, database: Database, no_key_sandbox: Any
) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    await _claim_then_die(runtime, database, publish=True)

    await reaper.reap(runtime)

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.published
    assert row.external_id


async def test_no_key_and_not_found_is_requeued(
    runtime: SchedulerRuntime, database: Database, no_key_sandbox: Any
) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    await _claim_then_die(runtime, database, publish=False)

    await reaper.reap(runtime)

    assert (await get_delivery(database, delivery.id)).status is DeliveryStatus.retrying


async def test_no_key_and_no_lookup_is_uncertain_and_notified(
    runtime: SchedulerRuntime, database: Database, no_key_sandbox: Any
) -> None:
    no_key_sandbox.lookup = "unsupported"
    world = await make_world(database)
    delivery = await approved_delivery(database, world)
    await _claim_then_die(runtime, database, publish=True)

    await reaper.reap(runtime)

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.uncertain
    assert "cannot tell" in (row.last_error or "")
    told = await notifications(database, "uncertain")
    assert {n.user_id for n in told} == {world.author_id, world.reviewer_id}
    assert await claim(runtime, 10) == []
