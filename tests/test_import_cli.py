"""``almanac import`` and ``almanac export``, run as a user runs them: in a subprocess,
on a SQLite data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import Database, create_engine, session_scope
from app.models import Post
from app.networks.base import Network
from tests.factories import make_channel, make_label, make_workspace
from tests.test_cli import almanac, almanac_env

pytestmark = pytest.mark.slow

GOOD = (
    "date,time,channels,title,text,text_x,labels\n"
    "2026-12-03,09:30,X main|Sandbox,Launch,We launch Thursday,Launch 🚀,Launch\n"
    "2026-12-04,10:00,Sandbox,Second,Another post,,\n"
)
BAD = (
    "date,time,channels,title,text,text_x,labels\n"
    "2026-12-03,09:30,Sandbox,Fine,Fine,,\n"
    "2026-02-30,09:30,Sandbox,Bad date,Text,,\n"
    "2026-12-03,09:30,Nowhere,Unknown channel,Text,,\n"
    "2026-12-03,09:30,Sandbox,Unknown label,Text,,Nope\n"
)


async def _prepare(data_dir: Path) -> None:
    database = Database(create_engine(f"sqlite+aiosqlite:///{data_dir / 'almanac.db'}"))
    try:
        async with session_scope(database.write_session) as session:
            workspace = await make_workspace(session, slug="brand", timezone="Europe/Paris")
            for network, name in [(Network.x, "X main"), (Network.sandbox, "Sandbox")]:
                await make_channel(session, workspace=workspace, network=network, name=name)
            await make_label(session, workspace=workspace, name="Launch")
    finally:
        await database.dispose()


async def _posts(data_dir: Path) -> int:
    database = Database(create_engine(f"sqlite+aiosqlite:///{data_dir / 'almanac.db'}"))
    try:
        async with database.read_session() as session:
            return await session.scalar(select(func.count()).select_from(Post)) or 0
    finally:
        await database.dispose()


async def test_import_and_export_from_the_shell(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = almanac_env(data_dir)
    assert almanac("migrate", env=env).returncode == 0
    await _prepare(data_dir)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")

    refused = almanac("import", str(bad), "--workspace", "brand", env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "row 3, column date:" in refused.stderr
    assert "row 4, column channels: no channel 'Nowhere' in this workspace" in refused.stderr
    assert "row 5, column labels:" in refused.stderr
    assert "nothing was imported" in refused.stderr
    assert await _posts(data_dir) == 0

    dry = almanac("import", str(good), "--workspace", "brand", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Dry run" in dry.stdout and "2 posts with 3 copies would be created" in dry.stdout
    assert await _posts(data_dir) == 0

    done = almanac("import", str(good), "--workspace", "brand", env=env)
    assert done.returncode == 0, done.stderr
    assert "Imported 2 posts with 3 copies from 2 rows" in done.stdout
    assert await _posts(data_dir) == 2

    missing = almanac("import", str(good), "--workspace", "nope", env=env)
    assert missing.returncode == 1
    assert "No workspace has the slug or id 'nope'" in missing.stderr

    out = tmp_path / "out.csv"
    exported = almanac("export", "--workspace", "brand", "--output", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == (
        "date,time,zone,channels,title,text,text_x,text_sandbox,labels,plan,status,link"
    )
    launch = "2026-12-03,09:30,Europe/Paris,Sandbox|X main,Launch,We launch Thursday,Launch 🚀"
    assert launch in text
