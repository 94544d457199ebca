"""Publish lag: how late a burst of due posts reaches the platform.

    .venv/bin/python bench/publish_lag.py [--n 10000] [--backend sqlite|postgresql|both]
        [--processes 1 3] [--workers 50] [--quick] [--profile] [--pairs K]

A platform server (``bench/platform_server.py``, its own process) answers every
publication after 50 ms, honours ``Idempotency-Key`` and counts duplicates by the
delivery id written in the post's text. On it, in one run:

- **the floor**: a bare asyncio loop (its own process, no database) sending the same
  N webhook requests (same JSON, same HMAC signature) through the scheduler's own
  client (``app.net.outbound.new_client``: httpx on aiohttp's pool) with the same
  concurrency as the scheduler's worker slots (``--workers``); a diagnostic second
  floor uses httpx's default transport (httpcore) over 5 clients;
- **plain APScheduler** 3.11: one ``DateTrigger`` job per post in a
  ``SQLAlchemyJobStore`` on a SQLite file, a ``BackgroundScheduler`` whose jobs POST
  with a shared sync httpx client. *Default* settings (10 threads,
  ``misfire_grace_time`` 1 s: a burst is dropped as misfired, counted as lost), then
  *tuned* (threads = ``--workers``, ``misfire_grace_time=None``, ``coalesce=True``).
  The N jobs are written to the job store in one transaction, the rows exactly
  what ``add_job`` writes (``add_job`` commits once per job: about a minute for
  10,000), which is set-up, not measured;
- **Almanac**: ``almanac scheduler`` processes (``python -m app.cli scheduler``) on
  a fresh database, with 100 webhook channels pointing at the platform server
  (``ALMANAC_ALLOW_PRIVATE_HOSTS=true``). N approved posts (one variant and one
  delivery each, the channels in turn) are inserted in bulk due tomorrow; once the
  schedulers idle, one transaction moves them all to T = now + 3 s and sends the
  app's ``NOTIFY`` (what a reschedule does). N = 1 runs first on the same database:
  single posts inserted while the scheduler runs, each due two seconds later
  (``--singles`` of them, one after the other). On PostgreSQL the burst also runs
  with several processes (``--processes``) and prints how the work was shared (the
  ``process_id`` of each published attempt).

Lag is the arrival (the platform has read the whole request, before its 50 ms) minus
the due time. *Lost*: never arrived by T + ``--timeout``. *Duplicates*: a second
post of one delivery id (under another key); *replays*: a key sent again (answered
from the platform's idempotency store, no new post). *CPU/delivery*: user + system
CPU of the sending process(es) over the run, from ``/proc``.

``--pairs K`` measures only the single-process ratio (Almanac's p99 over the floor's),
K times per backend, each Almanac burst right after a floor of its own, and prints
each pair's ratio and their median: these shared machines change speed within a run
(bench/README.md), and a ratio taken from a floor minutes earlier drifts with them.

PostgreSQL: each case creates its own database ``almanac_bench_<pid>_<n>`` through
``--postgres-admin`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and
drops it afterwards. ``--profile`` runs the (first) scheduler process under
cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pickle
import pstats
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app.notifications.webhooks import sign  # noqa: E402

CHANNELS = 100
SECRET = "bench-webhook-secret"
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def post_text(index: int, delivery: str) -> str:
    return f"Bench post {index}: the publish lag benchmark. delivery={delivery}"


def webhook_request(index: int, delivery: str, channel: int) -> tuple[str, bytes, dict[str, str]]:
    """What ``app.networks.webhook`` sends for a post, built the same way."""
    event = {
        "type": "post.published",
        "id": delivery,
        "created_at": datetime.now(UTC).isoformat(),
        "channel_id": f"channel-{channel}",
        "post": {"text": post_text(index, delivery), "link": None, "media": []},
    }
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": delivery,
        "Almanac-Event": "post.published",
        "Almanac-Signature": sign(SECRET, body, int(time.time())),
    }
    return f"/hook/{channel}", body, headers


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its waited-for children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / CLK_TCK


# -- results ------------------------------------------------------------------------


@dataclass
class Result:
    case: str
    n: int
    lags: list[float] = field(default_factory=list)
    lost: int = 0
    duplicates: int = 0
    replays: int = 0
    cpu: float | None = None  # seconds, the sending process(es)
    server_cpu: float = 0.0
    server_requests: int = 0
    notes: list[str] = field(default_factory=list)
    singles: bool = False  # N = 1, repeated: one lag per run

    def pct(self, p: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    @property
    def span(self) -> float:
        return max(self.lags) if self.lags else 0.0

    def row(self) -> list[str]:
        if not self.lags:
            return [self.case, str(self.n), *["-"] * 6, str(self.lost), str(self.duplicates)]
        throughput = len(self.lags) / self.span if self.span > 0 else float("inf")
        return [
            self.case,
            f"1 (×{len(self.lags)})" if self.singles else f"{self.n:,}",
            _ms(self.pct(50)),
            _ms(self.pct(95)),
            _ms(self.pct(99)),
            _ms(max(self.lags)),
            _ms(min(self.lags)),
            "-" if self.singles else f"{throughput:,.0f}/s",
            f"{self.lost:,}",
            f"{self.duplicates}",
            f"{self.replays}",
            f"{self.cpu / self.n * 1000:.2f} ms" if self.cpu is not None else "-",
        ]


def _signed(seconds: float) -> str:
    return f"{'+' if seconds >= 0 else '−'}{_ms(abs(seconds))}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if abs(seconds) >= 1 else f"{seconds * 1000:.1f} ms"


HEADER = [
    "case",
    "N",
    "p50",
    "p95",
    "p99",
    "max",
    "first",
    "throughput",
    "lost",
    "dup",
    "replays",
    "CPU/delivery",
]


def print_table(results: list[Result]) -> None:
    rows = [HEADER, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    for result in results:
        for note in result.notes:
            print(f"  {result.case}: {note}")


# -- the platform -------------------------------------------------------------------


class Platform:
    """The platform server process and its control routes."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "platform_server.py"), "--latency", str(latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            raise SystemExit(f"the platform server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.control = httpx.Client(base_url=self.base, timeout=30)

    def reset(self) -> None:
        self.control.post("/_reset").raise_for_status()

    def count(self) -> int:
        return int(self.control.get("/_count").text)

    def stats(self) -> dict[str, Any]:
        return self.control.get("/_stats").json()

    async def wait_for(self, total: int, deadline: float, done: Any = None) -> None:
        """Until ``total`` delivery ids arrived, ``done()`` says stop, or the deadline."""
        while time.time() < deadline:
            if self.count() >= total or (done is not None and done()):
                return
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self.control.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def score(
    result: Result, platform: Platform, expected: dict[str, float], stats: dict[str, Any]
) -> Result:
    """Fill ``result`` from the platform's stats; ``expected`` maps delivery id → due."""
    arrivals = stats["arrivals"]
    result.lags = [arrivals[d] - due for d, due in expected.items() if d in arrivals]
    result.lost = len(expected) - len(result.lags)
    result.duplicates = sum(1 for d, _t, _k in stats["duplicates"] if d in expected)
    result.replays = stats["replays"]
    result.server_cpu = stats["cpu_seconds"]
    result.server_requests = stats["requests"]
    stray = sum(1 for d in arrivals if d not in expected)
    if stray:
        result.notes.append(f"{stray} arrivals of unknown delivery ids")
    if stats["unmarked"]:
        result.notes.append(f"{stats['unmarked']} requests without a delivery id")
    if result.lags and result.server_requests:
        per_request = result.server_cpu / result.server_requests
        busy = result.server_cpu / max(result.span, 1e-9)
        result.notes.append(
            f"platform server: {per_request * 1e6:.0f} µs CPU per request "
            f"(capacity ≈ {1 / per_request:,.0f} requests/s on one core), "
            f"busy {busy:.0%} of the burst"
        )
    return result


