"""Lease renewal: one task per process renews every lease it holds.

A worker's lease must outlive its publish (a video being processed can take
minutes), so it is renewed every third of ``publish_lease_seconds``. One statement
renews them all (``UPDATE ... WHERE id IN (held) AND status = 'sending' AND
lease_owner = this process RETURNING id``) instead of a task, a timer and a
transaction per delivery.

A worker whose lease is gone stops at once, before its next request: its adapter
call is cancelled when

- a renewal does not return its row (the reaper or a person took the delivery
  back), or
- no renewal succeeded before its lease ran out (the database is unreachable: the
  reaper may take it back any moment). A late renewal that still returns the row
  keeps it: nobody took it meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.exc import SQLAlchemyError

from app.db import session_scope
from app.logging import get_logger
from app.models import utcnow
from app.models.base import UTCDateTime
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.leases")

_RENEW = (
    text(
        "UPDATE delivery SET lease_expires_at = :until "
        "WHERE id IN :ids AND status = 'sending' AND lease_owner = :owner RETURNING id"
    )
    .bindparams(
        # Typed: SQLite binds a UUID only through the column type (hex text).
        bindparam("ids", expanding=True, type_=Uuid()),
        bindparam("until", type_=UTCDateTime()),
    )
    .columns(id=Uuid())
)


@dataclass(slots=True)
class Held:
    """A lease this process holds for ``worker``, which publishes until it sets
    ``publishing`` false (then it only writes the outcome, guarded by the lease)."""

    worker: asyncio.Task[Any]
    until: datetime
    lost: bool = False
    publishing: bool = True

    def lose(self) -> None:
        """The lease is gone: a worker still publishing is cancelled (it tells this
        cancellation from the process's stop by ``lost``, see
        ``scheduler.publisher.publish``). Once: a second cancellation would read as
        the process stopping."""
        if self.lost:
            return
        self.lost = True
        if self.publishing:
            self.worker.cancel()


class LeaseKeeper:
    """Renews the process's leases; made on first use (:func:`lease_keeper`)."""

    def __init__(self, runtime: SchedulerRuntime) -> None:
        self.runtime = runtime
        self.held: dict[uuid.UUID, Held] = {}
        self.task: asyncio.Task[None] | None = None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.runtime.settings.publish_lease_seconds)

    def hold(self, delivery_id: uuid.UUID, claimed_at: datetime, worker: asyncio.Task[Any]) -> Held:
        """Renew this delivery's lease for ``worker`` (until :meth:`release`)."""
        held = Held(worker=worker, until=claimed_at + self.lease)
        self.held[delivery_id] = held
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._run(), name="lease-renewal")
        return held

    def release(self, delivery_id: uuid.UUID) -> None:
        self.held.pop(delivery_id, None)

    async def _run(self) -> None:
        period = self.lease.total_seconds() / 3
        while self.held:
            running = [h.until for h in self.held.values() if not h.lost and h.publishing]
            wait = period
            if running:
                wait = min(period, (min(running) - utcnow()).total_seconds())
            await asyncio.sleep(max(0.0, wait))
            if self.held:
                await self.renew()

    async def renew(self) -> None:
        """One renewal round: extend every held lease, stop the workers that lost theirs."""
        held = dict(self.held)
        until = utcnow() + self.lease
        try:
            async with session_scope(self.runtime.database.write_session) as session:
                renewed = set(
                    (
                        await session.execute(
                            _RENEW,
                            {"ids": list(held), "until": until, "owner": self.runtime.process_id},
                        )
                    ).scalars()
                )
        except (SQLAlchemyError, OSError) as error:
            log.warning("lease renewal failed", error=type(error).__name__, held=len(held))
            now = utcnow()
            for delivery_id, lease in held.items():
                if now >= lease.until and not lease.lost:
                    log.warning("lease ran out without renewal", delivery_id=str(delivery_id))
                    lease.lose()
            # Try again soon, not a whole period later: the leases are running out.
            await asyncio.sleep(min(1.0, self.lease.total_seconds() / 10))
            return
        for delivery_id, lease in held.items():
            if delivery_id in renewed:
                lease.until = until
            elif lease.publishing and not lease.lost:
                # Not returned while still publishing: the lease was taken back. (A
                # worker that finished meanwhile has written its outcome: not lost.)
                log.warning("lease lost during publish", delivery_id=str(delivery_id))
                lease.lose()


def lease_keeper(runtime: SchedulerRuntime) -> LeaseKeeper:
    """The process's lease keeper (made on first use, one per runtime)."""
    keeper = runtime.leases
    if keeper is None or keeper.runtime is not runtime:
        keeper = runtime.leases = LeaseKeeper(runtime)
    return keeper
