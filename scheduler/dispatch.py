"""Dispatch: claim due deliveries in one statement and hand them to the workers.

The claim is one ``UPDATE ... RETURNING`` that sets ``sending``, a lease and
``attempts + 1`` on at most the free worker slots of this process, and returns what
the workers need (the copy's content, the channel's credentials: scalar subqueries in
``RETURNING``, which saved a statement per claim, bench/README.md). On SQLite it is
plain Core run in the writer thread of :meth:`app.db.Database.run_write`; on
PostgreSQL it is a statement of the function of :mod:`scheduler.pg_cycle` (one round
trip), where the same statement inserts the attempt rows (a data-modifying CTE).
Under a burst most claims are made by the transaction that writes published
outcomes, for the slots it frees (``scheduler.publisher.PublishedBatch``), and
dispatch claims for the slots left free:

- PostgreSQL: the candidates are locked ``FOR UPDATE SKIP LOCKED`` (so several
  scheduler processes never claim the same row), their channel ``FOR NO KEY UPDATE
  SKIP LOCKED`` (two processes never fill one channel's limit together) and their
  variant, post and workspace ``FOR SHARE SKIP LOCKED``: an edit of the variant, or
  a pause of the workspace or channel, waits for the claim's commit, and a claim
  never claims a row whose variant is being edited (the edit path locks the
  delivery row first, see ``app.posts.service._refuse_pinned``).
- SQLite: one write transaction (``BEGIN IMMEDIATE``) is already serialised.

Claimable: the rule of :mod:`app.deliveries.queue` (``pending`` or ``retrying``,
due, its variant approved, its post submitted — not necessarily ``approved``: when
one variant of an approved post is edited the post returns to review while its
untouched variants still go out —, workspace and channel not paused, channel
connected and not rate-limited), and fewer than ``publish_per_channel`` deliveries
of its channel ``sending`` across the cluster.

Content is read in the claim's transaction: every edit saved before it is what
goes out; after it the edit path answers 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Uuid, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.approvals.lateness import mark_missed
from app.db import session_scope
from app.deliveries.queue import CLAIMABLE_JOINS, claimable_where
from app.logging import get_logger
from app.media import storage
from app.media.service import signed_media_url
from app.models import (
    AttemptOutcome,
    Channel,
    Delivery,
    DeliveryAttempt,
    Media,
    Post,
    SchedulerHeartbeat,
    Variant,
    Workspace,
    utcnow,
)
from app.models.base import UTCDateTime
from app.models.delivery import IN_CLAIM_INDEX
from app.networks.base import MediaItem, Network
from app.observability import CLAIM_BATCH
from app.posts.content import content_hash, effective_content
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.dispatch")

# How many due rows one claim looks at per free slot: enough to skip channels at
# their limit without scanning a whole backlog.
SCAN_FACTOR = 4
# A second scheduler on one SQLite file is refused while the first one beats.
SQLITE_PEER_WINDOW = timedelta(minutes=1)
SQLITE_POLL = timedelta(seconds=1)
SQLITE_PEER_CHECK = timedelta(seconds=1)

# Claimable rows (``b``: the busy count of their channel), shared by the claim and
# by the look for rows a concurrent claim held (``_LEFT_OVER``).
_BUSY = """busy AS (
    SELECT channel_id, count(*) AS n FROM delivery WHERE status = 'sending'
    GROUP BY channel_id
)"""


def _claimable(dialect: str) -> str:
    # Not a join on ``busy``: PostgreSQL guessed it held one row and scanned it once
    # per candidate (50 x 40 rows under a burst); a hashed sub-plan reads it once.
    return (
        CLAIMABLE_JOINS
        + "    WHERE"
        + claimable_where(dialect)
        + "      AND d.channel_id NOT IN (SELECT channel_id FROM busy WHERE n >= :per_channel)\n"
    )


_CLAIM = """WITH {busy}, candidate AS (SELECT d.id, d.channel_id, d.next_attempt_at{claimable}
    ORDER BY d.next_attempt_at
    LIMIT :scan
    {lock}
), ranked AS (
    SELECT candidate.id, candidate.next_attempt_at,
           row_number() OVER (
               PARTITION BY candidate.channel_id
               ORDER BY candidate.next_attempt_at, candidate.id
           ) + coalesce(b.n, 0) AS place
    FROM candidate LEFT JOIN busy b ON b.channel_id = candidate.channel_id
)
UPDATE delivery
SET status = 'sending', lease_owner = :owner, lease_expires_at = :lease,
    attempts = attempts + 1, updated_at = :now