# -- the floor ----------------------------------------------------------------------


async def floor_role(port: int, n: int, concurrency: int, due: float, transport: str) -> None:
    base = f"http://127.0.0.1:{port}"
    if transport == "httpcore":
        # httpx's own transport, 5 clients of 20 connections (httpcore's pool scans all
        # its connections on each request: what the scheduler used before app/net/aio.py).
        limits = httpx.Limits(max_connections=max(100, concurrency * 2) // 5)
        pool = [httpx.AsyncClient(timeout=30, limits=limits) for _ in range(5)]
    else:
        # The scheduler's own client (scheduler/main.py: publishing_client).
        from app.net.outbound import new_client

        limits = httpx.Limits(max_connections=max(100, concurrency * 2))
        pool = [new_client(allow_private=True, timeout=30, limits=limits)]
    clients = len(pool)
    indexes = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for index in indexes:  # one shared iterator: every index is sent once
            path, body, headers = webhook_request(index, f"floor{index}", index % CHANNELS)
            response = await pool[index % clients].post(base + path, content=body, headers=headers)
            if response.status_code != 200:
                failures += 1

    await asyncio.sleep(max(0.0, due - time.time()))
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = time.process_time() - cpu
    for client in pool:
        await client.aclose()
    print(json.dumps({"failures": failures, "cpu": cpu}), flush=True)


def run_floor(
    platform: Platform, n: int, concurrency: int, timeout: float, transport: str = "aiohttp"
) -> Result:
    name = f"floor ({concurrency} concurrent" + (
        ", httpcore: httpx's default transport)" if transport == "httpcore" else ")"
    )
    platform.reset()
    due = time.time() + 2.0
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role=floor",
            f"--port={platform.port}",
            f"--n={n}",
            f"--workers={concurrency}",
            f"--due={due}",
            f"--transport={transport}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        out, _ = process.communicate(timeout=due + timeout - time.time())
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    result = Result(name, n)
    score(result, platform, {f"floor{i}": due for i in range(n)}, platform.stats())
    if out.strip():
        report = json.loads(out.strip().splitlines()[-1])
        result.cpu = report["cpu"]
        if report["failures"]:
            result.notes.append(f"{report['failures']} requests answered with an error")
    return result


# -- plain APScheduler --------------------------------------------------------------

APS_HTTP: httpx.Client | None = None


def aps_publish(index: int, delivery: str, channel: int, port: int) -> None:
    """The job a Python user would write: build the webhook request and POST it."""
    assert APS_HTTP is not None
    path, body, headers = webhook_request(index, delivery, channel)
    response = APS_HTTP.post(f"http://127.0.0.1:{port}{path}", content=body, headers=headers)
    response.raise_for_status()


def apscheduler_role(
    port: int, n: int, variant: str, threads: int, lead: float, folder: str, timeout: float
) -> None:
    global APS_HTTP
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.util import datetime_to_utc_timestamp

    due = time.time() + lead
    APS_HTTP = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=max(100, threads * 2)))
    job_defaults: dict[str, Any] = {}
    if variant == "tuned":
        job_defaults = {"misfire_grace_time": None, "coalesce": True}
    store = SQLAlchemyJobStore(url=f"sqlite:///{folder}/apscheduler-{variant}.db")
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(threads)},
        job_defaults=job_defaults,
        timezone=UTC,
    )
    # Set-up: the jobs, with the scheduler's own defaults applied, written in one
    # transaction as exactly the rows SQLAlchemyJobStore.add_job would write.
    staging = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()}, job_defaults=job_defaults, timezone=UTC
    )
    staging.start(paused=True)
    run_date = datetime.fromtimestamp(due, UTC)
    for index in range(n):
        staging.add_job(
            aps_publish,
            "date",
            run_date=run_date,
            args=[index, f"aps-{variant}-{index}", index % CHANNELS, port],
            id=f"post-{index}",
        )
    rows = [
        {
            "id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
        }
        for job in staging.get_jobs()
    ]
    staging.shutdown(wait=False)
    counts = {"executed": 0, "errors": 0, "missed": 0}
    lock = threading.Lock()
    all_done = threading.Event()

    def listen(event: Any) -> None:
        kind = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_ERROR: "errors"}.get(event.code, "missed")
        with lock:
            counts[kind] += 1
            if sum(counts.values()) >= n:
                all_done.set()

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start(paused=True)  # creates the job table
    with store.engine.begin() as connection:
        connection.execute(store.jobs_t.insert(), rows)
    scheduler.resume()
    ready = time.time()
    print(f"DUE {due} {ready - (due - lead):.2f}", flush=True)
    time.sleep(max(0.0, due - time.time()))
    cpu = time.process_time()
    all_done.wait(timeout=max(0.0, due + timeout - time.time()))
    counts["cpu"] = time.process_time() - cpu
    scheduler.shutdown(wait=False)
    print("DONE " + json.dumps(counts), flush=True)
    os._exit(0)  # do not wait for threads still running after a timeout


