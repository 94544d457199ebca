"""Metrics collection: how published posts do, read from their networks.

Each run looks for published deliveries that are owed a snapshot: 1 hour, 24 hours
and 7 days after ``published_at``, each kind once (a unique constraint makes it so,
even with several schedulers). A snapshot is taken only inside its window (until
the next kind is due; the 7-day one for a week): a "1 h" figure read three days
late would be a lie, so it is left out instead.

Networks whose API gives no figures (Telegram bots, webhooks) are not asked, and
neither are channels that are not ``connected`` (expired credentials would only
earn a 401) or wait for a rate limit to reset. Removed (taken down) deliveries are
never asked.

With several schedulers each owed snapshot is fetched by one of them: the run claims
the deliveries it will ask about with a short lease (``CLAIM``) in one conditional
UPDATE, on the delivery's lease columns, which a published delivery no longer uses
for publishing (the reaper only looks at ``sending`` rows); a concurrent run finds
them held and skips them. The lease is released when the run writes its snapshots
(a run that dies holding it is replaced once it runs out). An adapter error, an unreadable
credential or an unreachable network is logged and the snapshot is simply tried
again at the next run, while its window is open. Network calls run outside any
transaction, a few at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import CredentialsUnreadable
from app.db import session_scope
from app.logging import get_logger
from app.models import (
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    MetricSnapshot,
    SnapshotKind,
    utcnow,
)
from app.net.outbound import OutboundError
from app.networks import NetworkUnavailable, get_adapter
from app.networks.base import Metrics, Network, NetworkError
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.metrics")

INTERVAL_SECONDS = 300
BATCH = 200
CONCURRENCY = 8
# How long a run holds the deliveries it asks about (network calls time out sooner).
CLAIM = timedelta(minutes=2)
WITHOUT_METRICS = frozenset({Network.telegram, Network.webhook})
# Until when after publishing each kind may still be taken.
WINDOW = {
    SnapshotKind.hour: SnapshotKind.day.age,
    SnapshotKind.day: SnapshotKind.week.age,
    SnapshotKind.week: SnapshotKind.week.age * 2,
}


@dataclass(frozen=True, slots=True)
class Owed:
    delivery_id: uuid.UUID
    kind: SnapshotKind
    network: Network
    credentials_encrypted: bytes | None
    external_id: str


async def owed(runtime: SchedulerRuntime, now: datetime) -> list[Owed]:
    """Snapshots due now: published deliveries past a kind's age, inside its window,
    without a snapshot of that kind."""
    found: list[Owed] = []
    async with runtime.database.read_session() as session:
        for kind in SnapshotKind:
            taken = exists().where(
                MetricSnapshot.delivery_id == Delivery.id, MetricSnapshot.kind == kind
            )
            rows = await session.execute(
                select(
                    Delivery.id,
                    Delivery.external_id,
                    Channel.network,
                    Channel.credentials_encrypted,
                )
                .join(Channel, Channel.id == Delivery.channel_id)
                .where(
                    Delivery.status == DeliveryStatus.published,
                    Delivery.external_id.is_not(None),
                    Delivery.published_at <= now - kind.age,
                    Delivery.published_at > now - WINDOW[kind],
                    Channel.network.not_in(list(WITHOUT_METRICS)),
                    Channel.status == ChannelStatus.connected,
                    or_(Channel.rate_limited_until.is_(None), Channel.rate_limited_until <= now),
                    _free(now),
                    ~taken,
                )
                .order_by(Delivery.published_at)
                .limit(BATCH)
            )
            found.extend(
                Owed(row.id, kind, row.network, row.credentials_encrypted, row.external_id)
                for row in rows
            )
    return found


def _free(now: datetime) -> object:
    """SQL: no scheduler holds the delivery for its metrics now."""
    return or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at <= now)


async def _claim(runtime: SchedulerRuntime, items: list[Owed], now: datetime) -> list[Owed]:
    """The items this process fetches: those whose delivery it leased in one
    conditional UPDATE (a row another process holds, or took meanwhile, is left out)."""
    async with session_scope(runtime.database.write_session) as session:
        leased = set(
            (
                await session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id.in_({item.delivery_id for item in items}),
                        Delivery.status == DeliveryStatus.published,
                        _free(now),
                    )
                    # A lease is not an edit of the delivery.
                    .values(
                        lease_owner=runtime.process_id,
                        lease_expires_at=now + CLAIM,
                        updated_at=Delivery.updated_at,
                    )
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                )
            ).scalars()
        )
    return [item for item in items if item.delivery_id in leased]


async def _release(runtime: SchedulerRuntime, session: AsyncSession, items: list[Owed]) -> None:
    await session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_({item.delivery_id for item in items}),
            Delivery.lease_owner == runtime.process_id,
        )
        .values(lease_owner=None, lease_expires_at=None, updated_at=Delivery.updated_at)
        .execution_options(synchronize_session=False)
    )


async def _fetch(
    runtime: SchedulerRuntime, gate: asyncio.Semaphore, item: Owed
) -> tuple[Owed, Metrics] | None:
    ids = {"delivery_id": str(item.delivery_id), "kind": item.kind.value}
    try:
        adapter = get_adapter(item.network, runtime.adapter_context)
        token = item.credentials_encrypted
        credentials = runtime.credential_box.open(token) if token else {}
    except (NetworkUnavailable, CredentialsUnreadable) as error:
        log.warning("metrics not collected", reason=type(error).__name__, **ids)
        return None
    async with gate:
        try:
            return item, await adapter.fetch_metrics(credentials, item.external_id)
        except (NetworkError, OutboundError) as error:
            # The message is the adapter's, made for people; it names no secret.
            log.warning("metrics not collected", network=item.network.value, error=error.message)
        except httpx.HTTPError as error:
            log.warning(
                "metrics not collected", network=item.network.value, error=type(error).__name__
            )
        return None


async def collect(runtime: SchedulerRuntime, *, now: datetime | None = None) -> int:
    """The metrics job: take the snapshots owed now; returns how many were written
    (a concurrent scheduler's copy of the same snapshot is kept instead of ours)."""
    now = now or utcnow()
    items = await owed(runtime, now)
    if items:
        items = await _claim(runtime, items, now)
    if not items:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)
    fetched = [
        found for found in await asyncio.gather(*(_fetch(runtime, gate, i) for i in items)) if found
    ]
    taken_at = utcnow()
    async with session_scope(runtime.database.write_session) as session:
        # Written or failed (tried again next run, while its window is open).
        await _release(runtime, session, items)
        if not fetched:
            return 0
        # Taken down meanwhile: no snapshot for a removed post.
        still = set(
            (
                await session.scalars(
                    select(Delivery.id).where(
                        Delivery.id.in_([item.delivery_id for item, _ in fetched]),
                        Delivery.status == DeliveryStatus.published,
                    )
                )
            ).all()
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "delivery_id": item.delivery_id,
                "kind": item.kind,
                "taken_at": taken_at,
                "likes": metrics.likes,
                "reposts": metrics.reposts,
                "replies": metrics.replies,
                "views": metrics.views,
            }
            for item, metrics in fetched
            if item.delivery_id in still
        ]
        if not rows:
            return 0
        insert = sqlite_insert if runtime.database.is_sqlite else pg_insert
        # Another scheduler may have taken the same snapshot meanwhile: keep the first.
        await session.execute(
            insert(MetricSnapshot).on_conflict_do_nothing(index_elements=["delivery_id", "kind"]),
            rows,
        )
    log.info("metric snapshots taken", count=len(rows))
    return len(rows)
