"""The month page with a busy month, rendered by the server, on SQLite and PostgreSQL.

Fills a workspace as ``bench/calendar_range.py`` does (December 2026: 3,000 posts ×
3 variants, labels, one plan, a lighter month either side), then times
``GET /w/{ws}/calendar?month=2026-12`` end to end through the ASGI app (httpx
``ASGITransport``, an API token, authorization, the calendar query, the page's
view-models and the Jinja template), over ``--runs`` runs after a warm-up, and
prints p50/p95 of the wall time and of this process's CPU time (which includes
SQLite's work but not the PostgreSQL server's; on a loaded machine it shows what the
page costs better than the wall time does) and the page's size. Target: wall p50
≤ 150 ms.

A day shows its first ``CHIPS_PER_DAY`` posts and "+K more", so the page is the same
size however busy the month is; the script checks that every post is counted on its
day and that no day has more chips than that.

    .venv/bin/python bench/calendar_render.py [--posts 3000] [--runs 30] [--postgres URL]

The PostgreSQL URL names an empty database that the script fills (use a throwaway
one: ``createdb almanac_bench`` … ``dropdb almanac_bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calendar_range import fill, stats

from app import migrate
from app.db import Database, create_engine
from app.main import create_app
from app.net.outbound import close_shared_client
from app.settings import Environment, load_settings
from app.web.calendar_pages import CHIPS_PER_DAY

TARGET_MS = 150


async def time_page(
    database: Database, url: str, ws: uuid.UUID, token: str, runs: int, posts: int
) -> tuple[list[float], list[float], int]:
    with TemporaryDirectory() as data:
        settings = load_settings(
            env=Environment.test,
            data_dir=Path(data),
            database_url=url,
            secret_key="bench-secret-key-that-is-long-enough-to-pass-0123456789",
            encryption_keys=[Fernet.generate_key().decode()],
        )
        app = create_app(settings, database)
        transport = httpx.ASGITransport(app=app)
        headers = {"authorization": f"Bearer {token}", "accept": "text/html"}
        samples: list[float] = []
        cpu_samples: list[float] = []
        size = 0
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for run in range(runs + 3):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = await http.get(
                    f"/w/{ws}/calendar", params={"month": "2026-12"}, headers=headers
                )
                body = response.content
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                response.raise_for_status()
                size = len(body)
                if run >= 3:
                    samples.append(elapsed)
                    cpu_samples.append(cpu)
        # Every post of the month (and of the grid's days from the months either side)
        # is counted on its day; a day shows its first CHIPS_PER_DAY as chips.
        counted = sum(int(n) for n in re.findall(rb'class="day-count">(\d+) post', body))
        chips = body.count(b'class="chip ')
        assert counted >= posts, (counted, posts)
        assert chips <= CHIPS_PER_DAY * 42, chips
        await close_shared_client(app)
    return samples, cpu_samples, size


async def bench(name: str, url: str, posts: int, runs: int) -> None:
    database = Database(create_engine(url))
    try:
        await migrate.upgrade(database.engine)
        ws, token = await fill(database, posts)
        samples, cpu_samples, size = await time_page(database, url, ws, token, runs, posts)
        p50, p95 = stats(samples)
        cpu50, cpu95 = stats(cpu_samples)
        print(f"\n[{name}] month page, {posts} posts × 3 variants in the month")
        print(
            f"  page  p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
            f"({runs} runs, {size / 1e6:.2f} MB HTML)"
        )
        print(f"  CPU   p50 {cpu50:7.1f} ms   p95 {cpu95:7.1f} ms   (this process's CPU time)")
        verdict = "meets" if p50 <= TARGET_MS else "MISSES"
        print(f"  target p50 ≤ {TARGET_MS} ms: {verdict}")
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to fill")
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    with TemporaryDirectory() as folder:
        await bench("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", args.posts, args.runs)
    if args.postgres:
        await bench("postgresql", args.postgres, args.posts, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