WHERE id IN (
    SELECT id FROM ranked WHERE place <= :per_channel ORDER BY next_attempt_at LIMIT :slots
)
RETURNING id, workspace_id, post_id, channel_id, idempotency_key, checkpoint, attempts, due_at,
    (SELECT text FROM variant WHERE variant.id = delivery.variant_id) AS text,
    (SELECT media FROM variant WHERE variant.id = delivery.variant_id) AS media,
    (SELECT link FROM variant WHERE variant.id = delivery.variant_id) AS link,
    (SELECT body FROM post WHERE post.id = delivery.post_id) AS body,
    (SELECT media FROM post WHERE post.id = delivery.post_id) AS post_media,
    (SELECT link FROM post WHERE post.id = delivery.post_id) AS post_link,
    (SELECT network FROM channel WHERE channel.id = delivery.channel_id) AS network,
    (SELECT credentials_encrypted FROM channel WHERE channel.id = delivery.channel_id)
        AS credentials_encrypted,
    (SELECT limits FROM channel WHERE channel.id = delivery.channel_id) AS limits,
    (SELECT lateness_limit_minutes FROM workspace WHERE workspace.id = delivery.workspace_id)
        AS lateness_limit_minutes
"""
# A claim that came back short while claimable rows remain lost them to another
# process's claim in flight (SKIP LOCKED): dispatch looks again this soon.
CONTENDED_RETRY = timedelta(milliseconds=100)
_LOCKS = {
    "postgresql": "FOR UPDATE OF d SKIP LOCKED FOR NO KEY UPDATE OF c SKIP LOCKED "
    "FOR SHARE OF v, p, w SKIP LOCKED",
    # One write transaction (BEGIN IMMEDIATE) at a time: nothing to lock.
    "sqlite": "",
}
_NOW = bindparam("now", type_=UTCDateTime())
_D, _V, _P, _C, _W = (model.__table__ for model in (Delivery, Variant, Post, Channel, Workspace))
# The claim returns what the workers need (the columns of ``_CLAIMED_ROWS``, the
# other tables' through scalar subqueries, which both backends allow in RETURNING):
# no second statement to read them in the claim's transaction. SQLite's is built once
# (parsing a text() statement for its parameters is not free); PostgreSQL's is a
# statement of ``scheduler.pg_cycle``'s function, where the same statement inserts the
# attempt rows: the UPDATE becomes a data-modifying CTE.
_CLAIM_WITH_ATTEMPTS = """, claimed AS (
{update}
), started AS (
    INSERT INTO delivery_attempt (id, delivery_id, started_at, outcome, process_id)
    SELECT gen_random_uuid(), claimed.id, :now, 'started', :owner FROM claimed
    RETURNING id AS attempt_id, delivery_id
)
SELECT {columns} FROM claimed JOIN started ON started.delivery_id = claimed.id
"""


def claim_sql(dialect: str, columns: str = "") -> str:
    """The claim's SQL (``columns``: what PostgreSQL's returns, over ``claimed`` and
    ``started``; SQLite's returns what its ``RETURNING`` names)."""
    sql = _CLAIM.format(busy=_BUSY, claimable=_claimable(dialect), lock=_LOCKS[dialect])
    if dialect != "postgresql":
        return sql
    head, update = sql.split("\nUPDATE delivery\n", 1)
    return head + _CLAIM_WITH_ATTEMPTS.format(
        update="UPDATE delivery\n" + update.rstrip(), columns=columns
    )


