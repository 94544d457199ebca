"""Claim: one statement, a lease, only what may go out, no more than the free slots."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from app.approvals.lateness import mark_missed
from app.db import Database
from app.deliveries.queue import claimable_count
from app.models import (
    AttemptOutcome,
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    PostStatus,
    Variant,
    Workspace,
    utcnow,
)
from scheduler import publisher
from scheduler.dispatch import MARK_MISSED_EVERY, claim, next_due, tick
from scheduler.runtime import SchedulerRuntime
from tests.scheduler.conftest import (
    add_channel,
    approved_delivery,
    attempts_of,
    get_delivery,
    make_world,
)


async def test_claim_sets_sending_lease_attempt_and_reads_content(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    delivery = await approved_delivery(database, world, text="Exact approved words")

    [job] = await claim(runtime, 10)

    assert job.delivery_id == delivery.id
    assert job.text == "Exact approved words"
    row = await get_delivery(database, delivery.id)
    assert row.status is DeliveryStatus.sending
    assert row.lease_owner == runtime.process_id
    assert row.lease_expires_at is not None and row.lease_expires_at > utcnow()
    assert row.attempts == 1
    [attempt] = await attempts_of(database, delivery.id)
    assert attempt.outcome is AttemptOutcome.started
    assert attempt.process_id == runtime.process_id
    # Claimed once: a second claim finds nothing.
    assert await claim(runtime, 10) == []


async def test_claim_hands_the_worker_its_media_files(
    runtime: SchedulerRuntime, database: Database
) -> None:
    """A copy's media reach the worker as files: path in the media folder, type, alt
    (the copy's own, else the library's) and a signed public link; a file deleted
    after the approval comes as an empty path (the adapter refuses it clearly)."""
    import hashlib
    import uuid

    from app.models import Media
    from app.posts.content import content_hash, effective_content

    world = await make_world(database)
    delivery = await approved_delivery(database, world, text="With pictures")
    sha = hashlib.sha256(b"picture").hexdigest()
    async with database.write_session() as session:
        media = Media(
            workspace_id=world.workspace.id,
            sha256=sha,
            filename="a.png",
            mime_type="image/png",
            size_bytes=7,
            alt="Library alt",
        )
        session.add(media)
        await session.flush()
        variant = await session.get(Variant, delivery.variant_id)
        assert variant is not None
        variant.media = [
            {"media_id": str(media.id)},
            {"media_id": str(media.id), "alt": "Own alt"},
            {"media_id": str(uuid.uuid4())},
        ]
        variant.content_hash = content_hash(
            effective_content(
                base_text="",
                base_media=[],
                base_link=None,
                text=variant.text,
                media=variant.media,
                link=variant.link,
            )
        )
        variant.approved_hash = variant.content_hash
        await session.commit()

    [job] = await claim(runtime, 1)

    library, own, deleted = job.media
    assert library.path.endswith(f"{sha[:2]}/{sha}") and library.mime_type == "image/png"
    assert (library.alt, own.alt) == ("Library alt", "Own alt")
    assert library.public_url is not None and f"/m/{media.id}?exp=" in library.public_url
    assert deleted.path == "" and deleted.mime_type == "application/octet-stream"
    assert job.content_hash == variant.approved_hash


async def _exclusions(database: Database, world) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One delivery per reason it must not be claimed."""
    now = utcnow()
    made = {}
    made["not due"] = await approved_delivery(database, world, due_at=now + timedelta(minutes=5))
    made["not approved"] = await approved_delivery(database, world, approved=False)
    made["draft post"] = await approved_delivery(database, world, post_status=PostStatus.draft)
    made["idea post"] = await approved_delivery(database, world, post_status=PostStatus.idea)
    for status in ("published", "failed", "uncertain", "missed", "canceled"):
        made[status] = await approved_delivery(
            database,
            world,
            status=DeliveryStatus(status),
            **({"published_at": now} if status == "published" else {}),
        )
    paused = await add_channel(database, world, paused=True)
    made["channel paused"] = await approved_delivery(database, world, channel=paused)
    expired = await add_channel(database, world, status=ChannelStatus.expired)
    made["channel expired"] = await approved_delivery(database, world, channel=expired)
    limited = await add_channel(database, world, rate_limited_until=now + timedelta(minutes=1))
    made["channel rate-limited"] = await approved_delivery(database, world, channel=limited)
    other = await make_world(database)
    async with database.write_session() as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == other.workspace.id)
            .values(paused=True, paused_at=now)
        )
        await session.commit()
    made["workspace paused"] = await approved_delivery(database, other)
    edited = await approved_delivery(database, world)
    async with database.write_session() as session:
        await session.execute(
            update(Variant).where(Variant.id == edited.variant_id).values(content_hash="0" * 64)
        )
        await session.commit()
    made["edited after approval"] = edited
    return made


