"""Async engine and sessions.

SQLite is set up so that the web process and the scheduler process can share one
file: WAL (readers never block the writer), foreign keys on, a busy timeout, and
``BEGIN IMMEDIATE`` for sessions that intend to write, so a write transaction takes
the write lock at its start instead of failing half-way when another process
committed in between.

One commit point: the request dependency and each scheduler job commit once;
services only ``flush()``. The scheduler's hot transactions (claims, published
outcomes) are, on SQLite, plain Core run by :meth:`Database.run_write` in a writer
thread of their own; on PostgreSQL one call of a function each
(:meth:`Database.run_hot`, ``scheduler.pg_cycle``), on connections kept between calls
without a ping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_OPTION = "almanac_write"
T = TypeVar("T")
# asyncpg's errors that mean the connection is gone (the server restarted, the backend
# was terminated, the network dropped), not that a statement failed.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    OSError,
)


class HotConnectionLost(ConnectionError):
    """A hot PostgreSQL connection was lost during :meth:`Database.run_hot`."""


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (the driver's
        # implicit BEGIN would be DEFERRED and would skip our IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: URL | str, **kwargs: Any) -> AsyncEngine:
    sqlite = make_url(url).get_backend_name() == "sqlite"
    # A pooled PostgreSQL connection may have been dropped (a restart, a failover):
    # pinged at checkout. A SQLite file has no connection to lose, and the ping would
    # cost a round trip to the driver's thread per transaction (bench/README.md).
    engine = create_async_engine(url, pool_pre_ping=not sqlite, **kwargs)
    if sqlite:
        _install_sqlite_pragmas(engine.sync_engine)
    return engine


class _SQLiteWriter:
    """A plain ``sqlite3`` connection in a thread of its own, for
    :meth:`Database.run_write`: a whole transaction is one hand-over to the thread,
    where aiosqlite makes three or four per statement, each waiting for a turn of the
    event loop (what most of a busy scheduler's transaction time was, bench/README.md).
    Same file, same pragmas, ``BEGIN IMMEDIATE``."""

    def __init__(self, url: URL) -> None:
        engine = create_sync_engine(url.set(drivername="sqlite"), pool_size=1, max_overflow=0)
        _install_sqlite_pragmas(engine)
        self.engine = engine
        self.writes = engine.execution_options(**{WRITE_OPTION: True})
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # Opened in the thread on first use and kept: checking a connection out of the
        # pool and back in (with its reset) for each transaction was a sixth of the
        # thread's time under a burst.
        self.connection: Connection | None = None

    def run(self, work: Callable[[Connection], T]) -> T:
        connection = self.connection
        if connection is None or connection.closed:
            connection = self.connection = self.writes.connect()
        with connection.begin():
            return work(connection)

    def close(self) -> None:
        self.thread.submit(self._close_connection).result()
        self.thread.shutdown(wait=True)
        self.engine.dispose()

    def _close_connection(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _HotConnections:
    """PostgreSQL: the connections of :meth:`Database.run_hot`, kept checked out of
    their pool between calls. Checking one out of SQLAlchemy's pool and back in for
    each call cost ~0.2 ms of the scheduler's CPU per call, as much as the call's own
    client-side work (bench/README.md). The engine still makes them (the same URL
    options, the JSON codecs). No ping: a connection the server dropped fails its
    call, and ``run_hot`` takes another."""

    # Idle connections kept: the outcomes' writer and a dispatch claim at once.
    KEEP = 2

    def __init__(self, url: URL) -> None:
        self.engine = create_async_engine(
            url,
            pool_size=self.KEEP,
            max_overflow=4,
            pool_pre_ping=False,
            # Its statements are prepared once per connection (asyncpg), and are
            # written to plan the same whatever the values (``app.deliveries.queue``):
            # planning the claim anew each time was 2.7 ms of its 4.4 on the server.
            connect_args={"server_settings": {"plan_cache_mode": "force_generic_plan"}},
        )
        self.idle: list[tuple[AsyncConnection, asyncpg.Connection]] = []

    async def take(self) -> tuple[AsyncConnection, asyncpg.Connection]:
        if self.idle:
            return self.idle.pop()
        connection = await self.engine.connect()
        try:
            raw = await connection.get_raw_connection()
        except BaseException:
            await connection.invalidate()
            raise
        return connection, raw.driver_connection

    async def give_back(self, connection: AsyncConnection, driver: asyncpg.Connection) -> None:
        if len(self.idle) < self.KEEP and not driver.is_in_transaction():
            self.idle.append((connection, driver))
        else:
            await connection.close()

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for connection, _driver in idle:
            await connection.close()
        await self.engine.dispose()


class Database:
    """The engine plus two session factories: read (deferred) and write (immediate)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.read_session = async_sessionmaker(engine, expire_on_commit=False)
        self.write_session = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._sqlite_writer: _SQLiteWriter | None = None
        self._hot: _HotConnections | None = None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """SQLite: run ``work`` (synchronous Core code on a :class:`Connection`) in one
        write transaction in a writer thread of its own (:class:`_SQLiteWriter`),
        committed when it returns. For the scheduler's hot transactions (claims,
        published outcomes); PostgreSQL's are one function call each
        (:meth:`run_hot`), and everything else uses :attr:`write_session`."""
        if not self.is_sqlite:
            raise RuntimeError("run_write is SQLite's writer thread; on PostgreSQL use run_hot")
        writer = self._sqlite_writer
        if writer is None:
            writer = self._sqlite_writer = _SQLiteWriter(self.engine.url)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(writer.thread, writer.run, work)

    async def run_hot(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """PostgreSQL: ``work`` on a hot connection's own asyncpg connection, in
        autocommit (a statement is its own transaction, one round trip: for
        ``scheduler.pg_cycle``'s function). A connection that failed is dropped; one
        found lost (a kept connection is not pinged) is replaced and ``work`` run once
        more, and a second loss raises :class:`HotConnectionLost` (a
        ``ConnectionError``)."""
        try:
            return await self._run_hot(work)
        except HotConnectionLost:
            return await self._run_hot(work)

    async def _run_hot(self, work: Callable[[Any], Awaitable[T]]) -> T:
        hot = self._hot
        if hot is None:
            hot = self._hot = _HotConnections(self.engine.url)
        connection, driver = await hot.take()
        try:
            result = await work(driver)
        except BaseException as error:
            # Whatever stopped it (a cancellation mid-statement too), the connection
            # is not given back in an unknown state.
            lost = isinstance(error, Exception) and (
                isinstance(error, _CONNECTION_LOST) or driver.is_closed()
            )
            await connection.invalidate()
            if lost:
                raise HotConnectionLost(str(error) or type(error).__name__) from error
            raise
        await hot.give_back(connection, driver)
        return result

    async def dispose(self) -> None:
        writer, self._sqlite_writer = self._sqlite_writer, None
        if writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, writer.close)
        hot, self._hot = self._hot, None
        if hot is not None:
            await hot.close()
        await self.engine.dispose()


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits once at the end, or rolls back on error."""
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
