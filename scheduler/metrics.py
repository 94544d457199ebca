"""Metrics collection: how published posts do, read from their networks.

Each run looks for published deliveries that are owed a snapshot: 1 hour, 24 hours
and 7 days after ``published_at``, each kind once (a unique constraint makes it so,
even with several schedulers). A snapshot is taken only inside its window (until
the next kind is due; the 7-day one for a week): a "1 h" figure read three days
late would be a lie, so it is left out instead.

Networks whose API gives no figures (Telegram bots, webhooks) are not asked.
Removed (taken down) deliveries are never asked. An adapter error, an unreadable
credential or an unreachable network is logged and the snapshot is simply tried
again at the next run, while its window is open. Network calls run outside any
transaction, a few at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.crypto import CredentialBox, CredentialsUnreadable
from app.db import session_scope
from app.logging import get_logger
from app.models import (
    Channel,
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


async def _fetch(
    runtime: SchedulerRuntime, gate: asyncio.Semaphore, item: Owed
) -> tuple[Owed, Metrics] | None:
    ids = {"delivery_id": str(item.delivery_id), "kind": item.kind.value}
    try:
        adapter = get_adapter(item.network, runtime.adapter_context)
        token = item.credentials_encrypted
        credentials = CredentialBox(runtime.settings.encryption_keys).open(token) if token else {}
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
    if not items:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)
    fetched = [
        found for found in await asyncio.gather(*(_fetch(runtime, gate, i) for i in items)) if found
    ]
    if not fetched:
        return 0
    taken_at = utcnow()
    async with session_scope(runtime.database.write_session) as session:
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
