"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: ``ALMANAC_TEST_POSTGRES_URL`` (default the local server, database
``test``, user ``postgres``). Each xdist worker gets its own database, created
and migrated once; each test starts with empty tables. When PostgreSQL cannot be
reached a local run says so loudly and skips only the PostgreSQL tests; a CI run
(``CI=true``) fails instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.db import Database, create_engine
from app.main import create_app
from app.models import Base
from app.settings import Environment, Settings, load_settings

PG_URL = os.environ.get(
    "ALMANAC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Unique per run and worker: parallel runs on one server never drop each other's database.
WORKER = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
TEST_KEYS = [Fernet.generate_key().decode()]
TEST_SECRET = "test-secret-key-that-is-long-enough-to-pass-0123456789"

_pg_problem: str | None = None


async def _probe_postgres() -> str | None:
    import asyncpg

    url = make_url(PG_URL)
    try:
        connection = await asyncio.wait_for(
            asyncpg.connect(
                host=url.host,
                port=url.port or 5432,
                user=url.username,
                password=url.password,
                database=url.database,
            ),
            timeout=5,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


def pytest_configure(config: pytest.Config) -> None:
    global _pg_problem
    # structlog's default renderer highlights tracebacks with pygments: seconds per
    # logged exception. Plain tracebacks, as app.logging configures in production.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            ),
        ]
    )
    _pg_problem = asyncio.run(_probe_postgres())
    if _pg_problem and IN_CI:
        pytest.exit(
            f"PostgreSQL is unreachable at {make_url(PG_URL).render_as_string(hide_password=True)} "
            f"({_pg_problem}); CI requires it.",
            returncode=3,
        )


_BANNER = "!" * 78


def _pg_warning() -> list[str]:
    where = make_url(PG_URL).render_as_string(hide_password=True)
    return [
        _BANNER,
        f"!!  PostgreSQL UNREACHABLE at {where}",
        f"!!  ({_pg_problem})",
        "!!  PostgreSQL tests are SKIPPED. Set ALMANAC_TEST_POSTGRES_URL or start PostgreSQL.",
        _BANNER,
    ]


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _pg_problem:
        return _pg_warning()
    return [f"PostgreSQL: {make_url(PG_URL).render_as_string(hide_password=True)} (reachable)"]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    # Figures that tests report with record_property("summary", ...) (they reach the
    # controller under xdist, unlike print).
    for report in terminalreporter.stats.get("passed", []):
        for name, value in getattr(report, "user_properties", []):
            if name == "summary":
                terminalreporter.write_line(str(value))
    if _pg_problem:
        for line in _pg_warning():
            terminalreporter.write_line(line, red=True, bold=True)


# -- databases ----------------------------------------------------------------


def worker_database_name(suffix: str = "") -> str:
    return f"almanac_test_{WORKER}{suffix}"


async def create_pg_database(name: str) -> str:
    """(Re)create a PostgreSQL database next to the test one; return its URL."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def require_postgres() -> None:
    if _pg_problem:
        pytest.skip(f"PostgreSQL unreachable ({_pg_problem})")


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
]


@pytest.fixture(scope="session", params=BACKENDS)
async def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """One database per backend and worker, migrated to head once."""
    backend = request.param
    if backend == "postgresql":
        require_postgres()
        url = await create_pg_database(worker_database_name())
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'almanac.db'}"
    database = Database(create_engine(url))
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()
    if backend == "postgresql":
        await drop_pg_database(worker_database_name())


async def empty_all_tables(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    # DELETE in reverse dependency order: much faster than TRUNCATE on tiny tables.
    async with database.engine.begin() as connection:
        for name in tables:
            await connection.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture
async def database(migrated_database: Database) -> AsyncIterator[Database]:
    """A migrated database with empty tables, on SQLite and on PostgreSQL."""
    yield migrated_database
    await empty_all_tables(migrated_database)


@pytest.fixture
def backend(database: Database) -> str:
    return "sqlite" if database.is_sqlite else "postgresql"


# -- settings and app ------------------------------------------------------------


def make_settings(data_dir: Path, database_url: str = "", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.test,
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "encryption_keys": TEST_KEYS,
        "allow_private_hosts": True,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    url = database.engine.url.render_as_string(hide_password=False)
    return make_settings(tmp_path / "data", url)


@pytest.fixture
async def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    from app.net.outbound import close_shared_client

    application = create_app(settings, database)
    yield application
    # ASGITransport runs no lifespan: close what the app opened lazily.
    await close_shared_client(application)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No ALMANAC_* variable from the outer environment leaks into a settings test."""
    for name in list(os.environ):
        if name.startswith("ALMANAC_"):
            monkeypatch.delenv(name)
    yield monkeypatch


@pytest.fixture(autouse=True)
def fresh_dns_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbound check keeps names' answers for seconds (``RecentAnswers``); each
    test starts with none, so what one test resolved never answers for another."""
    from app.net import outbound

    monkeypatch.setattr(outbound, "_RECENT", outbound.RecentAnswers())


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2 at production cost takes ~0.3 s a hash; the tests hash hundreds of
    passwords. Same algorithm, minimal cost, in-process tests only."""
    from argon2 import PasswordHasher

    from app.auth import passwords

    original = passwords.HASHER
    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords.dummy_hash.cache_clear()
    yield
    passwords.HASHER = original
    passwords.dummy_hash.cache_clear()