async def test_claim_eligibility_matrix(runtime: SchedulerRuntime, database: Database) -> None:
    world = await make_world(database)
    excluded = await _exclusions(database, world)
    eligible = {
        "approved post": await approved_delivery(database, world),
        "retrying, due": await approved_delivery(database, world, status=DeliveryStatus.retrying),
        # One variant of an approved post was edited: the post is back in review,
        # its untouched variants still go out.
        "post in review, variant approved": await approved_delivery(
            database, world, post_status=PostStatus.in_review
        ),
        "rate limit over": await approved_delivery(
            database,
            world,
            channel=await add_channel(
                database, world, rate_limited_until=utcnow() - timedelta(seconds=1)
            ),
        ),
    }
    runtime.settings.publish_per_channel = 50

    claimed = {job.delivery_id for job in await claim(runtime, 100)}

    assert claimed == {row.id for row in eligible.values()}, {
        name
        for name, row in excluded.items()
        if row.id in claimed  # type: ignore[attr-defined]
    }


async def test_claim_takes_no_more_than_the_free_slots(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    channels = [world.channel] + [await add_channel(database, world) for _ in range(3)]
    for index in range(8):
        await approved_delivery(database, world, channel=channels[index % 4])
    assert len(await claim(runtime, 3)) == 3
    assert len(await claim(runtime, 10)) == 5


async def test_per_channel_limit_counts_what_is_sending_anywhere(
    runtime: SchedulerRuntime, database: Database
) -> None:
    runtime.settings.publish_per_channel = 2
    world = await make_world(database)
    quiet = await add_channel(database, world)
    busy = [await approved_delivery(database, world) for _ in range(5)]
    other = await approved_delivery(database, world, channel=quiet)
    # Another process already sends one delivery of the busy channel.
    async with database.write_session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == busy[0].id)
            .values(
                status=DeliveryStatus.sending,
                lease_owner="elsewhere:1:x",
                lease_expires_at=utcnow() + timedelta(minutes=1),
            )
        )
        await session.commit()

    claimed = [job.channel_id for job in await claim(runtime, 10)]

    assert claimed.count(world.channel.id) == 1
    assert claimed.count(quiet.id) == 1
    assert other.channel_id == quiet.id
    assert await claim(runtime, 10) == []


