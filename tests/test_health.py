from __future__ import annotations

from datetime import timedelta

import httpx

from app import migrate
from app.models import SchedulerHeartbeat, utcnow
from tests.factories import make_user


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ready_warns_without_scheduler(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["problems"] == []
    assert "No scheduler" in body["warnings"][0]


async def test_readyz_fresh_heartbeat_clears_warning(client, database) -> None:  # type: ignore[no-untyped-def]
    async with database.write_session() as session:
        session.add(SchedulerHeartbeat(process_id="h:1:a", hostname="h", pid=1))
        await session.commit()
    body = (await client.get("/readyz")).json()
    assert body["warnings"] == []
    assert body["scheduler_seen_at"] is not None


async def test_readyz_stale_heartbeat_warns(client, database) -> None:  # type: ignore[no-untyped-def]
    old = utcnow() - timedelta(minutes=5)
    async with database.write_session() as session:
        session.add(SchedulerHeartbeat(process_id="h:1:a", hostname="h", pid=1, seen_at=old))
        await session.commit()
    body = (await client.get("/readyz")).json()
    assert "5 minute" in body["warnings"][0]


async def test_readyz_503_when_migrations_behind(client, database) -> None:  # type: ignore[no-untyped-def]
    await migrate.downgrade(database.engine, "base")
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "migrations are not at head" in response.json()["problems"][0]
    finally:
        await migrate.upgrade(database.engine)


async def test_home_page_shows_scheduler_warning(client, database) -> None:  # type: ignore[no-untyped-def]
    async with database.write_session() as session:
        await make_user(session)  # a fresh install sends / to the setup page
        await session.commit()
    response = await client.get("/", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert 'data-banner="scheduler"' in response.text
