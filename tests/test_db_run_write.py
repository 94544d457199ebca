"""The scheduler's hot transactions: ``Database.run_write`` (SQLite: plain Core, one
transaction, in a writer thread of its own) and ``Database.run_hot`` (PostgreSQL: the
hot pool's asyncpg connection, in autocommit, for ``scheduler.pg_cycle``'s function)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Connection, func, insert, select, text, update

from app.db import Database
from app.models import Workspace
from tests.factories import make_workspace


async def _names(database: Database) -> set[str]:
    async with database.read_session() as session:
        return set((await session.scalars(select(Workspace.name))).all())


def _sqlite_only(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("run_write is SQLite's writer thread (PostgreSQL: run_hot, below)")


async def test_a_write_commits_when_the_work_returns(database: Database) -> None:
    _sqlite_only(database)
    workspace_id = uuid.uuid4()

    def work(connection: Connection) -> str:
        connection.execute(
            insert(Workspace.__table__).values(
                id=workspace_id, name="Written", slug=f"w-{workspace_id.hex[:8]}"
            )
        )
        return threading.current_thread().name

    thread = await database.run_write(work)

    assert "Written" in await _names(database)
    assert thread.startswith("sqlite-writer")


async def test_a_write_that_raises_changes_nothing(database: Database) -> None:
    _sqlite_only(database)
    async with database.write_session() as session:
        workspace = await make_workspace(session, name="Before")
        await session.commit()

    def work(connection: Connection) -> None:
        connection.execute(
            update(Workspace.__table__)
            .where(Workspace.__table__.c.id == workspace.id)
            .values(name="After")
        )
        raise RuntimeError("refused half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        await database.run_write(work)

    assert await _names(database) == {"Before"}


async def test_a_write_waits_for_another_writer_instead_of_failing(database: Database) -> None:
    """The writer thread's BEGIN IMMEDIATE waits (busy timeout) for a write
    transaction of the async engine, then commits."""
    _sqlite_only(database)
    async with database.write_session() as session:
        workspace = await make_workspace(session, name="Shared")
        await session.commit()
    table = Workspace.__table__

    def work(connection: Connection) -> int:
        connection.execute(
            update(table).where(table.c.id == workspace.id).values(name=table.c.name + " +thread")
        )
        return connection.execute(select(func.count()).select_from(table)).scalar_one()

    async with database.write_session() as blocker:
        await blocker.execute(
            update(table).where(table.c.id == workspace.id).values(name=table.c.name + " +first")
        )
        waiting = asyncio.create_task(database.run_write(work))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await blocker.commit()

    assert await asyncio.wait_for(waiting, timeout=10) == 1
    assert await _names(database) == {"Shared +first +thread"}


async def test_run_hot_is_autocommit_on_the_hot_pool(database: Database) -> None:
    """PostgreSQL: ``run_hot`` hands out the hot pool's asyncpg connection with no
    transaction open: one statement is one round trip, committed by itself."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")

    async with database.write_session() as session:
        await make_workspace(session, name="Cold")
        await session.commit()

    async def rename(connection: Any) -> tuple[bool, str]:
        await connection.execute("UPDATE workspace SET name = 'Hot'")
        return connection.is_in_transaction(), await connection.fetchval("SHOW plan_cache_mode")

    in_transaction, mode = await database.run_hot(rename)

    assert not in_transaction
    assert await _names(database) == {"Hot"}  # seen from another connection: committed
    # The function's statements are written to plan alike whatever the values: they
    # are planned once per connection (planning the claim cost more than running it,
    # bench/README.md). Everything else keeps the default.
    assert mode == "force_generic_plan"
    async with database.read_session() as session:
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"


async def test_run_hot_keeps_its_connection_between_calls(database: Database) -> None:
    """PostgreSQL: consecutive calls reuse one connection (no checkout from a pool per
    call); two calls at once get two, and neither is in a transaction afterwards."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")

    async def backend_pid(connection: Any) -> int:
        return await connection.fetchval("SELECT pg_backend_pid()")

    first = await database.run_hot(backend_pid)
    assert await database.run_hot(backend_pid) == first

    async def slow_pid(connection: Any) -> tuple[int, bool]:
        await connection.execute("SELECT pg_sleep(0.2)")
        return await backend_pid(connection), connection.is_in_transaction()

    together = await asyncio.gather(database.run_hot(slow_pid), database.run_hot(slow_pid))
    assert len({pid for pid, _ in together}) == 2
    assert not any(in_transaction for _, in_transaction in together)
    assert await database.run_hot(backend_pid) in {pid for pid, _ in together}


async def test_run_write_is_sqlite_only(database: Database) -> None:
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    with pytest.raises(RuntimeError, match="use run_hot"):
        await database.run_write(lambda connection: None)


async def test_run_hot_replaces_a_dropped_connection(database: Database) -> None:
    """PostgreSQL: a hot connection the server dropped fails its first statement; the
    work runs again, once, on a new connection. A failing statement is raised as it is
    and does not cost the next call anything."""
    if database.is_sqlite:
        pytest.skip("a SQLite file has no connection to drop")

    async def backend_pid(connection: Any) -> int:
        return await connection.fetchval("SELECT pg_backend_pid()")

    first = await database.run_hot(backend_pid)
    async with database.engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    runs = []

    async def counted(connection: Any) -> int:
        runs.append(1)
        return await backend_pid(connection)

    second = await database.run_hot(counted)

    assert second != first
    assert len(runs) in (1, 2)

    async def broken(connection: Any) -> None:
        await connection.execute("SELECT * FROM no_such_table")

    with pytest.raises(asyncpg.UndefinedTableError):
        await database.run_hot(broken)
    assert await database.run_hot(backend_pid) > 0


async def test_run_hot_cancelled_mid_statement_stays_cancelled(database: Database) -> None:
    """PostgreSQL: a call cancelled mid-statement (the process stopping) ends
    cancelled, and its connection is not handed out again half-used."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")

    async def slow(connection: Any) -> None:
        await connection.execute("SELECT pg_sleep(5)")

    call = asyncio.create_task(database.run_hot(slow))
    await asyncio.sleep(0.3)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    async def one(connection: Any) -> int:
        return await connection.fetchval("SELECT 1")

    assert await asyncio.wait_for(database.run_hot(one), timeout=5) == 1
