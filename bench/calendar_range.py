"""The calendar range query for a busy month, on SQLite and PostgreSQL.

Fills a workspace with a month (December 2026) holding 3,000 posts × 3 variants
(three channels, one copy in ten with its own time, one or two labels each, all
in one plan), plus a lighter month either side so the range filter has work to
do, with bulk inserts. Then times, over ``--runs`` runs after a warm-up:

- service: ``app.calendar.service.calendar_json`` alone (query + response body), in a
  read session;
- endpoint: ``GET /api/v1/workspaces/{ws}/calendar`` end to end through the ASGI
  app (httpx ``ASGITransport``, an API token, authorization, JSON encoding).

It prints p50/p95 of each and the query plans of the range queries. Target:
endpoint p50 ≤ 50 ms.

    .venv/bin/python bench/calendar_range.py [--posts 3000] [--runs 30] [--postgres URL]
        [--without-index NAME]

``--without-index`` drops an index after migrating, to compare plans and times with
and without it. On PostgreSQL the data is VACUUM ANALYZEd after loading (as
autovacuum would), so index-only scans are possible.

The PostgreSQL URL names an empty database that the script fills (use a
throwaway one: ``createdb almanac_bench`` … ``dropdb almanac_bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.auth.tokens import hash_secret, new_api_token
from app.calendar import service
from app.db import Database, create_engine
from app.main import create_app
from app.models import (
    ApiToken,
    Channel,
    Label,
    Membership,
    Plan,
    Post,
    Role,
    User,
    Variant,
    Workspace,
    post_label,
)
from app.settings import Environment, load_settings

ZONE = "Europe/Paris"
MONTH_START = datetime(2026, 12, 1, tzinfo=UTC)
MONTH_END = datetime(2027, 1, 1, tzinfo=UTC)
NETWORKS = ("x", "mastodon", "bluesky")


def _post_rows(
    ws: uuid.UUID, plan: uuid.UUID | None, start: datetime, days: int, count: int, tag: str
) -> list[dict]:
    rng = random.Random(f"{tag}-{count}")
    rows = []
    for i in range(count):
        due = start + timedelta(seconds=rng.randrange(days * 86400 // 60) * 60)
        rows.append(
            {
                "id": uuid.uuid4(),
                "workspace_id": ws,
                "plan_id": plan,
                "title": f"{tag} post {i}: a title of ordinary length",
                "body": "Some copy. " * 10,
                "status": rng.choice(["draft", "in_review", "approved"]),
                # Stored as wall time; the bench does not care about the offset.
                "local_at": (due + timedelta(hours=1)).replace(tzinfo=None),
                "timezone": ZONE,
                "due_at": due,
                "version": 1,
                "media": [],
                "fold": 0,
            }
        )
    return rows


async def fill(database: Database, posts: int) -> tuple[uuid.UUID, str]:
    """A workspace, its owner's API token, and the month of posts. Returns (ws, token)."""
    rng = random.Random(7)
    token, prefix = new_api_token()
    ws = Workspace(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}", timezone=ZONE)
    user = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.org", display_name="Bench")
    async with database.write_session() as session:
        session.add_all([ws, user])
        await session.flush()
        session.add(Membership(workspace_id=ws.id, user_id=user.id, role=Role.owner))
        session.add(
            ApiToken(user_id=user.id, name="bench", prefix=prefix, token_hash=hash_secret(token))
        )
        channels = [Channel(workspace_id=ws.id, network=n, name=n) for n in NETWORKS]
        labels = [Label(workspace_id=ws.id, name=f"pillar {i}") for i in range(5)]
        plan = Plan(
            workspace_id=ws.id,
            kind="month",
            period="2026-12",
            starts_on=MONTH_START.date(),
            ends_on=(MONTH_END - timedelta(days=1)).date(),
            title="December",
        )
        session.add_all([*channels, *labels, plan])
        await session.flush()

        post_rows = _post_rows(ws.id, plan.id, MONTH_START, 31, posts, "dec")
        post_rows += _post_rows(
            ws.id, None, MONTH_START - timedelta(days=30), 30, posts // 3, "nov"
        )
        post_rows += _post_rows(ws.id, None, MONTH_END, 31, posts // 3, "jan")
        variant_rows, label_rows = [], []
        for row in post_rows:
            for channel in channels:
                own = row["due_at"] + timedelta(minutes=30) if rng.random() < 0.1 else None
                variant_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "post_id": row["id"],
                        "channel_id": channel.id,
                        "local_at": own.replace(tzinfo=None) if own else None,
                        "fold": 0,
                        "due_at": own,
                        "content_hash": "h" * 64,
                        "approved_hash": None,
                    }
                )
            for label in rng.sample(labels, rng.choice((1, 2))):
                label_rows.append({"post_id": row["id"], "label_id": label.id})
        for chunk in range(0, len(post_rows), 2000):
            await session.execute(insert(Post), post_rows[chunk : chunk + 2000])
        for chunk in range(0, len(variant_rows), 3000):
            await session.execute(insert(Variant), variant_rows[chunk : chunk + 3000])
        await session.execute(insert(post_label), label_rows)
        await session.commit()
    if database.is_sqlite:
        async with database.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    else:
        # VACUUM as autovacuum would after a bulk load: it sets the visibility map, without
        # which PostgreSQL cannot answer from an index alone (an index-only scan).
        async with database.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
    return ws.id, token


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


