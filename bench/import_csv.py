"""CSV import of 10,000 rows over 20 channels, on SQLite and PostgreSQL.

Makes a workspace with 20 channels (X, Mastodon, Bluesky, LinkedIn, Threads and the
sandbox), five labels and three month plans, generates ``--rows`` valid rows (two to
four channels each, an own X copy in half of them, one or two labels, a plan), then
posts the file to ``POST /api/v1/workspaces/{ws}/imports`` through the ASGI app (an
API token, authorization, upload, checking and writing, end to end):

- dry run: every row checked, nothing written;
- real import: checked again, then written in one bulk transaction.

While the real import runs, a "publisher" task opens a tiny write transaction every
20 ms, the way the scheduler claims deliveries; its slowest wait shows how long the
import kept the write lock (on SQLite: the single writer). Printed: the times, the
write transaction's duration as the import measured it, and the probe's waits.
Target: real import ≤ 10 s.

    .venv/bin/python bench/import_csv.py [--rows 10000] [--postgres URL]

The PostgreSQL URL names an empty database that the script fills (use a throwaway
one: ``createdb almanac_bench`` … ``dropdb almanac_bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import platform
import random
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.auth.tokens import hash_secret, new_api_token
from app.db import Database, create_engine, session_scope
from app.main import create_app
from app.models import (
    ApiToken,
    Channel,
    Label,
    Membership,
    Plan,
    PlanKind,
    Post,
    Role,
    User,
    Variant,
    Workspace,
    utcnow,
)
from app.networks.base import Network
from app.settings import Environment, load_settings

CHANNELS = [
    *[(Network.x, f"X {i}") for i in range(4)],
    *[(Network.mastodon, f"Mastodon {i}") for i in range(4)],
    *[(Network.bluesky, f"Bluesky {i}") for i in range(4)],
    *[(Network.sandbox, f"Sandbox {i}") for i in range(4)],
    *[(Network.linkedin, f"LinkedIn {i}") for i in range(2)],
    *[(Network.threads, f"Threads {i}") for i in range(2)],
]
LABELS = ["Launch", "Tips", "Community", "Behind the scenes", "Events"]
MONTHS = [(2026, 12), (2027, 1), (2027, 2)]
ZONE = "Europe/Paris"


async def fill(database: Database) -> tuple[uuid.UUID, str]:
    token, prefix = new_api_token()
    async with session_scope(database.write_session) as session:
        user = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.org", display_name="Bench")
        workspace = Workspace(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}", timezone=ZONE)
        session.add_all([user, workspace])
        await session.flush()
        session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.owner))
        session.add(
            ApiToken(
                user_id=user.id,
                name="bench",
                prefix=prefix,
                token_hash=hash_secret(token),
                last_used_at=utcnow(),
            )
        )
        for network, name in CHANNELS:
            session.add(Channel(workspace_id=workspace.id, network=network, name=name))
        for name in LABELS:
            session.add(Label(workspace_id=workspace.id, name=name))
        for year, month in MONTHS:
            first = date(year, month, 1)
            last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
            session.add(
                Plan(
                    workspace_id=workspace.id,
                    kind=PlanKind.month,
                    period=f"{year:04d}-{month:02d}",
                    starts_on=first,
                    ends_on=last,
                    title=f"{first:%B %Y}",
                )
            )
    return workspace.id, token


def make_file(rows: int) -> bytes:
    rng = random.Random(rows)
    networks = sorted({network for network, _ in CHANNELS}, key=list(Network).index)
    header = [
        "date", "time", "zone", "channels", "title", "text",
        *(f"text_{n.value}" for n in networks), "labels", "plan", "status", "link",
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    start = date(2026, 12, 1)
    for i in range(rows):
        day = start + timedelta(days=rng.randrange(90))
        channels = rng.sample(CHANNELS, rng.randint(2, 4))
        has_x = any(network is Network.x for network, _ in channels)
        cells = {
            "date": day.isoformat(),
            "time": f"{rng.randrange(7, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}",
            "zone": "",
            "channels": "|".join(name for _, name in channels),
            "title": f"Post {i}: an ordinary title for the calendar",
            "text": f"Post {i}. "
            + "Some copy about our product and our community. " * 3
            + "https://example.org/blog/"
            + str(i),
            "text_x": f"Short copy {i} for X 🚀 https://example.org/{i}"
            if has_x and rng.random() < 0.5
            else "",
            "labels": "|".join(rng.sample(LABELS, rng.randint(1, 2))),
            "plan": f"{day:%Y-%m}",
            "status": "draft",
            "link": "",
        }
        writer.writerow([cells.get(column, "") for column in header])
    return buffer.getvalue().encode()


async def publisher_probe(database: Database, stop: asyncio.Event) -> list[float]:
    """Tiny write transactions every 20 ms, as the scheduler's claims; their latencies."""
    waits: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        async with session_scope(database.write_session) as session:
            await session.execute(
                update(Workspace).where(Workspace.id == uuid.UUID(int=0)).values(paused=False)
            )
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return waits


