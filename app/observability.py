"""Prometheus metrics: ``GET /metrics`` on the web process, and the scheduler's own.

The web process answers from what the database knows, read at scrape time (a
custom collector over one snapshot, so every web replica reports the same
figures; no counter lives in a process that a restart would reset):

- ``almanac_deliveries{status, network}``: deliveries by status and network;
- ``almanac_delivery_queue_depth``: due now and claimable (the claim's own rule,
  ``app.deliveries.queue``: no drafts, unapproved variants, paused or disconnected
  channels);
- ``almanac_deliveries_awaiting_decision``: parked by a resume (see
  ``app.deliveries.overdue``);
- ``almanac_publish_lag_seconds``: a gauge histogram of ``published_at - due_at``
  over the publications of the last hour (use ``histogram_quantile`` on it
  directly, without ``rate``);
- ``almanac_scheduler_processes``: schedulers seen within the stale window.

Only counts: no workspace, channel or post name or id is ever a label.

Access: with ``ALMANAC_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``;
without, only clients on this machine (loopback). Behind a reverse proxy on the
same machine every request looks local: set the token there.

The scheduler process's own figures (claim batch size, adapter latency) are the
instruments at the end of this module, in a registry of their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from sqlalchemy import Float, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.deliveries.overdue import AWAITING_DECISION
from app.deliveries.queue import claimable_count
from app.deps import DatabaseDep, SettingsDep
from app.errors import Forbidden
from app.models import Channel, Delivery, DeliveryStatus, SchedulerHeartbeat, utcnow

router = APIRouter(tags=["operations"])

LAG_WINDOW = timedelta(hours=1)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass
class Snapshot:
    """What one scrape reads from the database."""

    by_status: dict[tuple[str, str], int] = field(default_factory=dict)
    queue_depth: int = 0
    awaiting_decision: int = 0
    lag_buckets: list[int] = field(default_factory=list)  # cumulative, per LAG_BUCKETS
    lag_count: int = 0
    lag_sum: float = 0.0
    schedulers: int = 0


def _lag_seconds(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", Delivery.published_at - Delivery.due_at)
    # SQLite stores these as ISO strings; julianday reads them.
    return (func.julianday(Delivery.published_at) - func.julianday(Delivery.due_at)) * cast(
        literal_column("86400.0"), Float
    )


async def read_snapshot(db: AsyncSession, *, now: datetime, stale_after: timedelta) -> Snapshot:
    snapshot = Snapshot()
    rows = await db.execute(
        select(Delivery.status, Channel.network, func.count())
        .join(Channel, Channel.id == Delivery.channel_id)
        .group_by(Delivery.status, Channel.network)
    )
    snapshot.by_status = {(s.value, n.value): count for s, n, count in rows.all()}
    waiting = Delivery.status.in_((DeliveryStatus.pending, DeliveryStatus.retrying))
    snapshot.queue_depth = await claimable_count(db, now=now)
    snapshot.awaiting_decision = (
        await db.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(waiting, Delivery.next_attempt_at == AWAITING_DECISION)
        )
        or 0
    )
    lag = _lag_seconds(db.bind.dialect.name)
    recent = (
        Delivery.status.in_((DeliveryStatus.published, DeliveryStatus.removed)),
        Delivery.published_at >= now - LAG_WINDOW,
    )
    columns = [func.sum(case((lag <= bound, 1), else_=0)) for bound in LAG_BUCKETS]
    row = (await db.execute(select(func.count(), func.sum(lag), *columns).where(*recent))).one()
    snapshot.lag_count = int(row[0] or 0)
    snapshot.lag_sum = float(row[1] or 0.0)
    snapshot.lag_buckets = [int(value or 0) for value in row[2:]]
    snapshot.schedulers = (
        await db.scalar(
            select(func.count())
            .select_from(SchedulerHeartbeat)
            .where(SchedulerHeartbeat.seen_at > now - stale_after)
        )
        or 0
    )
    return snapshot


class SnapshotCollector:
    """A Prometheus collector over one database snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Any:
        s = self.snapshot
        deliveries = GaugeMetricFamily(
            "almanac_deliveries",
            "Deliveries by status and network.",
            labels=["status", "network"],
        )
        for (status, network), count in sorted(s.by_status.items()):
            deliveries.add_metric([status, network], count)
        yield deliveries
        yield GaugeMetricFamily(
            "almanac_delivery_queue_depth",
            "Deliveries due now that the scheduler may claim (pending or retrying, approved, "
            "not paused, channel connected).",
            value=s.queue_depth,
        )
        yield GaugeMetricFamily(
            "almanac_deliveries_awaiting_decision",
            "Late deliveries parked by a resume, waiting for a person's decision.",
            value=s.awaiting_decision,
        )
        buckets = [(str(b), c) for b, c in zip(LAG_BUCKETS, s.lag_buckets, strict=True)]
        buckets.append(("+Inf", s.lag_count))
        yield GaugeHistogramMetricFamily(
            "almanac_publish_lag_seconds",
            "Publish lag (published_at - due_at) of the publications of the last hour.",
            buckets=buckets,
            gsum_value=s.lag_sum,
        )
        yield GaugeMetricFamily(
            "almanac_scheduler_processes",
            "Scheduler processes whose heartbeat is recent.",
            value=s.schedulers,
        )


def _check_access(request: Request, token: str) -> None:
    if token:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token):
            return
        raise Forbidden("The metrics need the bearer token set in ALMANAC_METRICS_TOKEN.")
    host = request.client.host if request.client else ""
    if host not in LOOPBACK:
        raise Forbidden(
            "The metrics are served to this machine only; set ALMANAC_METRICS_TOKEN to "
            "scrape them from elsewhere."
        )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, database: DatabaseDep, settings: SettingsDep) -> Response:
    """Prometheus text exposition, read from the database at scrape time."""
    _check_access(request, settings.metrics_token)
    async with database.read_session() as db:
        snapshot = await read_snapshot(
            db,
            now=utcnow(),
            stale_after=timedelta(seconds=settings.scheduler_stale_after_seconds),
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# -- the scheduler process's own figures -------------------------------------------------
# Observed by scheduler/dispatch.py (claim batches) and scheduler/publisher.py (the
# adapter call); served by each scheduler process (serve_scheduler_metrics).

SCHEDULER_REGISTRY = CollectorRegistry()
CLAIM_BATCH = Histogram(
    "almanac_scheduler_claim_batch_size",
    "Deliveries claimed by one claim statement of this process.",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=SCHEDULER_REGISTRY,
)
ADAPTER_LATENCY = Histogram(
    "almanac_scheduler_adapter_seconds",
    "Time an adapter's publish took in this process, by network and outcome.",
    labelnames=("network", "outcome"),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=SCHEDULER_REGISTRY,
)


def serve_scheduler_metrics(port: int) -> tuple[int, Callable[[], None]]:
    """Serve this scheduler process's metrics on 127.0.0.1:``port`` (0: any free port).
    Returns the port and a function that stops the server."""
    server, thread = start_http_server(port, addr="127.0.0.1", registry=SCHEDULER_REGISTRY)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.server_port, stop