CLAIM_SQLITE = (
    text(claim_sql("sqlite"))
    .bindparams(_NOW, bindparam("lease", type_=UTCDateTime()))
    .columns(
        id=Uuid(),
        workspace_id=Uuid(),
        post_id=Uuid(),
        channel_id=Uuid(),
        checkpoint=_D.c.checkpoint.type,
        due_at=_D.c.due_at.type,
        media=_V.c.media.type,
        post_media=_P.c.media.type,
        credentials_encrypted=_C.c.credentials_encrypted.type,
        limits=_C.c.limits.type,
    )
)
_LEFT_OVER = {
    dialect: text("WITH " + _BUSY + " SELECT d.id" + _claimable(dialect) + " LIMIT 1").bindparams(
        _NOW
    )
    for dialect in _LOCKS
}
# The lateness rule's marking runs before a claim, in its own transaction, at most this
# often: the claim itself never takes a delivery past its limit
# (``app.deliveries.queue``), marking only closes them (``missed``/``failed``) and
# notifies.
MARK_MISSED_EVERY = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Claimed:
    """Everything a worker needs, read in the claim's transaction."""

    delivery_id: uuid.UUID
    attempt_id: uuid.UUID
    workspace_id: uuid.UUID
    post_id: uuid.UUID
    channel_id: uuid.UUID
    network: Network
    credentials_encrypted: bytes | None
    limits: dict[str, Any]
    idempotency_key: str
    checkpoint: dict[str, Any]
    attempts: int
    due_at: datetime
    lateness: timedelta
    text: str
    media: tuple[MediaItem, ...]
    link: str | None
    content_hash: str
    claimed_at: datetime

    @property
    def deadline(self) -> datetime:
        """Retries stop here (due time + the workspace's lateness limit)."""
        return self.due_at + self.lateness


async def claim(
    runtime: SchedulerRuntime, slots: int, *, now: datetime | None = None
) -> list[Claimed]:
    """Claim at most ``slots`` due deliveries, in a transaction of their own (first
    marking the missed ones, at most once per ``MARK_MISSED_EVERY``)."""
    if slots <= 0:
        return []
    now = now or utcnow()
    await mark_missed_if_due(runtime, now)
    if runtime.database.dialect == "postgresql":
        from scheduler import pg_cycle  # it builds its function from this module's SQL

        return (await pg_cycle.publish_and_claim(runtime, [], slots, now=now)).claimed
    return await runtime.database.run_write(
        partial(claim_in, runtime=runtime, slots=slots, now=now)
    )


async def mark_missed_if_due(runtime: SchedulerRuntime, now: datetime) -> None:
    """The lateness rule's marking, in its own transaction, at most once per
    ``MARK_MISSED_EVERY``: a claim never takes a delivery past its limit
    (``app.deliveries.queue``), the marking closes them and notifies."""
    marked = runtime.missed_marked_at
    if marked is not None and timedelta(0) <= now - marked < MARK_MISSED_EVERY:
        return
    async with session_scope(runtime.database.write_session) as session:
        await mark_missed(session, now=now)
    runtime.missed_marked_at = now


def claim_parameters(runtime: SchedulerRuntime, slots: int, now: datetime) -> dict[str, Any]:
    """The claim's parameters (both backends)."""
    settings = runtime.settings
    return {
        "now": now,
        "lease": now + timedelta(seconds=settings.publish_lease_seconds),
        "owner": runtime.process_id,
        "per_channel": settings.publish_per_channel,
        "scan": max(slots * SCAN_FACTOR, 50),
        "slots": slots,
    }


def claim_in(
    connection: Connection, *, runtime: SchedulerRuntime, slots: int, now: datetime
) -> list[Claimed]:
    """SQLite: claim at most ``slots`` due deliveries in ``connection``'s transaction
    (plain Core, in the writer thread of :meth:`app.db.Database.run_write`). Also called
    by the writer of published outcomes, for the slots its transaction frees
    (``scheduler.publisher.PublishedBatch``). PostgreSQL claims through
    ``scheduler.pg_cycle``'s function."""
    rows = connection.execute(CLAIM_SQLITE, claim_parameters(runtime, slots, now)).all()
    CLAIM_BATCH.observe(len(rows))
    if not rows:
        return []
    attempt_ids = {row.id: uuid.uuid4() for row in rows}
    connection.execute(
        _NEW_ATTEMPTS,
        [
            {
                "id": attempt_id,
                "delivery_id": delivery_id,
                "started_at": now,
                "outcome": AttemptOutcome.started,
                "process_id": runtime.process_id,
            }
            for delivery_id, attempt_id in attempt_ids.items()
        ],
    )
    attempts = {i: (a, now) for i, a in attempt_ids.items()}
    return claimed_from(runtime, rows, attempts, _media(connection, media_ids(rows)))


