"""Tell the scheduler that a delivery may be due sooner than it planned to look.

Call :func:`wake_dispatch` in the transaction that makes a delivery claimable
(approval, publish now, retry, resume, a time moved earlier). On PostgreSQL it is a
``NOTIFY``, delivered to the listening schedulers when (and only if) the
transaction commits; on SQLite nothing: the scheduler polls every second. The app
never imports ``scheduler``: the channel name is the whole contract.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "almanac_dispatch"


async def wake_dispatch(session: AsyncSession) -> None:
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {CHANNEL}"))