async def bench(name: str, url: str, rows: int) -> None:
    database = Database(create_engine(url))
    try:
        await migrate.upgrade(database.engine)
        ws, token = await fill(database)
        data = make_file(rows)
        with TemporaryDirectory() as folder:
            settings = load_settings(
                env=Environment.test,
                data_dir=Path(folder),
                database_url=url,
                secret_key="bench-secret-key-that-is-long-enough-to-pass-0123456789",
                encryption_keys=[Fernet.generate_key().decode()],
            )
            app = create_app(settings, database)
            transport = httpx.ASGITransport(app=app)
            headers = {"authorization": f"Bearer {token}", "content-type": "text/csv"}
            path = f"/api/v1/workspaces/{ws}/imports"
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", timeout=300
            ) as http:
                started = time.perf_counter()
                dry = await http.post(
                    path, params={"dry_run": "true"}, content=data, headers=headers
                )
                dry_s = time.perf_counter() - started
                assert dry.status_code == 200, dry.text[:2000]

                stop = asyncio.Event()
                probe = asyncio.create_task(publisher_probe(database, stop))
                await asyncio.sleep(0.1)
                started = time.perf_counter()
                real = await http.post(path, content=data, headers=headers)
                real_s = time.perf_counter() - started
                await asyncio.sleep(0.1)
                stop.set()
                waits = await probe
                assert real.status_code == 201, real.text[:2000]
        async with database.read_session() as session:
            posts = await session.scalar(select(func.count()).select_from(Post))
            variants = await session.scalar(select(func.count()).select_from(Variant))
        result = real.json()
        waits.sort()
        print(
            f"\n[{name}] {rows:,} rows ({len(data) / 1e6:.2f} MB) over {len(CHANNELS)} channels "
            f"→ {posts:,} posts, {variants:,} variants, {result['labels']:,} labels"
        )
        print(f"  dry run      {dry_s:6.2f} s  (checking {dry.json()['check_ms'] / 1000:.2f} s)")
        print(
            f"  real import  {real_s:6.2f} s  (checking {result['check_ms'] / 1000:.2f} s, "
            f"write transaction held {result['write_ms'] / 1000:.2f} s)"
        )
        print(
            f"  publisher probe: {len(waits)} write transactions during the import, "
            f"median {waits[len(waits) // 2] * 1000:.1f} ms, slowest {waits[-1] * 1000:.0f} ms"
        )
        verdict = "meets" if real_s <= 10 else "MISSES"
        print(f"  target real import ≤ 10 s: {verdict}")
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to fill")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.platform()}")
    with TemporaryDirectory() as folder:
        await bench("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", args.rows)
    if args.postgres:
        await bench("postgresql", args.postgres, args.rows)


if __name__ == "__main__":
    asyncio.run(main())
