"""The ``almanac`` command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    TEST_KEYS,
    TEST_SECRET,
    create_pg_database,
    drop_pg_database,
    require_postgres,
    worker_database_name,
)

pytestmark = pytest.mark.slow


def almanac_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMANAC_")}
    env.update({"ALMANAC_DATA_DIR": str(data_dir), "ALMANAC_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def almanac(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_migrate_fresh_sqlite_then_nothing_to_do(tmp_path: Path) -> None:
    env = almanac_env(tmp_path / "data")
    first = almanac("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "Database migrated to" in first.stdout
    second = almanac("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert "already up to date" in second.stdout


@pytest.mark.postgresql
async def test_migrate_fresh_postgresql(tmp_path: Path) -> None:
    require_postgres()
    name = worker_database_name("_cli")
    url = await create_pg_database(name)
    try:
        env = almanac_env(
            tmp_path,
            ALMANAC_DATABASE_URL=url,
            ALMANAC_SECRET_KEY=TEST_SECRET,
            ALMANAC_ENCRYPTION_KEYS=TEST_KEYS[0],
        )
        result = almanac("migrate", env=env)
        assert result.returncode == 0, result.stderr
        assert "Database migrated to" in result.stdout
        # The scheduler's function is made by the role that migrates.
        from sqlalchemy import text

        from app.db import create_engine
        from scheduler.pg_cycle import NAME

        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(
                    text("SELECT count(*) FROM pg_proc WHERE proname = :name"), {"name": NAME}
                )
        finally:
            await engine.dispose()
        assert found == 1
    finally:
        await drop_pg_database(name)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"ALMANAC_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/almanac"},
            "ALMANAC_DATABASE_URL: cannot connect to",
        ),
        (
            {"ALMANAC_DATABASE_URL": "nonsense"},
            "ALMANAC_DATABASE_URL: 'nonsense' is not a database URL",
        ),
        (
            {"ALMANAC_DATABASE_URL": "sqlite:////no/such/folder/a.db"},
            "the folder /no/such/folder does not exist",
        ),
        ({"ALMANAC_DATA_DIR": "/dev/null/data"}, "ALMANAC_DATA_DIR: cannot create"),
        ({"ALMANAC_ENCRYPTION_KEYS": "change-me"}, "ALMANAC_ENCRYPTION_KEYS: is a placeholder"),
    ],
)
def test_bad_configuration_is_one_clear_line(
    tmp_path: Path, extra: dict[str, str], expected: str
) -> None:
    env = almanac_env(
        tmp_path / "data", ALMANAC_SECRET_KEY=TEST_SECRET, ALMANAC_ENCRYPTION_KEYS=TEST_KEYS[0]
    )
    env.update(extra)
    result = almanac("migrate", env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_user_create(tmp_path: Path) -> None:
    env = almanac_env(tmp_path / "data", ALMANAC_NEW_USER_PASSWORD="correct horse battery")
    assert almanac("migrate", env=env).returncode == 0
    created = almanac("user", "create", "--email", "Ana@Example.org", "--name", "Ana", env=env)
    assert created.returncode == 0, created.stderr
    assert "User ana@example.org created." in created.stdout
    again = almanac("user", "create", "--email", "ana@example.org", "--name", "Ana", env=env)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    short = almanac(
        "user",
        "create",
        "--email",
        "bo@example.org",
        "--name",
        "Bo",
        env={**env, "ALMANAC_NEW_USER_PASSWORD": "short"},
    )
    assert short.returncode == 2
    assert "too short" in short.stderr


def test_keygen_prints_usable_keys(tmp_path: Path) -> None:
    result = almanac("keygen", env=almanac_env(tmp_path))
    values = dict(line.split("=", 1) for line in result.stdout.split())
    env = almanac_env(
        tmp_path / "data",
        ALMANAC_DATABASE_URL="postgresql://postgres@127.0.0.1:1/x",
        ALMANAC_SECRET_KEY=values["ALMANAC_SECRET_KEY"],
        ALMANAC_ENCRYPTION_KEYS=values["ALMANAC_ENCRYPTION_KEYS"],
    )
    # The keys pass validation: the only complaint left is the unreachable database.
    result = almanac("migrate", env=env)
    assert "cannot connect" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_readyz_and_stops_both_processes(tmp_path: Path, signum: int) -> None:
    port = free_port()
    env = almanac_env(tmp_path / "data", ALMANAC_PORT=str(port), ALMANAC_LOG_LEVEL="INFO")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                body = response.json()
                if response.status_code == 200 and body.get("scheduler_seen_at"):
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.25)
        assert body.get("status") == "ready", body
        assert body.get("warnings") == [], body
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "scheduler stopped" in output
    assert "Finished server process" in output
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
