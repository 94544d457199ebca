"""PostgreSQL: the function that writes published outcomes and claims in one round
trip (``scheduler.pg_cycle``): made once per version, safely by several processes at
once, made again if it disappears, and its plans never scan a whole table."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from app.db import Database
from scheduler import pg_cycle
from scheduler.dispatch import claim
from scheduler.runtime import SchedulerRuntime
from tests.scheduler.conftest import approved_delivery, make_world


@pytest.fixture(autouse=True)
def _postgresql_only(database: Database) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite writes outcomes and claims in its writer thread's transaction")


async def _functions(database: Database) -> list[tuple[str, list[str] | None]]:
    async def read(connection: Any) -> list[tuple[str, list[str] | None]]:
        rows = await connection.fetch(
            "SELECT proname, proconfig FROM pg_proc WHERE proname LIKE 'almanac_publish_cycle_%'"
        )
        return [(row["proname"], row["proconfig"]) for row in rows]

    return await database.run_hot(read)


async def _drop(database: Database) -> None:
    async def drop(connection: Any) -> None:
        await connection.execute(f"DROP FUNCTION IF EXISTS {pg_cycle.NAME}")

    await database.run_hot(drop)


async def test_processes_making_the_function_at_once_make_one(database: Database) -> None:
    await _drop(database)

    await asyncio.gather(*(database.run_hot(pg_cycle.make_function) for _ in range(3)))

    functions = dict(await _functions(database))
    assert pg_cycle.NAME in functions
    # Its plans are made once per connection, maybe while a table is small: they
    # must walk indexes whatever the statistics said then (bench/README.md).
    assert functions[pg_cycle.NAME] == ["enable_seqscan=off"]


async def test_a_claim_makes_the_function_again_when_it_was_dropped(
    runtime: SchedulerRuntime, database: Database
) -> None:
    world = await make_world(database)
    first = await approved_delivery(database, world)
    assert [job.delivery_id for job in await claim(runtime, 5)] == [first.id]

    await _drop(database)  # a database restored from a dump taken before, say
    second = await approved_delivery(database, world)

    assert [job.delivery_id for job in await claim(runtime, 5)] == [second.id]
    assert pg_cycle.NAME in dict(await _functions(database))


async def test_a_role_that_may_not_create_it_gets_a_clear_error(database: Database) -> None:
    """``almanac migrate`` makes the function; a scheduler whose role may not create
    anything and finds it missing says what to do."""
    await _drop(database)
    url = database.engine.url
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    role = f"almanac_limited_{url.database}"[:60]
    try:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, "{role}"')
        limited = await asyncpg.connect(
            host=url.host, port=url.port, user=role, database=url.database
        )
        try:
            with pytest.raises(pg_cycle.FunctionMissing, match="run `almanac migrate`"):
                await pg_cycle.make_function(limited)
        finally:
            await limited.close()
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