# What a worker needs of its delivery, for deliveries claimed already (the reaper's
# re-queued leases; a claim returns the same columns itself): plain Core on the
# tables, built once (building statements was a large part of a claim's CPU).
_CLAIMED_ROWS = (
    select(
        _D.c.id,
        _D.c.workspace_id,
        _D.c.post_id,
        _D.c.channel_id,
        _D.c.idempotency_key,
        _D.c.checkpoint,
        _D.c.attempts,
        _D.c.due_at,
        _V.c.text,
        _V.c.media,
        _V.c.link,
        _P.c.body,
        _P.c.media.label("post_media"),
        _P.c.link.label("post_link"),
        _C.c.network,
        _C.c.credentials_encrypted,
        _C.c.limits,
        _W.c.lateness_limit_minutes,
    )
    .select_from(_D)
    .join(_V, _V.c.id == _D.c.variant_id)
    .join(_P, _P.c.id == _D.c.post_id)
    .join(_C, _C.c.id == _D.c.channel_id)
    .join(_W, _W.c.id == _D.c.workspace_id)
    .where(_D.c.id.in_(bindparam("ids", expanding=True)))
)
_NEW_ATTEMPTS = insert(DeliveryAttempt.__table__)  # executemany, no ORM


async def load_claimed(
    runtime: SchedulerRuntime,
    session: AsyncSession,
    attempts: dict[uuid.UUID, tuple[uuid.UUID, datetime]],
) -> list[Claimed]:
    """What the workers (and the reaper) need of these deliveries; ``attempts`` maps a
    delivery id to its running attempt's id and start."""

    def load(sync_session: Session) -> list[Claimed]:
        connection = sync_session.connection()
        rows = connection.execute(_CLAIMED_ROWS, {"ids": list(attempts)}).all()
        return claimed_from(runtime, rows, attempts, _media(connection, media_ids(rows)))

    return await session.run_sync(load)


def claimed_from(
    runtime: SchedulerRuntime,
    rows: Sequence[Any],
    attempts: dict[uuid.UUID, tuple[uuid.UUID, datetime]],
    media: dict[str, Any],
) -> list[Claimed]:
    """Claimed deliveries from rows with the columns of ``_CLAIMED_ROWS`` (read as
    attributes); ``media``: the media rows they name, by id (:func:`media_ids`)."""
    claimed = []
    for row in rows:
        content = effective_content(
            base_text=row.body,
            base_media=row.post_media or [],
            base_link=row.post_link,
            text=row.text,
            media=row.media,
            link=row.link,
        )
        claimed.append(
            Claimed(
                delivery_id=row.id,
                attempt_id=attempts[row.id][0],
                workspace_id=row.workspace_id,
                post_id=row.post_id,
                channel_id=row.channel_id,
                network=Network(row.network),
                credentials_encrypted=row.credentials_encrypted,
                limits=dict(row.limits or {}),
                idempotency_key=row.idempotency_key,
                checkpoint=dict(row.checkpoint or {}),
                attempts=row.attempts,
                due_at=row.due_at,
                lateness=timedelta(minutes=row.lateness_limit_minutes),
                text=content.text,
                media=tuple(_media_item(runtime, media, item) for item in content.media),
                link=content.link,
                content_hash=content_hash(content),
                claimed_at=attempts[row.id][1],
            )
        )
    return claimed


def media_ids(rows: Sequence[Any]) -> set[uuid.UUID]:
    """The media the rows' copy (variant or post) names."""
    return {
        uuid.UUID(str(item["media_id"]))
        for row in rows
        for item in (row.media or []) + (row.post_media or [])
        if item.get("media_id")
    }


_MEDIA = Media.__table__


def _media(connection: Connection, ids: set[uuid.UUID]) -> dict[str, Any]:
    """The media rows (id, file hash, type, alt) with these ids, by id."""
    if not ids:
        return {}
    rows = connection.execute(select(_MEDIA).where(_MEDIA.c.id.in_(ids)))
    return {str(row.id): row for row in rows}


def _media_item(
    runtime: SchedulerRuntime, media: dict[str, Any], item: dict[str, Any]
) -> MediaItem:
    row = media.get(str(item.get("media_id")))
    if row is None:
        # Deleted after the approval: the adapter refuses a missing file clearly.
        return MediaItem(path="", mime_type="application/octet-stream", alt=item.get("alt") or "")
    root = Path(runtime.settings.media_path)
    return MediaItem(
        path=str(storage.path_for(root, row.sha256)),
        mime_type=row.mime_type,
        alt=item.get("alt") if item.get("alt") is not None else row.alt,
        public_url=signed_media_url(runtime.settings, row),
    )


async def next_due(runtime: SchedulerRuntime, now: datetime) -> datetime | None:
    """The earliest future ``next_attempt_at`` of a waiting delivery (claim index)."""
    async with runtime.database.read_session() as session:
        return await session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                IN_CLAIM_INDEX, Delivery.next_attempt_at > now
            )
        )


