"""The lease reaper: deliveries whose process died mid-publish.

A ``sending`` delivery whose lease expired belonged to a process that stopped
(killed, crashed, cut off from the database). Whether its request reached the
network is unknown, so it is settled without ever publishing twice:

- the adapter's idempotency still holds (``idempotency_window`` None — a key the
  network honours for ever — or the attempt started within the window): back to
  ``retrying`` after the publisher's backoff; the retry carries the same key;
- otherwise the adapter looks the post up (``find_existing``): found →
  ``published``; certainly not there → ``retrying``;
- the network cannot tell (``LookupUnsupported``, or the lookup failed) →
  ``uncertain``, notified: a person retries it or marks it published.

A re-queue that would exceed ``publish_max_attempts`` or come after the due time +
lateness limit is ``failed`` instead (notified), so a delivery that keeps being
interrupted (an adapter bug raising on every attempt) does not loop.

The reaper first takes the expired lease over in one statement (``SKIP LOCKED`` on
PostgreSQL), so two reapers never settle the same delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, bindparam, select, text, update

from app.db import session_scope
from app.logging import get_logger
from app.models import AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, utcnow
from app.models.base import UTCDateTime
from app.networks import NetworkUnavailable, get_adapter
from app.networks.base import LookupUnsupported, NetworkAdapter, PublishRequest
from app.notifications.service import Event
from scheduler.dispatch import Claimed, load_claimed
from scheduler.publisher import (
    build_request,
    close_attempt,
    finish_published,
    lease_cleared,
    notify_delivery,
    open_credentials,
    owned,
    retry_later,
    with_db_retries,
)
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.reaper")

BATCH = 200
_TAKE_OVER = """
UPDATE delivery SET lease_owner = :owner, lease_expires_at = :lease, updated_at = :now
WHERE id IN (
    SELECT id FROM delivery WHERE status = 'sending' AND lease_expires_at < :now
    ORDER BY lease_expires_at LIMIT :batch {lock}
)
RETURNING id
"""


def _take_over_statement(postgresql: bool) -> Any:
    return (
        text(_TAKE_OVER.format(lock="FOR UPDATE SKIP LOCKED" if postgresql else ""))
        .bindparams(
            bindparam("now", type_=UTCDateTime()),
            bindparam("lease", type_=UTCDateTime()),
        )
        .columns(id=Uuid())
    )


async def reap(runtime: SchedulerRuntime) -> int:
    """The reaper job: settle every expired lease; returns how many it settled."""
    settled = 0
    while True:
        jobs = await _take_over(runtime)
        for job in jobs:
            try:
                adapter: NetworkAdapter | None = get_adapter(job.network, runtime.adapter_context)
            except NetworkUnavailable:
                adapter = None
            request = build_request(job, _credentials(runtime, job))
            await settle_interrupted(runtime, job, adapter, request, reason="the lease expired")
        settled += len(jobs)
        if len(jobs) < BATCH:
            return settled


def _credentials(runtime: SchedulerRuntime, job: Claimed) -> dict[str, Any]:
    try:
        return open_credentials(runtime, job)
    except Exception:
        log.warning("credentials unreadable for a lookup", channel_id=str(job.channel_id))
        return {}


async def _take_over(runtime: SchedulerRuntime) -> list[Claimed]:
    now = utcnow()
    lease = now + timedelta(seconds=runtime.settings.publish_lease_seconds)
    async with session_scope(runtime.database.write_session) as session:
        ids = list(
            (
                await session.execute(
                    _take_over_statement(not runtime.database.is_sqlite),
                    {
                        "owner": runtime.process_id,
                        "lease": lease,
                        "now": now,
                        "batch": BATCH,
                    },
                )
            ).scalars()
        )
        if not ids:
            return []
        running = (
            await session.execute(
                select(DeliveryAttempt.delivery_id, DeliveryAttempt.id, DeliveryAttempt.started_at)
                .where(
                    DeliveryAttempt.delivery_id.in_(ids),
                    DeliveryAttempt.outcome == AttemptOutcome.started,
                )
                .order_by(DeliveryAttempt.started_at)
            )
        ).all()
        attempts: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = {
            # No open attempt row: say it started a whole lease before now.
            delivery_id: (uuid.uuid4(), now - 2 * (lease - now))
            for delivery_id in ids
        }
        for delivery_id, attempt_id, started_at in running:
            attempts[delivery_id] = (attempt_id, started_at)
        return await load_claimed(runtime, session, attempts)


async def settle_interrupted(
    runtime: SchedulerRuntime,
    job: Claimed,
    adapter: NetworkAdapter | None,
    request: PublishRequest,
    *,
    reason: str,
    outcome: AttemptOutcome = AttemptOutcome.lease_expired,
) -> None:
    """An attempt whose result is unknown: re-queue (or fail, out of attempts or
    time), publish or mark uncertain. ``outcome`` closes the attempt row."""
    now = utcnow()
    window = adapter.idempotency_window if adapter is not None else timedelta(0)
    if window is None or (window > timedelta(0) and now - job.claimed_at <= window):
        message = f"Interrupted ({reason}); retried with the same key."
        await _requeue(runtime, job, message, outcome)
        return
    try:
        if adapter is None:
            raise LookupUnsupported("no adapter to look the post up")
        found = await adapter.find_existing(request)
    except Exception as error:  # any doubt (LookupUnsupported, a failed lookup) is uncertain
        message = (
            f"Interrupted ({reason}) and the network cannot tell whether the post went out "
            f"({getattr(error, 'message', type(error).__name__)}): check the channel, then "
            "retry or mark it published."
        )
        await _uncertain(runtime, job, message, outcome)
        return
    if found is None:
        message = f"Interrupted ({reason}); the network has no such post."
        await _requeue(runtime, job, message, outcome)
        return
    await finish_published(runtime, job, found)


async def _requeue(
    runtime: SchedulerRuntime, job: Claimed, message: str, outcome: AttemptOutcome
) -> None:
    """Back to ``retrying`` after the publisher's backoff; ``failed`` (notified) when
    the attempts are spent or the lateness limit passed."""
    if await retry_later(runtime, job, message, outcome):  # dispatch is told the time
        log.info("interrupted delivery re-queued", delivery_id=str(job.delivery_id))


async def _uncertain(
    runtime: SchedulerRuntime, job: Claimed, message: str, outcome: AttemptOutcome
) -> None:
    async def write() -> None:
        async with session_scope(runtime.database.write_session) as session:
            done = await session.execute(
                update(Delivery)
                .where(owned(runtime, job))
                .values(status=DeliveryStatus.uncertain, last_error=message, **lease_cleared())
            )
            await close_attempt(session, job, outcome, message)
            if done.rowcount:
                await notify_delivery(session, job, Event.uncertain, message)

    await with_db_retries(runtime, write)
    log.warning("delivery uncertain", delivery_id=str(job.delivery_id))