async def test_one_channel_backlog_does_not_hide_another_channels_due_post(
    runtime: SchedulerRuntime, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim looks at a window of due rows (four per free slot, at least 50), oldest
    first. When one channel's backlog fills that window, the claim takes that channel's
    limit and comes back short; dispatch claims again at once, past that channel,
    instead of leaving the other channels' due posts for the next tick (a second on
    SQLite)."""
    runtime.settings.publish_workers = 10
    runtime.settings.publish_per_channel = 2
    world = await make_world(database)
    due = utcnow() - timedelta(seconds=5)
    for _ in range(55):
        await approved_delivery(database, world, due_at=due)
    other = await add_channel(database, world)
    lonely = await approved_delivery(
        database, world, channel=other, due_at=due + timedelta(seconds=1)
    )
    started: list[Any] = []

    def hold_the_slot(runtime: SchedulerRuntime, job: Any) -> None:
        started.append(job)
        runtime.workers.add(asyncio.get_running_loop().create_future())  # never done

    monkeypatch.setattr(publisher, "start", hold_the_slot)
    try:
        await tick(runtime)
    finally:
        runtime.workers.clear()

    channels = [job.channel_id for job in started]
    assert channels.count(world.channel.id) == 2  # the backlog's channel: its limit
    assert [job.delivery_id for job in started if job.channel_id == other.id] == [lonely.id]


async def test_claim_marks_missed_before_claiming(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    late = await approved_delivery(
        database,
        world,
        due_at=utcnow() - timedelta(minutes=world.workspace.lateness_limit_minutes + 1),
    )
    on_time = await approved_delivery(database, world)

    claimed = [job.delivery_id for job in await claim(runtime, 10)]

    assert claimed == [on_time.id]
    assert (await get_delivery(database, late.id)).status is DeliveryStatus.missed


async def test_claim_never_takes_a_delivery_past_its_limit_between_markings(
    runtime: SchedulerRuntime, database: Database
) -> None:
    """Marking runs at most once a second inside the claims; the claim itself refuses
    what is past its lateness limit meanwhile (a first attempt or a retry, a second
    past it), and still takes what is just inside it."""
    world = await make_world(database)
    limit = timedelta(minutes=world.workspace.lateness_limit_minutes)
    now = utcnow()
    late = await approved_delivery(database, world, due_at=now - limit - timedelta(seconds=1))
    late_retry = await approved_delivery(
        database,
        world,
        due_at=now - limit - timedelta(minutes=5),
        status=DeliveryStatus.retrying,
        attempts=1,
        next_attempt_at=now - limit - timedelta(seconds=1),
    )
    inside = await approved_delivery(database, world, due_at=now - limit + timedelta(seconds=5))
    # Retried by a person after the limit: its next attempt is now, so it may go.
    retried = await approved_delivery(
        database, world, due_at=now - limit - timedelta(minutes=5), next_attempt_at=now
    )
    runtime.missed_marked_at = now  # marking just ran

    async with database.read_session() as session:
        assert await claimable_count(session, now=now) == 2
    claimed = {job.delivery_id for job in await claim(runtime, 10, now=now)}

    assert claimed == {inside.id, retried.id}
    assert (await get_delivery(database, late.id)).status is DeliveryStatus.pending
    assert (await get_delivery(database, late_retry.id)).status is DeliveryStatus.retrying

    later = now + MARK_MISSED_EVERY
    assert await claim(runtime, 10, now=later) == []
    assert (await get_delivery(database, late.id)).status is DeliveryStatus.missed
    assert (await get_delivery(database, late_retry.id)).status is DeliveryStatus.failed


async def test_lateness_check_and_next_due_read_the_claim_index(
    runtime: SchedulerRuntime, database: Database
) -> None:
    """The lateness marking (once a second) and ``next_due`` (whenever dispatch goes
    idle) must each be a range on ``ix_delivery_claimable``, not a scan of every
    delivery ever made. The plans are asked for the statements as
    sent (on PostgreSQL as a generic plan, as a prepared statement gets, with
    sequential scans discouraged so that only an unusable index shows a scan)."""
    await make_world(database)
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "next_attempt_at" in statement and not statement.startswith("EXPLAIN"):
            sent.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with database.write_session() as session:
            await mark_missed(session, now=utcnow())
            await session.rollback()
        await next_due(runtime, utcnow())
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
    assert len(sent) == 3  # the two closing UPDATEs of the one lateness limit, next_due

    async with database.engine.connect() as connection:
        prefix = "EXPLAIN QUERY PLAN "
        if not database.is_sqlite:
            await connection.exec_driver_sql("SET enable_seqscan = off")
            await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        for number, (statement, parameters) in enumerate(sent):
            if database.is_sqlite:
                rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
            else:
                # Prepared, so that the generic plan is explained: it is made without
                # the values, so NULLs do.
                await connection.exec_driver_sql(f"PREPARE q{number} AS {statement}")
                nulls = ", ".join(["NULL"] * len(parameters))
                asked = f"EXPLAIN EXECUTE q{number}({nulls})"
                rows = (await connection.exec_driver_sql(asked)).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "ix_delivery_claimable" in plan, f"{statement}\n{plan}"
        await connection.rollback()


__all__ = ["Channel"]
