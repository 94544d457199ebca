"""The workers: one asyncio task per claimed delivery, and what each outcome does.

Dispatch claims no more deliveries than this process has free sending slots
(``publish_workers``), and at most ``publish_per_channel`` per channel across the
cluster, so a slow channel (a video being processed) holds a few slots, never
all of them. A worker holds its slot until its outcome is committed: the deliveries
``sending`` never outnumber the slots, so a crash leaves at most that many to settle.
Every worker:

1. opens the channel's credentials (:class:`app.crypto.CredentialBox`) and builds
   the adapter with the process's long-lived httpx client
   (``scheduler.main.publishing_client``);
2. publishes while the process's :class:`scheduler.leases.LeaseKeeper` renews its
   lease, storing the adapter's checkpoints at once, each in its own short
   transaction;
3. writes the outcome (below) and closes its :class:`DeliveryAttempt` row, guarded
   by its lease: a worker whose lease the reaper took back changes nothing but its
   attempt row (and a publish it knows succeeded). Successes, by far the most
   frequent outcome, are group-committed (:class:`PublishedBatch`): one transaction
   for all those that finished while the previous one was being written; a worker is
   done only once its batch committed.

Outcomes per the typed errors of ``app.networks.base``:

- success → ``published`` (external id and URL, published content hash, the
  checkpoint and the last error cleared; refreshed credentials sealed and stored);
- ``RateLimitedError`` → the channel waits until the reset; the delivery goes back
  to ``retrying`` at that instant, the attempt not counted;
- ``TransientError`` → ``retrying`` with exponential backoff and full jitter (at
  least the network's ``retry_after``) until ``publish_max_attempts`` or the due
  time + lateness limit, then ``failed`` and ``publish_failed`` notified;
- ``PermanentError`` → ``failed`` with the network's message, notified;
- ``CredentialsExpiredError`` → the channel ``expired`` (notified once), the
  delivery back to ``pending``, waiting for the reconnection;
- anything else (a bug, a lost connection mid-publish) is settled like a lease the
  process lost: re-queued with backoff where retrying cannot duplicate, else
  ``uncertain``; ``failed`` once the attempts or the lateness limit run out.

A worker that loses its lease (the reaper or a person took the delivery back, or
no renewal succeeded before it ran out) stops at once: the lease keeper cancels the
worker while its adapter call runs (in the worker's own task), and a checkpoint it
tries to store raises :class:`LeaseLost`, so no further request goes out; the
lease's new holder settles the delivery.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Uuid, bindparam, text, update
from sqlalchemy.exc import DBAPIError

from app.channels.service import without_secrets
from app.crypto import CredentialsUnreadable
from app.db import session_scope
from app.logging import get_logger
from app.models import (
    AttemptOutcome,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Post,
    utcnow,
)
from app.models.base import UTCDateTime
from app.networks import NetworkUnavailable, get_adapter
from app.networks.base import (
    CredentialsExpiredError,
    PermanentError,
    PublishRequest,
    PublishResult,
    RateLimitedError,
    TransientError,
)
from app.notifications.service import Event, notify, post_people
from app.observability import ADAPTER_LATENCY
from scheduler import pg_cycle
from scheduler.channel_state import expire_channel, same_credentials
from scheduler.dispatch import Claimed, claim_in, mark_missed_if_due
from scheduler.leases import lease_keeper
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.publisher")

BACKOFF_CAP = timedelta(hours=1)
# Database writes of an outcome are retried this often (a dropped connection, a
# restarted server) before the lease is left to the reaper.
DB_RETRIES = 6

# Published outcomes waiting together are written in one transaction, at most this many.
BATCH_LIMIT = 300

T = TypeVar("T")


class LeaseLost(Exception):
    """This process no longer holds the delivery's lease: it must stop publishing."""


def start(runtime: SchedulerRuntime, job: Claimed) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(
        publish(runtime, job), name=f"publish-{job.delivery_id}"
    )
    runtime.workers.add(task)

    def _done(finished: asyncio.Task[None]) -> None:
        runtime.workers.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error(
                "publishing worker crashed",
                delivery_id=str(job.delivery_id),
                error=repr(finished.exception()),
            )
        # A slot (and maybe a channel's slot) is free: dispatch looks again once a
        # claim is worth it (retry times wake it by themselves: ``due_by``).
        runtime.slot_freed()

    task.add_done_callback(_done)
    return task