def run_apscheduler(
    platform: Platform, n: int, variant: str, threads: int, timeout: float, folder: str
) -> Result:
    platform.reset()
    lead = 4.0 + n / 2500
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role=apscheduler",
            f"--port={platform.port}",
            f"--n={n}",
            f"--variant={variant}",
            f"--workers={threads}",
            f"--lead={lead}",
            f"--folder={folder}",
            f"--timeout={timeout}",
        ],
        stdout=subprocess.PIPE,
        stderr=(Path(folder) / f"apscheduler-{variant}.log").open("wb"),
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().split()
    if not first or first[0] != "DUE":
        raise SystemExit(f"APScheduler reference failed to start: {first}")
    due, setup = float(first[1]), float(first[2])
    out, _ = process.communicate(timeout=due + timeout - time.time() + 30)
    done = json.loads(next(line for line in out.splitlines() if line.startswith("DONE "))[5:])
    label = (
        "default: 10 threads, misfire_grace_time=1"
        if variant == "default"
        else (f"tuned: {threads} threads, misfire_grace_time=None, coalesce")
    )
    result = Result(f"APScheduler {variant}", n, cpu=done["cpu"])
    score(result, platform, {f"aps-{variant}-{i}": due for i in range(n)}, platform.stats())
    result.notes.insert(
        0,
        f"{label}; jobs executed {done['executed']:,}, missed {done['missed']:,} (lost), "
        f"errors {done['errors']:,}; set-up {setup:.1f} s before T",
    )
    if setup > lead - 1:
        result.notes.append("WARNING: set-up ended less than a second before T")
    return result