async def time_service(database: Database, ws: uuid.UUID, runs: int) -> tuple[int, list[float]]:
    samples, size = [], 0
    for run in range(runs + 3):
        async with database.read_session() as session:
            started = time.perf_counter()
            result = await service.calendar_json(session, ws, MONTH_START, MONTH_END)
            elapsed = time.perf_counter() - started
        size = len(json.loads(result)["entries"])
        if run >= 3:  # warm-up: statement caches, first connection
            samples.append(elapsed)
    return size, samples


async def time_endpoint(
    database: Database, url: str, ws: uuid.UUID, token: str, runs: int
) -> tuple[int, int, list[float]]:
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
        params = {"from": MONTH_START.isoformat(), "to": MONTH_END.isoformat()}
        headers = {"authorization": f"Bearer {token}"}
        samples: list[float] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for run in range(runs + 3):
                started = time.perf_counter()
                response = await http.get(
                    f"/api/v1/workspaces/{ws}/calendar", params=params, headers=headers
                )
                body = response.content
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if run >= 3:
                    samples.append(elapsed)
        from app.net.outbound import close_shared_client

        await close_shared_client(app)
    return len(response.json()["entries"]), len(body), samples


async def plans(database: Database, ws: uuid.UUID) -> list[tuple[str, str]]:
    """The plan of each statement the service runs, captured from the engine."""
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    from sqlalchemy import event

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with database.read_session() as session:
            await service.calendar_json(session, ws, MONTH_START, MONTH_END)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)

    prefix = "EXPLAIN QUERY PLAN " if database.is_sqlite else "EXPLAIN "
    found = []
    async with database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        for statement, parameters in statements:
            if database.is_sqlite:
                cursor = await driver.execute(prefix + statement, parameters)
                rows = await cursor.fetchall()
                await cursor.close()
                lines = [str(row[-1]) for row in rows]
            else:
                rows = await driver.fetch(prefix + statement, *parameters)
                lines = [row[0] for row in rows]
            found.append((" ".join(statement.split())[:160], "\n      ".join(lines)))
    return found


async def bench(name: str, url: str, posts: int, runs: int, without: str | None = None) -> None:
    database = Database(create_engine(url))
    try:
        await migrate.upgrade(database.engine)
        if without:
            async with database.engine.begin() as connection:
                await connection.execute(text(f"DROP INDEX {without}"))
            name = f"{name}, without {without}"
        started = time.perf_counter()
        ws, token = await fill(database, posts)
        fill_s = time.perf_counter() - started
        entries, service_samples = await time_service(database, ws, runs)
        served, size, endpoint_samples = await time_endpoint(database, url, ws, token, runs)
        assert served == entries == posts, (served, entries, posts)
        s50, s95 = stats(service_samples)
        e50, e95 = stats(endpoint_samples)
        print(
            f"\n[{name}] {posts} posts × {len(NETWORKS)} variants in the month "
            f"(+{2 * (posts // 3)} around it), filled in {fill_s:.1f} s"
        )
        print(f"  service   p50 {s50:7.1f} ms   p95 {s95:7.1f} ms   ({runs} runs)")
        print(
            f"  endpoint  p50 {e50:7.1f} ms   p95 {e95:7.1f} ms   "
            f"({runs} runs, {size / 1e6:.2f} MB JSON)"
        )
        verdict = "meets" if e50 <= 50 else "MISSES"
        print(f"  target endpoint p50 ≤ 50 ms: {verdict}")
        for statement, plan in await plans(database, ws):
            print(f"  query: {statement}…\n    plan: {plan}")
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to fill")
    parser.add_argument(
        "--without-index",
        metavar="NAME",
        help="drop this index after migrating, to compare the plans with and without it",
    )
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    with TemporaryDirectory() as folder:
        await bench(
            "sqlite",
            f"sqlite+aiosqlite:///{folder}/bench.db",
            args.posts,
            args.runs,
            args.without_index,
        )
    if args.postgres:
        await bench("postgresql", args.postgres, args.posts, args.runs, args.without_index)


if __name__ == "__main__":
    asyncio.run(main())