async def sqlite_peer(runtime: SchedulerRuntime, now: datetime) -> str | None:
    """On SQLite one scheduler is supported: the process id of an older live peer
    (this one must then refuse to dispatch), None when this one is the first."""
    if not runtime.database.is_sqlite:
        return None
    async with runtime.database.read_session() as session:
        peers = (
            await session.execute(
                select(SchedulerHeartbeat.process_id, SchedulerHeartbeat.started_at).where(
                    SchedulerHeartbeat.process_id != runtime.process_id,
                    SchedulerHeartbeat.seen_at > now - SQLITE_PEER_WINDOW,
                )
            )
        ).all()
    for process_id, started_at in peers:
        if (started_at, process_id) < (runtime.started_at, runtime.process_id):
            return process_id
    return None


async def tick(runtime: SchedulerRuntime) -> None:
    """The dispatch job: claim while slots are free, then sleep until the next due
    time (at most ``dispatch_idle_seconds``; one second on SQLite). A wake that
    arrives while a tick runs makes it go round once more."""
    runtime.dispatching = True
    runtime.wake_pending = False
    try:
        while True:
            runtime.rerun_dispatch = False
            now = utcnow()
            contended = False
            if await _refused(runtime, now):
                following = None
            else:
                contended = await _dispatch_once(runtime, now)
                if runtime.rerun_dispatch:
                    continue
                # Every slot busy: a finishing worker wakes dispatch before any next
                # due time matters (retries and rate limits wake it by themselves).
                following = None if runtime.free_slots <= 0 else await next_due(runtime, now)
            if not runtime.rerun_dispatch:
                break
    finally:
        runtime.dispatching = False
    idle = (
        SQLITE_POLL
        if runtime.database.is_sqlite
        else timedelta(seconds=runtime.settings.dispatch_idle_seconds)
    )
    at = utcnow() + idle
    if following is not None:
        at = min(at, following)
    if contended:
        at = min(at, utcnow() + CONTENDED_RETRY)
    runtime.schedule_dispatch(at)


async def _dispatch_once(runtime: SchedulerRuntime, now: datetime) -> bool:
    """Claim while slots are free; True when a short claim left claimable rows that
    another process was claiming at that instant (see :func:`_left_over`)."""
    # Imported here: the publisher imports this module's Claimed.
    from scheduler.publisher import start

    while (free := runtime.free_slots) > 0:
        claimed = await claim(runtime, free, now=now)
        for job in claimed:
            start(runtime, job)
        if not claimed:
            return await _left_over(runtime, now)
        # A claim that came back short may have looked only at one channel's backlog
        # (its scan window of due rows, ties in table order): that channel is at its
        # limit now, and the next claim looks past it.
        now = utcnow()
    return False


async def _left_over(runtime: SchedulerRuntime, now: datetime) -> bool:
    """PostgreSQL: is a claimable row left after a short claim? Then another process
    held it (or its channel) locked while claiming, and this one must look again soon:
    with no worker of its own to wake it, it would otherwise sleep until the next
    NOTIFY or ``dispatch_idle_seconds`` while the others do the whole burst. SQLite
    claims one at a time: a short claim there took everything claimable."""
    if runtime.database.is_sqlite:
        return False
    async with runtime.database.read_session() as session:
        found = await session.scalar(
            _LEFT_OVER[runtime.database.dialect],
            {"now": now, "per_channel": runtime.settings.publish_per_channel},
        )
    return found is not None


async def _refused(runtime: SchedulerRuntime, now: datetime) -> bool:
    if not runtime.database.is_sqlite:
        return False
    # Heartbeats come every few seconds: one look a second is enough (not every tick).
    checked = runtime.peer_checked_at
    if checked is not None and timedelta(0) <= now - checked < SQLITE_PEER_CHECK:
        return runtime.refused_because is not None
    runtime.peer_checked_at = now
    peer = await sqlite_peer(runtime, now)
    if peer is None:
        if runtime.refused_because is not None:
            log.warning("dispatch resumes: no other scheduler on this SQLite database")
        runtime.refused_because = None
        return False
    if runtime.refused_because != peer:
        log.error(
            "ANOTHER SCHEDULER IS RUNNING ON THIS SQLITE DATABASE: this one will not publish. "
            "SQLite supports one scheduler process; use PostgreSQL for several.",
            other_process=peer,
            process_id=runtime.process_id,
        )
    runtime.refused_because = peer
    return True
