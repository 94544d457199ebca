"""Waking dispatch at once when something becomes due sooner.

On PostgreSQL the app sends ``NOTIFY almanac_dispatch`` in the transaction that
made a delivery due (``app.deliveries.wake.wake_dispatch``); this module keeps one
dedicated asyncpg connection listening on that channel, reconnecting whenever it
drops, and wakes the dispatch job on every notification (and after each reconnect,
since notifications sent while disconnected are lost). On SQLite there is no
NOTIFY: dispatch polls at least once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from app.deliveries.wake import CHANNEL
from app.logging import get_logger
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.wake")

RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
# How often a quiet connection is checked (a dropped one may not say so).
CHECK_EVERY = 5.0


def _dsn(runtime: SchedulerRuntime) -> str:
    url = runtime.settings.database.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(runtime: SchedulerRuntime, stop: asyncio.Event) -> None:
    """Run until ``stop``: LISTEN, wake dispatch on each notification, reconnect."""
    failures = 0
    while not stop.is_set():
        connection: Any = None
        lost = asyncio.Event()
        try:
            connection = await asyncpg.connect(_dsn(runtime), timeout=10)
            connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await connection.add_listener(CHANNEL, lambda *_args: runtime.wake())
            log.info("listening for dispatch wake-ups", channel=CHANNEL)
            failures = 0
            runtime.wake()  # whatever was notified while this connection was down
            while not stop.is_set() and not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, lost), timeout=CHECK_EVERY)
                if not stop.is_set() and not lost.is_set():
                    await connection.execute("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            log.warning("dispatch listener lost its connection", error=type(error).__name__)
        finally:
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
        if not stop.is_set():
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
