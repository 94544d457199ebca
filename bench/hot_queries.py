"""The two hot queries of the core schema, on SQLite and PostgreSQL.

Fills a workspace with N posts (one variant and one delivery each, most of them
already published), then times:

- claim candidates: due, claimable deliveries (``status IN ('pending','retrying')
  AND next_attempt_at <= now``), the scheduler's query;
- calendar range: one month of a workspace's posts by ``due_at`` (posts are
  spread over a year, so a month is about 1/12 of them).

It prints the median time of each, the plan each backend chose, and the ratio
against a full scan of the same table in the same run (machines are noisy:
compare ratios, not absolute figures).

    .venv/bin/python bench/hot_queries.py [--posts 20000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import Uuid, bindparam, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.db import Database, create_engine
from app.models import Channel, Delivery, Post, Variant, Workspace, utcnow
from app.models.base import UTCDateTime

PARAM_TYPES = {"ws": Uuid(), "now": UTCDateTime(), "start": UTCDateTime(), "end": UTCDateTime()}


def typed(sql: str, params: dict):  # type: ignore[no-untyped-def]
    return text(sql).bindparams(*(bindparam(name, type_=PARAM_TYPES[name]) for name in params))


CLAIM = (
    "SELECT id FROM delivery WHERE status IN ('pending', 'retrying') "
    "AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT 50"
)
CALENDAR = (
    "SELECT id FROM post WHERE workspace_id = :ws AND due_at >= :start AND due_at < :end "
    "ORDER BY due_at"
)
SCAN = "SELECT count(*) FROM delivery WHERE attempts >= 0"


async def fill(database: Database, posts: int) -> uuid.UUID:
    now = utcnow()
    step = timedelta(days=365) / posts  # a year of posts, 95 % of it in the past
    ws = Workspace(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
    async with database.write_session() as session:
        session.add(ws)
        await session.flush()
        channel = Channel(workspace_id=ws.id, network="sandbox", name="sandbox")
        session.add(channel)
        await session.flush()
        for start in range(0, posts, 2000):
            post_rows, variant_rows, delivery_rows = [], [], []
            for i in range(start, min(posts, start + 2000)):
                due = now + step * (i - int(posts * 0.95))
                pid, vid = uuid.uuid4(), uuid.uuid4()
                post_rows.append(
                    {
                        "id": pid,
                        "workspace_id": ws.id,
                        "title": f"p{i}",
                        "body": "x",
                        "status": "approved",
                        "local_at": due.replace(tzinfo=None),
                        "timezone": "UTC",
                        "due_at": due,
                        "version": 1,
                        "media": [],
                        "fold": 0,
                    }
                )
                variant_rows.append(
                    {
                        "id": vid,
                        "post_id": pid,
                        "channel_id": channel.id,
                        "content_hash": "h",
                        "approved_hash": "h",
                    }
                )
                published = due < now - timedelta(minutes=30)
                delivery_rows.append(
                    {
                        "workspace_id": ws.id,
                        "post_id": pid,
                        "variant_id": vid,
                        "channel_id": channel.id,
                        "due_at": due,
                        "next_attempt_at": due,
                        "status": "published" if published else "pending",
                        "published_at": due if published else None,
                        "checkpoint": {},
                        "attempts": 1 if published else 0,
                        "idempotency_key": uuid.uuid4().hex,
                    }
                )
            await session.execute(insert(Post), post_rows)
            await session.execute(insert(Variant), variant_rows)
            await session.execute(insert(Delivery), delivery_rows)
        await session.commit()
    async with database.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return ws.id


async def timed(database: Database, sql: str, params: dict, runs: int = 30) -> float:
    samples = []
    async with database.engine.connect() as connection:
        for _ in range(runs):
            started = time.perf_counter()
            (await connection.execute(typed(sql, params), params)).all()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def plan(database: Database, sql: str, params: dict) -> str:
    prefix = "EXPLAIN QUERY PLAN " if database.is_sqlite else "EXPLAIN "
    async with database.engine.connect() as connection:
        rows = (await connection.execute(typed(prefix + sql, params), params)).all()
    return " | ".join(str(row[-1]) for row in rows)


async def bench(name: str, url: str, posts: int) -> None:
    database = Database(create_engine(url))
    try:
        await migrate.upgrade(database.engine)
        ws = await fill(database, posts)
        now = utcnow()
        month = {"ws": ws, "start": now - timedelta(days=15), "end": now + timedelta(days=15)}
        claim = {"now": now}
        scan_ms = await timed(database, SCAN, {})
        claim_ms = await timed(database, CLAIM, claim)
        calendar_ms = await timed(database, CALENDAR, month)
        print(f"\n[{name}] {posts} posts/deliveries")
        print(f"  full scan of delivery      {scan_ms:8.3f} ms (reference)")
        for label, ms in (("claim candidates (50)", claim_ms), ("calendar month", calendar_ms)):
            print(f"  {label:<26} {ms:8.3f} ms  = {ms / scan_ms:.3f} x scan")
        print(f"  claim plan:    {await plan(database, CLAIM, claim)}")
        print(f"  calendar plan: {await plan(database, CALENDAR, month)}")
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to fill")
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        await bench("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", args.posts)
    if args.postgres:
        await bench("postgresql", args.postgres, args.posts)


if __name__ == "__main__":
    asyncio.run(main())
