"""``GET /metrics``: counts read from the database at scrape time, no names or ids, and
served only to this machine or to the holder of ALMANAC_METRICS_TOKEN."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from app.db import Database, session_scope
from app.deliveries.overdue import AWAITING_DECISION
from app.main import create_app
from app.models import (
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    PostStatus,
    Workspace,
    utcnow,
)
from app.networks.base import Network
from app.observability import serve_scheduler_metrics
from app.settings import Settings
from scheduler.dispatch import claim, tick
from scheduler.runtime import SchedulerRuntime
from tests.auth_helpers import client_at
from tests.scheduler.conftest import approved_delivery, count_status, make_world, workers_done
from tests.test_deliveries_api import make_setup


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_deliveries_queue_and_lag(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    now = utcnow()
    due_now = await make_setup(database, due_at=now - timedelta(seconds=5))
    await make_setup(database, due_at=now + timedelta(hours=3))
    parked = await make_setup(database, due_at=now - timedelta(hours=2))
    fast = await make_setup(database, due_at=now - timedelta(minutes=5))
    slow = await make_setup(database, due_at=now - timedelta(minutes=6))
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == parked.deliveries[0])
            .values(next_attempt_at=AWAITING_DECISION)
        )
        for setup, lag in ((fast, 0.3), (slow, 20.0)):
            delivery = await session.get(Delivery, setup.deliveries[0])
            assert delivery is not None
            delivery.status = DeliveryStatus.published
            delivery.published_at = delivery.due_at + timedelta(seconds=lag)

    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("almanac_deliveries", (("network", "sandbox"), ("status", "pending")))] == 3
    assert found[("almanac_deliveries", (("network", "sandbox"), ("status", "published")))] == 2
    assert found[("almanac_delivery_queue_depth", ())] == 1  # due_now only
    assert found[("almanac_deliveries_awaiting_decision", ())] == 1
    assert found[("almanac_publish_lag_seconds_bucket", (("le", "0.25"),))] == 0
    assert found[("almanac_publish_lag_seconds_bucket", (("le", "0.5"),))] == 1
    assert found[("almanac_publish_lag_seconds_bucket", (("le", "30.0"),))] == 2
    assert found[("almanac_publish_lag_seconds_bucket", (("le", "+Inf"),))] == 2
    assert abs(found[("almanac_publish_lag_seconds_gsum", ())] - 20.3) < 0.01
    # Counts only: no workspace, channel or post id, no name.
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", response.text)
    assert str(due_now.team.workspace_id) not in response.text


async def test_metrics_are_for_this_machine_only_without_a_token(app: FastAPI) -> None:
    async with client_at(app, "10.1.2.3") as remote:
        refused = await remote.get("/metrics")
    assert refused.status_code == 403
    assert "ALMANAC_METRICS_TOKEN" in refused.json()["detail"]


async def test_metrics_with_a_token_need_it_from_anywhere(
    settings: Settings, database: Database
) -> None:
    settings.metrics_token = "s3cret-scrape-token"
    app = create_app(settings, database)
    async with client_at(app, "127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 403
        wrong = await local.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 403
    async with client_at(app, "10.1.2.3") as remote:
        ok = await remote.get("/metrics", headers={"authorization": "Bearer s3cret-scrape-token"})
    assert ok.status_code == 200 and "almanac_delivery_queue_depth" in ok.text


async def test_a_scheduler_process_serves_its_claim_batches_and_adapter_latency(
    database: Database, settings: Settings
) -> None:
    """Run one dispatch through the sandbox, then read the process's own metrics page."""
    world = await make_world(database)
    await approved_delivery(database, world)
    port, stop = serve_scheduler_metrics(0)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            runtime = SchedulerRuntime(settings=settings, database=database, http=http)
            await tick(runtime)
            await workers_done(runtime)
            assert await count_status(database, DeliveryStatus.published) == 1
            page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        stop()
    assert "almanac_scheduler_claim_batch_size_count" in page
    assert 'almanac_scheduler_adapter_seconds_count{network="sandbox",outcome="published"}' in page


async def test_queue_depth_counts_only_what_a_claim_would_take(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """Drafts, unapproved variants, paused workspaces or channels and disconnected or
    rate-limited channels never reach the queue: the gauge uses the claim's own rule."""
    due = utcnow() - timedelta(seconds=5)
    claimable = await make_setup(database, due_at=due)
    await make_setup(database, due_at=due, post_status=PostStatus.draft)
    await make_setup(database, due_at=due, channels=((Network.sandbox, False),))
    paused_workspace = await make_setup(database, due_at=due)
    paused_channel = await make_setup(database, due_at=due)
    expired_channel = await make_setup(database, due_at=due)
    limited_channel = await make_setup(database, due_at=due)
    async with session_scope(database.write_session) as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == paused_workspace.team.workspace_id)
            .values(paused=True, paused_at=utcnow())
        )
        for setup, values in (
            (paused_channel, {"paused": True, "paused_at": utcnow()}),
            (expired_channel, {"status": ChannelStatus.expired}),
            (limited_channel, {"rate_limited_until": utcnow() + timedelta(minutes=5)}),
        ):
            await session.execute(
                update(Channel).where(Channel.id == setup.channels[0]).values(**values)
            )

    found = samples((await client.get("/metrics")).text)

    assert found[("almanac_deliveries", (("network", "sandbox"), ("status", "pending")))] == 7
    assert found[("almanac_delivery_queue_depth", ())] == 1
    async with httpx.AsyncClient() as http:
        runtime = SchedulerRuntime(settings=settings, database=database, http=http)
        assert [job.delivery_id for job in await claim(runtime, 10)] == claimable.deliveries