async def with_db_retries(runtime: SchedulerRuntime, write: Callable[[], Awaitable[T]]) -> T:
    """Run ``write`` (one transaction), again after a dropped connection."""
    delay = 0.1
    for attempt in range(DB_RETRIES):
        try:
            return await write()
        except (DBAPIError, OSError, ConnectionError) as error:
            if attempt == DB_RETRIES - 1:
                raise
            log.warning("database write failed, retrying", error=type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def build_request(job: Claimed, credentials: dict[str, Any]) -> PublishRequest:
    return PublishRequest(
        idempotency_key=job.idempotency_key,
        text=job.text,
        credentials=credentials,
        media=job.media,
        link=job.link,
        limits=job.limits,
        checkpoint=dict(job.checkpoint),
        channel_id=str(job.channel_id),
    )


def open_credentials(runtime: SchedulerRuntime, job: Claimed) -> dict[str, Any]:
    if job.credentials_encrypted is None:
        return {}
    return runtime.credential_box.open(job.credentials_encrypted)


def backoff(runtime: SchedulerRuntime, attempts: int, retry_after: timedelta | None) -> timedelta:
    """Exponential backoff with full jitter, never shorter than the network asked."""
    base = runtime.settings.publish_backoff_seconds
    ceiling = min(base * 2 ** max(attempts - 1, 0), BACKOFF_CAP.total_seconds())
    wait = timedelta(seconds=random.uniform(0, ceiling))
    return max(wait, retry_after or timedelta(0))


async def publish(runtime: SchedulerRuntime, job: Claimed) -> None:
    ids = {"delivery_id": str(job.delivery_id), "post_id": str(job.post_id)}
    try:
        adapter = get_adapter(job.network, runtime.adapter_context)
        credentials = open_credentials(runtime, job)
    except (NetworkUnavailable, CredentialsUnreadable) as refused:
        await finish_failed(runtime, job, str(refused), AttemptOutcome.permanent)
        return
    request = build_request(job, credentials)
    loop = asyncio.get_running_loop()
    worker = asyncio.current_task()
    assert worker is not None
    leases = lease_keeper(runtime)
    # The adapter runs in this task (a task of its own cost a turn of the loop before
    # each request): losing the lease cancels this task while it publishes.
    lease = leases.hold(job.delivery_id, job.claimed_at, worker)
    started = loop.time()
    try:
        try:
            result = await _timed(adapter.publish(request, _checkpointer(runtime, job)), job)
        finally:
            lease.publishing = False
    except LeaseLost:
        log.warning("lease lost: checkpoint refused, publish abandoned", **ids)
    except asyncio.CancelledError:
        # The lease keeper's cancellation is the only one when the lease is lost and
        # nobody else (the process stopping) cancelled this worker too.
        if not lease.lost or worker.cancelling() > 1:
            raise
        worker.uncancel()
        log.warning("lease lost: publish abandoned", **ids)
    except RateLimitedError as limited:
        await finish_rate_limited(runtime, job, limited, credentials)
    except TransientError as transient:
        await finish_transient(runtime, job, transient, credentials)
    except PermanentError as permanent:
        message = without_secrets(permanent.message, credentials)
        await finish_failed(runtime, job, message, AttemptOutcome.permanent)
    except CredentialsExpiredError as expired:
        await finish_expired(runtime, job, without_secrets(expired.message, credentials))
    except Exception as error:
        log.exception("adapter raised an unexpected error", network=job.network.value, **ids)
        from scheduler.reaper import settle_interrupted

        await settle_interrupted(
            runtime,
            job,
            adapter,
            request,
            reason=f"unexpected error ({type(error).__name__})",
            outcome=AttemptOutcome.error,
        )
    else:
        await finish_published(runtime, job, result)
    finally:
        leases.release(job.delivery_id)
    log.info(
        "publish attempt finished",
        network=job.network.value,
        seconds=round(asyncio.get_running_loop().time() - started, 3),
        **ids,
    )


# -- lease and checkpoints ---------------------------------------------------------


async def _timed(call: Awaitable[T], job: Claimed) -> T:
    """The adapter call alone, into this process's latency histogram (by outcome)."""
    started = asyncio.get_running_loop().time()
    outcome = "published"
    try:
        return await call
    except BaseException as error:
        outcome = type(error).__name__
        raise
    finally:
        elapsed = asyncio.get_running_loop().time() - started
        ADAPTER_LATENCY.labels(job.network.value, outcome).observe(elapsed)


def owned(runtime: SchedulerRuntime, job: Claimed) -> Any:
    """SQL: the delivery is ``sending`` under this process's lease."""
    return (
        (Delivery.id == job.delivery_id)
        & (Delivery.status == DeliveryStatus.sending)
        & (Delivery.lease_owner == runtime.process_id)
    )


def _checkpointer(
    runtime: SchedulerRuntime, job: Claimed
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    kept = dict(job.checkpoint)

    async def store(ids: dict[str, Any]) -> None:
        kept.update(ids)
        snapshot = dict(kept)

        async def write() -> int:
            async with session_scope(runtime.database.write_session) as session:
                done = await session.execute(
                    update(Delivery).where(owned(runtime, job)).values(checkpoint=snapshot)
                )
                return done.rowcount

        if await with_db_retries(runtime, write) == 0:
            # The adapter stops here, before its next request.
            raise LeaseLost(f"delivery {job.delivery_id} is no longer leased to this process")

    return store


# -- outcomes ----------------------------------------------------------------------


async def close_attempt(
    session: Any,
    job: Claimed,
    outcome: AttemptOutcome,
    error: str | None,
    http_status: int | None = None,
) -> None:
    await session.execute(
        update(DeliveryAttempt)
        .where(DeliveryAttempt.id == job.attempt_id)
        .values(finished_at=utcnow(), outcome=outcome, error=error, http_status=http_status)
    )


def lease_cleared() -> dict[str, Any]:
    return {"lease_owner": None, "lease_expires_at": None, "updated_at": utcnow()}


def _published_values(job: Claimed, result: PublishResult) -> dict[str, Any]:
    return {
        "status": DeliveryStatus.published,
        "external_id": result.external_id,
        "external_url": result.url,
        "published_at": utcnow(),
        "published_content_hash": job.content_hash,
        "checkpoint": {},
        "last_error": None,
        **lease_cleared(),
    }


def _published_without_lease_update(job: Claimed, result: PublishResult) -> Any:
    """The reaper took the lease back meanwhile; the post is out all the same."""
    log.warning("published after losing the lease", delivery_id=str(job.delivery_id))
    return (
        update(Delivery)
        .where(
            Delivery.id == job.delivery_id,
            Delivery.status.in_(
                (DeliveryStatus.retrying, DeliveryStatus.uncertain, DeliveryStatus.pending)
            ),
        )
        .values(_published_values(job, result))
    )


async def finish_published(runtime: SchedulerRuntime, job: Claimed, result: PublishResult) -> None:
    if result.refreshed_credentials is None:
        await published_batch(runtime).write(job, result)
        return
    values = _published_values(job, result)
    refreshed = result.refreshed_credentials

    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            done = await session.execute(update(Delivery).where(owned(runtime, job)).values(values))
            if done.rowcount == 0:
                await session.execute(_published_without_lease_update(job, result))
            # Only over the credentials this job read: a token the refresh job (or a
            # person) renewed meanwhile is newer than the one the adapter refreshed.
            stored = await session.execute(
                update(Channel)
                .where(Channel.id == job.channel_id, same_credentials(job.credentials_encrypted))
                .values(credentials_encrypted=runtime.credential_box.seal(refreshed))
            )
            if stored.rowcount == 0:
                log.info(
                    "refreshed credentials not stored: the channel's changed meanwhile",
                    channel_id=str(job.channel_id),
                )
            await close_attempt(session, job, AttemptOutcome.published, None, None)

    await with_db_retries(runtime, write)


# SQLite: the batch in two statements whatever its size, as PostgreSQL's
# ``_PUBLISH_BATCH_PG``: its rows are one JSON parameter read by ``json_each`` (the ids
# as the 32-digit hex SQLite stores a UUID as), and the update returns the rows this
# process still held. A look at the owned rows and two executemany, each row's
# parameters processed one by one, cost the writer thread 10 % more CPU.
_PUBLISH_BATCH_SQLITE = (
    text(
        """UPDATE delivery
SET status = 'published', external_id = json_extract(o.value, '$.external_id'),
    external_url = json_extract(o.value, '$.url'), published_at = :now,
    published_content_hash = json_extract(o.value, '$.hash'), checkpoint = '{}',
    last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
FROM json_each(:outcomes) AS o
WHERE delivery.id = json_extract(o.value, '$.id') AND delivery.status = 'sending'
    AND delivery.lease_owner = :owner
RETURNING delivery.id"""
    )
    .bindparams(bindparam("now", type_=UTCDateTime()))
    .columns(id=Uuid())
)
_CLOSE_BATCH_SQLITE = text(
    """UPDATE delivery_attempt
SET finished_at = :now, outcome = 'published', error = NULL, http_status = NULL
WHERE id IN (SELECT value FROM json_each(:attempt_ids))"""
).bindparams(bindparam("now", type_=UTCDateTime()))


@dataclass(slots=True)
class _Waiting:
    """A published outcome handed to the writer by its worker (``task``), which holds
    its slot until ``written`` is done."""

    job: Claimed
    result: PublishResult
    written: asyncio.Future[None]
    task: asyncio.Task[Any] | None


class PublishedBatch:
    """One writer per process for published outcomes without refreshed credentials.

    A worker hands its outcome over and waits until the transaction that wrote it
    committed (or failed: the worker then fails as it would have with a write of its
    own, and the reaper settles its lease). The writer is a task that runs while
    outcomes wait, a group commit: it writes up to ``BATCH_LIMIT`` of them in one
    transaction (guarded by the lease as one worker's write is: a delivery whose lease
    this process lost is written only from ``retrying``, ``uncertain`` or ``pending``;
    on PostgreSQL one call of :mod:`scheduler.pg_cycle`'s function, on SQLite two
    statements in the writer thread), and whatever finished meanwhile goes in
    the next one. No fixed window: a burst makes batches by itself, and a worker holds
    its slot no longer than one write (a 20 ms window made the slots fill and empty
    in waves, bench/README.md).

    The same transaction claims the next due deliveries for the slots it frees (the
    claim of :mod:`scheduler.dispatch`), and their workers take the slots over at
    the commit: under a burst a slot goes from one request to the next in one
    transaction instead of two (the outcome's, then a claim's after dispatch woke),
    and the deliveries ``sending`` still never outnumber the slots.
    """

    def __init__(self, runtime: SchedulerRuntime) -> None:
        self.runtime = runtime
        self.waiting: list[_Waiting] = []
        self.task: asyncio.Task[None] | None = None

    async def write(self, job: Claimed, result: PublishResult) -> None:
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self.waiting.append(_Waiting(job, result, written, asyncio.current_task()))
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._run(), name="published-outcomes")
        await written

    async def _run(self) -> None:
        runtime = self.runtime
        try:
            while self.waiting:
                await asyncio.sleep(0)  # the outcomes of this round of the loop join
                batch = self.waiting[:BATCH_LIMIT]
                del self.waiting[:BATCH_LIMIT]
                # Slots to fill: the batch's (a worker cancelled meanwhile, as the
                # process stops, freed its own), while dispatch runs.
                refill = 0
                if runtime.claims_with_outcomes:
                    refill = sum(1 for waiting in batch if not waiting.written.done())
                try:
                    if refill:
                        await mark_missed_if_due(runtime, utcnow())
                    claimed = await with_db_retries(runtime, partial(self._write, batch, refill))
                except Exception as error:
                    for waiting in batch:
                        if not waiting.written.done():
                            waiting.written.set_exception(error)
                except BaseException:
                    for waiting in batch:
                        waiting.written.cancel()
                    raise
                else:
                    self._hand_over(batch, claimed)
        finally:
            # Cancelled (the process stops): nobody writes what still waits.
            for waiting in self.waiting:
                waiting.written.cancel()
            self.waiting.clear()

    def _hand_over(self, batch: list[_Waiting], claimed: list[Claimed]) -> None:
        """The batch's workers are done; the deliveries claimed with it take their
        slots (before the workers' own ends, which free a slot only if nobody took it)."""
        workers = self.runtime.workers
        finished = [waiting for waiting in batch if not waiting.written.done()]
        for waiting in finished:
            if waiting.task is not None:
                workers.discard(waiting.task)
        # The new workers first: their requests go out before the finished workers
        # log and let go (the loop runs ready tasks in the order they were woken).
        for job in claimed:
            start(self.runtime, job)
        for waiting in finished:
            waiting.written.set_result(None)

    async def _write(self, batch: list[_Waiting], refill: int) -> list[Claimed]:
        """Write the batch and claim ``refill`` next deliveries, in one transaction."""
        runtime = self.runtime
        if runtime.database.dialect == "postgresql":
            outcomes = [
                pg_cycle.Published(
                    delivery_id=waiting.job.delivery_id,
                    attempt_id=waiting.job.attempt_id,
                    external_id=waiting.result.external_id,
                    url=waiting.result.url,
                    content_hash=waiting.job.content_hash,
                )
                for waiting in batch
            ]
            cycle = await pg_cycle.publish_and_claim(runtime, outcomes, refill)
            for delivery_id in cycle.late:
                log.warning("published after losing the lease", delivery_id=str(delivery_id))
            return cycle.claimed
        return await runtime.database.run_write(partial(self._write_sqlite, batch, refill))

    def _write_sqlite(
        self, batch: list[_Waiting], refill: int, connection: Connection
    ) -> list[Claimed]:
        """SQLite: the batch in two statements and the claim, in the writer thread's
        transaction (:meth:`app.db.Database.run_write`), where a statement costs no
        trip through the event loop."""
        runtime = self.runtime
        now = utcnow()
        outcomes = [
            {
                "id": waiting.job.delivery_id.hex,
                "external_id": waiting.result.external_id,
                "url": waiting.result.url,
                "hash": waiting.job.content_hash,
            }
            for waiting in batch
        ]
        owned = set(
            connection.execute(
                _PUBLISH_BATCH_SQLITE,
                {"outcomes": json.dumps(outcomes), "now": now, "owner": runtime.process_id},
            ).scalars()
        )
        attempt_ids = [waiting.job.attempt_id.hex for waiting in batch]
        connection.execute(
            _CLOSE_BATCH_SQLITE, {"attempt_ids": json.dumps(attempt_ids), "now": now}
        )
        for waiting in batch:
            if waiting.job.delivery_id not in owned:
                connection.execute(_published_without_lease_update(waiting.job, waiting.result))
        if not refill:
            return []
        return claim_in(connection, runtime=runtime, slots=refill, now=utcnow())


def published_batch(runtime: SchedulerRuntime) -> PublishedBatch:
    """The process's writer of published outcomes (made on first use)."""
    if runtime.outcomes is None:
        runtime.outcomes = PublishedBatch(runtime)
    return runtime.outcomes


async def finish_transient(
    runtime: SchedulerRuntime, job: Claimed, error: TransientError, credentials: dict[str, Any]
) -> None:
    message = without_secrets(error.message, credentials)
    await retry_later(
        runtime,
        job,
        message,
        AttemptOutcome.transient,
        retry_after=error.retry_after,
        http_status=_status(error),
    )


async def retry_later(
    runtime: SchedulerRuntime,
    job: Claimed,
    message: str,
    outcome: AttemptOutcome,
    *,
    retry_after: timedelta | None = None,
    http_status: int | None = None,
) -> bool:
    """Back to ``retrying`` after the backoff (at least ``retry_after``), or ``failed``
    (notified) when the attempts are spent or the next try would come after the
    lateness limit. True when the delivery was re-queued."""
    at = utcnow() + backoff(runtime, job.attempts, retry_after)
    if job.attempts >= runtime.settings.publish_max_attempts:
        reason = f"{message.removesuffix('.')} (gave up after {job.attempts} attempts)"
        await finish_failed(runtime, job, reason, outcome)
        return False
    if at > job.deadline:
        reason = f"{message.removesuffix('.')} (no retry possible before the lateness limit)"
        await finish_failed(runtime, job, reason, outcome)
        return False

    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            await session.execute(
                update(Delivery)
                .where(owned(runtime, job))
                .values(
                    status=DeliveryStatus.retrying,
                    next_attempt_at=at,
                    last_error=message,
                    **lease_cleared(),
                )
            )
            await close_attempt(session, job, outcome, message, http_status)

    await with_db_retries(runtime, write)
    runtime.due_by(at)
    return True


async def finish_rate_limited(
    runtime: SchedulerRuntime, job: Claimed, error: RateLimitedError, credentials: dict[str, Any]
) -> None:
    message = without_secrets(error.message, credentials)
    if error.until > job.deadline:
        reason = f"{message} (the limit resets after the lateness limit)"
        await _limit_channel(runtime, job, error.until)
        await finish_failed(runtime, job, reason, AttemptOutcome.rate_limited)
        return

    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            await _limit_channel_in(session, job, error.until)
            await session.execute(
                update(Delivery)
                .where(owned(runtime, job))
                .values(
                    status=DeliveryStatus.retrying,
                    next_attempt_at=error.until,
                    # A rate limit is the channel's state, not a failure of this post.
                    attempts=Delivery.attempts - 1,
                    last_error=message,
                    **lease_cleared(),
                )
            )
            await close_attempt(session, job, AttemptOutcome.rate_limited, message, 429)

    await with_db_retries(runtime, write)
    runtime.due_by(error.until)


async def _limit_channel(runtime: SchedulerRuntime, job: Claimed, until: datetime) -> None:
    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            await _limit_channel_in(session, job, until)

    await with_db_retries(runtime, write)


async def _limit_channel_in(session: Any, job: Claimed, until: datetime) -> None:
    await session.execute(
        update(Channel)
        .where(
            Channel.id == job.channel_id,
            (Channel.rate_limited_until.is_(None)) | (Channel.rate_limited_until < until),
        )
        .values(rate_limited_until=until)
    )


async def finish_failed(
    runtime: SchedulerRuntime, job: Claimed, message: str, outcome: AttemptOutcome
) -> None:
    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            done = await session.execute(
                update(Delivery)
                .where(owned(runtime, job))
                .values(status=DeliveryStatus.failed, last_error=message, **lease_cleared())
            )
            await close_attempt(session, job, outcome, message, None)
            if done.rowcount:
                await notify_delivery(session, job, Event.publish_failed, message)

    await with_db_retries(runtime, write)
    log.warning("delivery failed", delivery_id=str(job.delivery_id), error=message)


async def finish_expired(runtime: SchedulerRuntime, job: Claimed, message: str) -> None:
    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            await session.execute(
                update(Delivery)
                .where(owned(runtime, job))
                .values(
                    status=DeliveryStatus.pending,
                    attempts=Delivery.attempts - 1,
                    last_error=message,
                    **lease_cleared(),
                )
            )
            await close_attempt(session, job, AttemptOutcome.expired, message, 401)
            await expire_channel(
                session,
                job.channel_id,
                message,
                delivery_id=job.delivery_id,
                post_id=job.post_id,
            )

    await with_db_retries(runtime, write)


async def notify_delivery(session: Any, job: Claimed | Any, event: Event, message: str) -> None:
    """Tell the post's author and reviewers (``job``: anything with post, channel and
    delivery ids)."""
    post = await session.get(Post, job.post_id)
    channel = await session.get(Channel, job.channel_id)
    if post is None or channel is None:
        return
    what = {
        Event.publish_failed: "could not be published",
        Event.uncertain: "may or may not have been published (the scheduler stopped mid-request)",
    }.get(event, event.value)
    await notify(
        session,
        workspace_id=post.workspace_id,
        event=event,
        text=f"“{post.title}” {what} on {channel.name} ({channel.network.value}): {message}",
        recipients=await post_people(session, post),
        post_id=post.id,
        delivery_id=job.delivery_id,
        channel_id=channel.id,
    )


def _status(error: Exception) -> int | None:
    value = getattr(error, "status_code", None)
    return value if isinstance(value, int) else None