# -- Almanac ------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str
    drop: Any = None  # async callable


async def sqlite_backend(folder: str, label: str) -> Backend:
    return Backend("SQLite", f"sqlite+aiosqlite:///{folder}/almanac-{label}.db")


async def postgresql_backend(admin: str, label: str) -> Backend:
    import asyncpg

    name = f"almanac_bench_{os.getpid()}_{label}"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = httpx.URL(admin)

    async def drop() -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    user = url.username or "postgres"
    auth = f"{user}:{url.password}@" if url.password else f"{user}@"
    return Backend(
        "PostgreSQL",
        f"postgresql+asyncpg://{auth}{url.host}:{url.port or 5432}/{name}",
        drop,
    )


class Almanac:
    """One database with 100 webhook channels, and the scheduler processes on it."""

    def __init__(self, backend: Backend, platform: Platform, folder: str, args: Any) -> None:
        from cryptography.fernet import Fernet

        self.backend = backend
        self.platform = platform
        self.folder = folder
        self.args = args
        self.key = Fernet.generate_key().decode()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.database: Any = None
        self.workspace_id: uuid.UUID | None = None
        self.channel_ids: list[uuid.UUID] = []
        self.count = 0
        self.profile: str | None = None  # the first process's CPU profile, when asked

    async def create(self) -> None:
        from app import migrate
        from app.crypto import CredentialBox
        from app.db import Database, create_engine
        from app.models import Channel, Workspace

        self.database = Database(create_engine(self.backend.url))
        await migrate.upgrade(self.database.engine)
        box = CredentialBox([self.key])
        async with self.database.write_session() as session:
            workspace = Workspace(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
            session.add(workspace)
            await session.flush()
            self.workspace_id = workspace.id
            for index in range(CHANNELS):
                url = f"{self.platform.base}/hook/{index}"
                channel = Channel(
                    workspace_id=workspace.id,
                    network="webhook",
                    name=f"Webhook {index}",
                    credentials_encrypted=box.seal({"url": url, "secret": SECRET}),
                )
                session.add(channel)
                await session.flush()
                self.channel_ids.append(channel.id)
            await session.commit()

    def _rows(self, count: int, due: datetime) -> tuple[list[dict], list[dict], list[dict]]:
        from app.models.delivery import new_idempotency_key
        from app.posts.content import content_hash, effective_content

        posts, variants, deliveries = [], [], []
        for _ in range(count):
            index = self.count
            self.count += 1
            post_id, variant_id, delivery_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            channel_id = self.channel_ids[index % CHANNELS]
            text = post_text(index, delivery_id.hex)
            digest = content_hash(
                effective_content(
                    base_text=text, base_media=[], base_link=None, text=None, media=None, link=None
                )
            )
            posts.append(
                {
                    "id": post_id,
                    "workspace_id": self.workspace_id,
                    "title": f"Bench post {index}",
                    "body": text,
                    "status": "approved",
                    "local_at": due.replace(tzinfo=None),
                    "timezone": "UTC",
                    "due_at": due,
                    "version": 1,
                    "media": [],
                    "fold": 0,
                }
            )
            variants.append(
                {
                    "id": variant_id,
                    "post_id": post_id,
                    "channel_id": channel_id,
                    "content_hash": digest,
                    "approved_hash": digest,
                }
            )
            deliveries.append(
                {
                    "id": delivery_id,
                    "workspace_id": self.workspace_id,
                    "post_id": post_id,
                    "variant_id": variant_id,
                    "channel_id": channel_id,
                    "due_at": due,
                    "next_attempt_at": due,
                    "status": "pending",
                    "checkpoint": {},
                    "attempts": 0,
                    "idempotency_key": new_idempotency_key(),
                }
            )
        return posts, variants, deliveries

    async def insert(self, count: int, due: datetime) -> list[str]:
        """Approved posts due at ``due`` (one transaction, with the app's wake-up)."""
        from sqlalchemy import insert

        from app.deliveries.wake import wake_dispatch
        from app.models import Delivery, Post, Variant

        ids: list[str] = []
        async with self.database.write_session() as session:
            for start in range(0, count, 2000):
                posts, variants, deliveries = self._rows(min(2000, count - start), due)
                await session.execute(insert(Post), posts)
                await session.execute(insert(Variant), variants)
                await session.execute(insert(Delivery), deliveries)
                ids += [row["id"].hex for row in deliveries]
            await wake_dispatch(session)
            await session.commit()
        if not self.database.is_sqlite and count > 100:
            async with self.database.engine.connect() as connection:
                await connection.execute(_text("ANALYZE"))
                await connection.commit()
        return ids

    async def move_all(self, due: datetime) -> None:
        """The burst: every waiting delivery (and its post) due at ``due``, one commit."""
        from sqlalchemy import update

        from app.deliveries.wake import wake_dispatch
        from app.models import Delivery, Post

        async with self.database.write_session() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.workspace_id == self.workspace_id, Delivery.status == "pending")
                .values(due_at=due, next_attempt_at=due)
            )
            await session.execute(
                update(Post)
                .where(Post.workspace_id == self.workspace_id)
                .values(due_at=due, local_at=due.replace(tzinfo=None))
            )
            await wake_dispatch(session)
            await session.commit()

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALMANAC_")}
        env.update(
            {
                "ALMANAC_DATABASE_URL": self.backend.url,
                "ALMANAC_SECRET_KEY": secrets.token_urlsafe(32),
                "ALMANAC_ENCRYPTION_KEYS": self.key,
                "ALMANAC_ALLOW_PRIVATE_HOSTS": "true",
                "ALMANAC_DATA_DIR": self.folder,
                "ALMANAC_LOG_FORMAT": "json",
                "ALMANAC_LOG_LEVEL": self.args.log_level,
                "ALMANAC_PUBLISH_WORKERS": str(self.args.workers),
            }
        )
        return env

    def spawn(self, profile: str | None) -> None:
        """One ``almanac scheduler`` process, its output in a log file."""
        log = Path(self.folder) / f"scheduler-{self.backend.name}-{len(self.logs)}.log"
        self.logs.append(log)
        if profile:
            command = [sys.executable, __file__, "--role=profiled-scheduler", f"--folder={profile}"]
        else:
            command = [sys.executable, "-m", "app.cli", "scheduler"]
        self.processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.environment(),
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )

    async def start(self, count: int, profile: str | None = None) -> None:
        from sqlalchemy import func, select

        from app.models import SchedulerHeartbeat

        self.profile = profile
        for index in range(count):
            self.spawn(profile if index == 0 else None)
        deadline = time.time() + 90
        while time.time() < deadline:
            for process, log in zip(self.processes, self.logs, strict=True):
                if process.poll() is not None:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"a scheduler process ended at start:\n{tail}")
            async with self.database.read_session() as session:
                beating = await session.scalar(select(func.count()).select_from(SchedulerHeartbeat))
            if beating >= len(self.processes):
                await asyncio.sleep(1.5)  # the first dispatch tick has run: idle
                return
            await asyncio.sleep(0.2)
        raise SystemExit("the scheduler processes did not beat within 90 s")

    def cpu(self) -> float:
        total = 0.0
        for process in self.processes:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += cpu_seconds(process.pid)
        return total

    async def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, 60)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        self.processes = []

    async def report(self, since: datetime) -> tuple[dict[str, int], dict[str, int], Any]:
        """Deliveries by status, published attempts by process, and of all attempts:
        how many, the first start (the first claim), how many claims (distinct
        starts), the last finish, how many outcome writes (distinct finishes), and each
        attempt's delivery id, start and finish; attempts started ``since`` only."""
        from sqlalchemy import func, select

        from app.models import Delivery, DeliveryAttempt

        async with self.database.read_session() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(Delivery.status, func.count()).group_by(Delivery.status)
                    )
                ).all()
            )
            shares = dict(
                (
                    await session.execute(
                        select(DeliveryAttempt.process_id, func.count())
                        .where(
                            DeliveryAttempt.outcome == "published",
                            DeliveryAttempt.started_at >= since,
                        )
                        .group_by(DeliveryAttempt.process_id)
                    )
                ).all()
            )
            timing = (
                await session.execute(
                    select(
                        func.count(),
                        func.min(DeliveryAttempt.started_at),
                        func.count(DeliveryAttempt.started_at.distinct()),
                        func.max(DeliveryAttempt.finished_at),
                        # Outcomes written together share their finish time.
                        func.count(DeliveryAttempt.finished_at.distinct()),
                    ).where(DeliveryAttempt.started_at >= since)
                )
            ).one()
            spans = (
                await session.execute(
                    select(
                        DeliveryAttempt.delivery_id,
                        DeliveryAttempt.started_at,
                        DeliveryAttempt.finished_at,
                    ).where(DeliveryAttempt.started_at >= since)
                )
            ).all()
        return {str(k): v for k, v in statuses.items()}, shares, (*timing, spans)

    async def close(self) -> None:
        await self.stop()
        if self.database is not None:
            await self.database.dispose()
        if self.backend.drop is not None:
            await self.backend.drop()


