"""Migrations go up, down and up again on empty databases, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app import migrate
from app.db import Database, create_engine
from app.models import Base
from tests.conftest import (
    create_pg_database,
    drop_pg_database,
    require_postgres,
    worker_database_name,
)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _round_trip(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(_tables)
        assert {table.name for table in Base.metadata.sorted_tables} <= tables
        assert await migrate.is_at_head(engine)

        await migrate.downgrade(engine, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        assert not await migrate.is_at_head(engine)

        await migrate.upgrade(engine)
        assert await migrate.is_at_head(engine)
    finally:
        await engine.dispose()


async def test_up_down_up_sqlite(tmp_path: Path) -> None:
    await _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.postgresql
async def test_up_down_up_postgresql() -> None:
    require_postgres()
    name = worker_database_name("_migrations")
    url = await create_pg_database(name)
    try:
        await _round_trip(url)
    finally:
        await drop_pg_database(name)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": Base.metadata}
    )
    return compare_metadata(context, Base.metadata)


async def test_models_and_migrations_agree(database: Database) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == [], f"models and migrations differ; run alembic revision --autogenerate: {diff}"


def test_single_head() -> None:
    assert len(migrate.head_revisions()) == 1


def test_migration_files_are_date_slugged() -> None:
    versions = Path(migrate.ROOT, "migrations", "versions")
    names = sorted(p.name for p in versions.glob("*.py"))
    assert names
    for name in names:
        assert name[:4].isdigit() and name[4] == "_" and "-" in name, name
