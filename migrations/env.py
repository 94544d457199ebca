"""Alembic environment (async).

Two ways in: ``app.migrate`` hands a live connection in ``config.attributes``
(tests and ``almanac migrate`` do this, so migrations run inside their event
loop); the plain ``alembic`` command builds an engine from the Almanac settings.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection

from app.models import Base
from app.models.base import EnumString, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones, so that old migrations
    never import application code that may change later."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EnumString):
        return f"sa.String(length={obj.impl.length})"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=False,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_settings() -> None:
    from app.db import create_engine
    from app.settings import get_settings

    engine = create_engine(get_settings().database)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    connection: Any = config.attributes.get("connection")
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; use `almanac migrate`")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_with_settings())


run()
