"""What each outcome of a publish does (the sandbox's simulations play the network)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from app.db import Database
from app.models import AttemptOutcome, ChannelStatus, Delivery, DeliveryStatus, utcnow
from app.networks.base import PublishResult
from app.posts.content import content_hash, effective_content
from scheduler import publisher
from scheduler.dispatch import claim
from scheduler.runtime import SchedulerRuntime
from tests.scheduler.conftest import (
    approved_delivery,
    attempts_of,
    get_channel,
    get_delivery,
    make_world,
    notifications,
    outbox_texts,
)


async def _claim_and_publish(runtime: SchedulerRuntime) -> None:
    jobs = await claim(runtime, 10)
    assert jobs, "nothing was claimed"
    for job in jobs:
        await publisher.publish(runtime, job)


async def test_success_publishes_with_external_id_and_content_hash(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world, text="Bonjour", checkpoint={"media": "m1"})

    await _claim_and_publish(runtime)

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.published
    assert row.external_id and row.external_url and row.external_url.endswith(row.external_id)
    assert row.published_at is not None
    assert row.checkpoint == {}
    assert row.lease_owner is None
    expected = content_hash(
        effective_content(
            base_text="", base_media=[], base_link=None, text="Bonjour", media=None, link=None
        )
    )
    assert row.published_content_hash == expected
    assert await outbox_texts(database) == ["Bonjour"]
    [attempt] = await attempts_of(database, delivery.id)
    assert attempt.outcome is AttemptOutcome.published and attempt.finished_at is not None


async def test_transient_retries_with_backoff_then_fails_and_notifies(
    runtime: SchedulerRuntime, database: Database
) -> None:
    runtime.settings.publish_max_attempts = 2
    world = await make_world(database, credentials={"simulate": "transient"})
    delivery = await approved_delivery(database, world)

    before = utcnow()
    await _claim_and_publish(runtime)
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.retrying
    assert row.last_error and "503" in row.last_error
    # Full jitter under base * 2^0 = 1 s.
    assert before <= row.next_attempt_at <= utcnow() + timedelta(seconds=1)
    assert await notifications(database, "publish_failed") == []

    await _wait_until_due(row.next_attempt_at)
    await _claim_and_publish(runtime)
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.failed
    assert "gave up after 2 attempts" in (row.last_error or "")
    assert [a.outcome for a in await attempts_of(database, delivery.id)] == [
        AttemptOutcome.transient,
        AttemptOutcome.transient,
    ]
    told = await notifications(database, "publish_failed")
    assert {n.user_id for n in told} == {world.author_id, world.reviewer_id}
    assert await outbox_texts(database) == []


async def test_transient_stops_at_the_lateness_limit(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database, credentials={"simulate": "transient"})
    # A retry already past its due time + the 60-minute limit is closed before any claim.
    late = await approved_delivery(
        database,
        world,
        due_at=utcnow() - timedelta(minutes=61),
        status=DeliveryStatus.retrying,
        attempts=1,
    )
    assert await claim(runtime, 10) == []
    row = await get_delivery(database, late.id)
    assert row.status is DeliveryStatus.failed
    assert "lateness limit" in (row.last_error or "")


async def test_rate_limit_holds_the_channel_and_does_not_count(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database, credentials={"simulate": "rate_limited"})
    delivery = await approved_delivery(database, world)
    sibling = await approved_delivery(database, world)
    runtime.settings.publish_per_channel = 1

    [job] = await claim(runtime, 1)
    await publisher.publish(runtime, job)

    channel = await get_channel(database, world.channel.id)
    assert channel.rate_limited_until is not None
    assert channel.rate_limited_until > utcnow() + timedelta(minutes=4)
    row = await get_delivery(database, job.delivery_id)
    assert row.status is DeliveryStatus.retrying
    assert row.next_attempt_at == channel.rate_limited_until
    assert row.attempts == 0
    # Nothing more goes to that channel before the reset.
    assert await claim(runtime, 10) == []
    assert {delivery.id, sibling.id} >= {job.delivery_id}


async def test_permanent_fails_at_once_with_the_message(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database, credentials={"simulate": "permanent"})
    delivery = await approved_delivery(database, world)

    await _claim_and_publish(runtime)

    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.failed
    assert row.last_error == "sandbox: simulated refusal of the content (422)"
    [attempt] = await attempts_of(database, delivery.id)
    assert attempt.outcome is AttemptOutcome.permanent
    assert attempt.error == row.last_error
    assert len(await notifications(database, "publish_failed")) == 2


async def test_expired_credentials_expire_the_channel_and_the_delivery_waits(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database, credentials={"simulate": "expired"})
    delivery = await approved_delivery(database, world)
    await approved_delivery(database, world)

    await _claim_and_publish(runtime)

    channel = await get_channel(database, world.channel.id)
    assert channel.status is ChannelStatus.expired
    assert "expired" in (channel.status_message or "")
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.pending
    assert row.attempts == 0
    # One notification per member, once for the channel (not per delivery).
    assert len(await notifications(database, "channel_expired")) == 2
    assert await claim(runtime, 10) == []


async def test_refreshed_credentials_are_sealed_and_stored(
    runtime: SchedulerRuntime, database: Database
) -> None:
    from app.crypto import CredentialBox
    from app.networks.base import PublishResult

    world = await make_world(database)
    await approved_delivery(database, world)
    [job] = await claim(runtime, 1)

    await publisher.finish_published(
        runtime, job, PublishResult("x1", None, refreshed_credentials={"token": "new-token"})
    )

    channel = await get_channel(database, world.channel.id)
    assert channel.credentials_encrypted is not None
    assert b"new-token" not in channel.credentials_encrypted
    opened = CredentialBox(runtime.settings.encryption_keys).open(channel.credentials_encrypted)
    assert opened == {"token": "new-token"}


async def _wait_until_due(at) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    delay = (at - utcnow()).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay + 0.01)


async def test_published_outcomes_are_written_together_and_a_lost_lease_changes_nothing(
    runtime: SchedulerRuntime, database: Database
) -> None:
    """Successes finishing together share one transaction (``PublishedBatch``); in it,
    each row is still guarded by its own lease: one the reaper re-queued is written as
    published (the post is out), one another process now holds is left alone."""
    world = await make_world(database)
    deliveries = [await approved_delivery(database, world) for _ in range(4)]
    jobs = {job.delivery_id: job for job in await claim(runtime, 10)}
    assert set(jobs) == {d.id for d in deliveries}
    requeued, taken, *kept = deliveries
    async with database.write_session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == requeued.id)
            .values(status=DeliveryStatus.retrying, lease_owner=None, lease_expires_at=None)
        )
        await session.execute(
            update(Delivery).where(Delivery.id == taken.id).values(lease_owner="other:1:x")
        )
        await session.commit()

    await asyncio.gather(
        *(
            publisher.finish_published(
                runtime, job, PublishResult(external_id=f"x-{i}", url=f"https://p/{i}")
            )
            for i, job in enumerate(jobs.values())
        )
    )

    external = {job.delivery_id: f"x-{i}" for i, job in enumerate(jobs.values())}
    for delivery in [requeued, *kept]:
        row = await get_delivery(database, delivery.id)
        assert row.status is DeliveryStatus.published
        assert row.external_id == external[delivery.id]
        assert row.lease_owner is None and row.checkpoint == {}
        assert row.published_content_hash == jobs[delivery.id].content_hash
    other = await get_delivery(database, taken.id)
    assert other.status is DeliveryStatus.sending and other.lease_owner == "other:1:x"
    assert other.external_id is None
    for delivery in deliveries:
        [attempt] = await attempts_of(database, delivery.id)
        assert attempt.outcome is AttemptOutcome.published and attempt.finished_at is not None