def _text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


async def run_singles(almanac: Almanac, runs: int) -> Result:
    """N = 1: a post inserted while the scheduler idles, due two seconds later."""
    platform = almanac.platform
    platform.reset()
    expected: dict[str, float] = {}
    cpu_before = almanac.cpu()
    for _ in range(runs):
        due = time.time() + 2.0
        [delivery] = await almanac.insert(1, utc(due))
        expected[delivery] = due
        await platform.wait_for(len(expected), due + 30)
        await asyncio.sleep(0.3)
    result = Result(f"Almanac {almanac.backend.name}, N=1", 1, singles=True)
    score(result, platform, expected, platform.stats())
    result.notes = [n for n in result.notes if not n.startswith("platform server")]
    result.notes.append(f"scheduler CPU over the {runs} runs: {almanac.cpu() - cpu_before:.2f} s")
    return result


async def run_burst(almanac: Almanac, ids: list[str], label: str, wait_seconds: float) -> Result:
    platform = almanac.platform
    platform.reset()
    moved = time.time()
    due = moved + 3.0
    if almanac.profile:
        os.kill(almanac.processes[0].pid, signal.SIGUSR1)
    await almanac.move_all(utc(due))
    cpu_before = almanac.cpu()
    cpu_at_end = cpu_before

    def sample() -> bool:
        nonlocal cpu_at_end
        cpu_at_end = almanac.cpu()
        return False

    await platform.wait_for(len(ids), due + wait_seconds, done=sample)
    cpu_at_end = almanac.cpu()
    if almanac.profile:
        os.kill(almanac.processes[0].pid, signal.SIGUSR2)
    await asyncio.sleep(1.0)  # a late duplicate would show now
    result = Result(f"Almanac {label}", len(ids), cpu=cpu_at_end - cpu_before)
    stats = platform.stats()
    score(result, platform, dict.fromkeys(ids, due), stats)
    statuses, shares, timing = await almanac.report(utc(moved))
    attempts, first_claim, claims, last_finish, outcome_writes, spans = timing
    result.notes.insert(0, f"deliveries by status: {statuses}; attempts: {attempts:,}")
    if first_claim is not None:
        result.notes.insert(
            1,
            f"first claim at T{_signed(first_claim.timestamp() - due)}, {claims:,} claims "
            f"(mean {attempts / max(claims, 1):.1f} deliveries each), {outcome_writes:,} outcome "
            f"writes (mean {attempts / max(outcome_writes, 1):.1f}), last outcome written at "
            f"T{_signed(last_finish.timestamp() - due) if last_finish else ' -'}",
        )
    breakdown = slot_time(spans, stats["arrivals"], len(almanac.processes), almanac.args)
    if breakdown:
        result.notes.append(breakdown)
    if len(shares) > 1 or len(almanac.processes) > 1:
        share = ", ".join(f"{owner.split(':')[1]}: {count:,}" for owner, count in shares.items())
        result.notes.insert(1, f"published per process (pid: count): {share}")
    return result


def slot_time(spans: list[Any], arrivals: dict[str, float], processes: int, args: Any) -> str:
    """Where a delivery's time went (means): from its claim to the request's arrival at
    the platform, and from the arrival to its outcome's commit (the platform's latency
    included); and how many requests were at the platform on average, out of the
    sending slots (the floor keeps nearly all of its own there)."""
    sent, recorded = [], []
    for delivery_id, started, finished in spans:
        arrival = arrivals.get(delivery_id.hex)
        if arrival is None or finished is None:
            continue
        sent.append(arrival - started.timestamp())
        recorded.append(finished.timestamp() - arrival)
    if not sent:
        return ""
    first = min(started.timestamp() for _d, started, _f in spans)
    span = max(finished.timestamp() for _d, _s, finished in spans if finished) - first
    at_platform = len(sent) * args.latency / span
    return (
        f"per delivery: claim → arrival {sum(sent) / len(sent) * 1000:.1f} ms, arrival → "
        f"outcome committed {sum(recorded) / len(recorded) * 1000:.1f} ms (the platform's "
        f"{args.latency * 1000:.0f} ms included; means); requests at the platform: "
        f"{at_platform:.1f} of {args.workers * processes} slots on average"
    )


async def almanac_cases(
    platform: Platform, backend_name: str, args: Any, folder: str, results: list[Result]
) -> None:
    process_counts = args.processes if backend_name == "postgresql" else [1]
    for round_number, processes in enumerate(process_counts):
        label = f"{backend_name[:2]}{processes}"
        backend = (
            await sqlite_backend(folder, label)
            if backend_name == "sqlite"
            else await postgresql_backend(args.postgres_admin, label)
        )
        almanac = Almanac(backend, platform, folder, args)
        try:
            await almanac.create()
            tomorrow = utc(time.time() + 86400)
            started = time.perf_counter()
            ids = await almanac.insert(args.n, tomorrow)
            print(
                f"  [{backend.name}] {args.n:,} deliveries inserted in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            profile = None
            if args.profile and round_number == 0:
                kept = Path(tempfile.gettempdir()) / "publish-lag-profiles"
                kept.mkdir(exist_ok=True)
                profile = str(kept / f"scheduler-{backend_name}-{args.n}-{int(time.time())}.prof")
            await almanac.start(processes, profile)
            if processes == 1 and args.singles:
                single = await run_singles(almanac, args.singles)
                print_table([single])
                results.append(single)
            word = "process" if processes == 1 else "processes"
            burst = await run_burst(
                almanac, ids, f"{backend.name}, {processes} {word}", args.timeout
            )
            print_table([burst])
            results.append(burst)
            await almanac.stop()
            if profile:
                print_profile(profile)
        finally:
            await almanac.close()


def profiled_scheduler(out: str) -> None:
    """``almanac scheduler`` with a CPU profiler (the main thread's CPU time, so waits
    cost nothing) switched on by SIGUSR1 and written to ``out`` by SIGUSR2."""
    import cProfile
    import runpy

    profiler = cProfile.Profile(time.thread_time)

    def begin(_signum: int, _frame: Any) -> None:
        profiler.enable()

    def end(_signum: int, _frame: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, begin)
    signal.signal(signal.SIGUSR2, end)
    sys.argv = ["almanac", "scheduler"]
    runpy.run_module("app.cli", run_name="__main__", alter_sys=True)


AREAS = (
    ("httpcore", "httpcore (connection pool, HTTP/1.1)"),
    ("httpx", "httpx"),
    ("anyio", "anyio (httpcore's socket layer)"),
    ("h11", "h11"),
    ("importlib", "imports at run time (failed `import sniffio` in httpcore)"),
    ("sqlalchemy", "SQLAlchemy"),
    ("asyncpg", "asyncpg"),
    ("aiosqlite", "aiosqlite"),
    ("structlog", "structlog (logs)"),
    ("logging", "logging"),
    ("apscheduler", "APScheduler"),
    ("json", "json"),
    ("/app/", "app/ (Almanac)"),
    ("/scheduler/", "scheduler/ (Almanac)"),
    ("asyncio", "asyncio event loop"),
)


def area_of(filename: str, function: str) -> str:
    where = filename + function
    for needle, name in AREAS:
        if needle in where:
            return name
    if filename == "~":
        return f"built-ins ({function[:40]})" if "socket" in function else "other built-ins"
    return "other"


def print_profile(path: str) -> None:
    if not Path(path).exists():
        print(f"  (no profile written to {path})")
        return
    stats = pstats.Stats(path)
    by_area: dict[str, float] = {}
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        area = area_of(filename, function)
        by_area[area] = by_area.get(area, 0.0) + row[2]
    total = sum(by_area.values())
    print(f"\n  scheduler main-thread CPU during the burst: {total:.1f} s ({path})")
    print("  own time by area:")
    for name, seconds in sorted(by_area.items(), key=lambda item: -item[1])[:16]:
        print(f"    {seconds:7.2f} s  {seconds / total:5.1%}  {name}")
    print("  top functions by own CPU time (cumulative figures of coroutines are not reliable):")
    stats.sort_stats("tottime").print_stats(30)


# -- main ---------------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--workers", type=int, default=50, help="worker slots per process")
    parser.add_argument("--singles", type=int, default=10, help="N = 1 runs per backend")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true", help="N = 300, 3 singles: a smoke run")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("floor", "apscheduler", "almanac")
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        metavar="K",
        help="only the single-process ratio: K floor + Almanac pairs per backend",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--postgres-admin", default=DEFAULT_ADMIN)
    # Internal: the child processes of the floor and the APScheduler reference.
    parser.add_argument(
        "--role", choices=("floor", "apscheduler", "profiled-scheduler"), help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--due", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--transport", default="aiohttp", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--lead", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.singles = 300, 3
    return args


def backends_of(args: Any) -> list[str]:
    """The backends ``--backend`` names."""
    return ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]


async def run_pairs(platform: Platform, args: Any, folder: str) -> list[Result]:
    """``--pairs``: per backend, K times a floor then Almanac with one process; prints
    each pair's p99 ratio and the median."""
    args.processes, args.singles = [1], 0
    results: list[Result] = []
    summary = []
    for backend in backends_of(args):
        ratios = []
        for pair in range(1, args.pairs + 1):
            floor = run_floor(platform, args.n, args.workers, args.timeout)
            print_table([floor])
            burst: list[Result] = []
            await almanac_cases(platform, backend, args, folder, burst)
            results += [floor, *burst]
            if not (floor.lags and burst and burst[0].lags):
                continue  # the tables above show what went wrong
            ratio = burst[0].pct(99) / floor.pct(99)
            ratios.append(ratio)
            summary.append(
                f"| {backend} | {pair} | {_ms(floor.pct(99))} | {_ms(burst[0].pct(99))} "
                f"| {ratio:.3f} × | {burst[0].lost} | {burst[0].duplicates} |"
            )
            print(f"  pair {pair} on {backend}: p99 {ratio:.3f} × the floor's", flush=True)
        if ratios:
            summary.append(
                f"| {backend} | median of {len(ratios)} | | | **{median(ratios):.3f} ×** | | |"
            )
    print("\nSingle-process p99 over the floor's p99, pair by pair:\n")
    print("| backend | pair | floor p99 | Almanac p99 | ratio | lost | dup |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(summary))
    return results


async def main(args: Any) -> None:
    load = os.getloadavg()
    print(
        f"publish lag: N={args.n:,}, {args.workers} worker slots per process, "
        f"{CHANNELS} channels, platform latency {args.latency * 1000:.0f} ms; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    platform = Platform(args.latency)
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="publish-lag-") as folder:
            if args.pairs:
                results += await run_pairs(platform, args, folder)
                return
            if "floor" not in args.skip:
                results.append(run_floor(platform, args.n, args.workers, args.timeout))
                print_table(results[-1:])
                # Diagnostic: the same on httpx's default transport (the engine's before
                # app/net/aio.py), through 5 clients as the engine had then.
                results.append(run_floor(platform, args.n, args.workers, args.timeout, "httpcore"))
                print_table(results[-1:])
                if max(args.processes) > 1 and args.backend != "sqlite":
                    wide = args.workers * max(args.processes)
                    results.append(run_floor(platform, args.n, wide, args.timeout))
                    print_table(results[-1:])
            if "apscheduler" not in args.skip:
                for variant, threads in (("default", 10), ("tuned", args.workers)):
                    results.append(
                        run_apscheduler(platform, args.n, variant, threads, args.timeout, folder)
                    )
                    print_table(results[-1:])
            if "almanac" not in args.skip:
                for backend in backends_of(args):
                    await almanac_cases(platform, backend, args, folder, results)
    finally:
        platform.close()
    load = os.getloadavg()
    print(f"\nAll cases (load at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}):")
    print_table(results)


if __name__ == "__main__":
    arguments = parse()
    if arguments.role == "floor":
        asyncio.run(
            floor_role(
                arguments.port, arguments.n, arguments.workers, arguments.due, arguments.transport
            )
        )
    elif arguments.role == "profiled-scheduler":
        profiled_scheduler(arguments.folder)
    elif arguments.role == "apscheduler":
        apscheduler_role(
            arguments.port,
            arguments.n,
            arguments.variant,
            arguments.workers,
            arguments.lead,
            arguments.folder,
            arguments.timeout,
        )
    else:
        asyncio.run(main(arguments))
