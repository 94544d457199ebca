"""PostgreSQL: published outcomes and the claim of the slots they free, in one round
trip.

As statements on a connection, that transaction was four round trips (``BEGIN``, the
outcomes, the claim, ``COMMIT``), and under a burst each waited for a turn of the busy
event loop while every slot the transaction freed waited for it. Here it is one call
of a PL/pgSQL function, in autocommit (:meth:`app.db.Database.run_hot`): the function
runs both statements in one transaction on the server (the claim sees the outcomes'
rows as published, as in the transaction it replaces), and PL/pgSQL keeps their plans
for the connection's life. Dispatch claims through it too, with no outcomes.

The function runs with ``enable_seqscan = off``: its plans are made once per
connection, and made when a table is small (the attempts of a fresh install) they
scanned all of it on every call as it grew (``bench/README.md``); every statement in
it is meant to walk an index.

It is made from the same SQL as SQLite's statements (``scheduler.dispatch``'s claim,
the published batch below), by ``almanac migrate`` or else by a scheduler on first
use, under a name carrying a hash of its definition: a process of another version
makes and calls its own, and no migration is needed when the SQL changes. (Alembic
does not know it: a downgrade leaves it behind, harmless, as it leaves earlier
versions' functions.)
"""

from __future__ import annotations

import hashlib
import re
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

import asyncpg

from app.db import Database
from app.logging import get_logger
from app.models import utcnow
from app.observability import CLAIM_BATCH
from scheduler.dispatch import (
    Claimed,
    claim_parameters,
    claim_sql,
    claimed_from,
    media_ids,
)
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.pg_cycle")

# One row per claimed delivery, and one per published outcome whose lease this process
# had lost (``late``, its id only: written as published if the reaper or a person left
# it ``retrying``, ``uncertain`` or ``pending``, the post being out all the same; left
# alone if another process holds it now).
COLUMNS = (
    ("late", "boolean"),
    ("id", "uuid"),
    ("workspace_id", "uuid"),
    ("post_id", "uuid"),
    ("channel_id", "uuid"),
    ("idempotency_key", "text"),
    ("checkpoint", "json"),
    ("attempts", "integer"),
    ("due_at", "timestamptz"),
    ("text", "text"),
    ("media", "json"),
    ("link", "text"),
    ("body", "text"),
    ("post_media", "json"),
    ("post_link", "text"),
    ("network", "text"),
    ("credentials_encrypted", "bytea"),
    ("limits", "json"),
    ("lateness_limit_minutes", "integer"),
    ("attempt_id", "uuid"),
)
_ARGUMENTS = (
    ("ids", "uuid[]"),
    ("attempt_ids", "uuid[]"),
    ("external_ids", "text[]"),
    ("urls", "text[]"),
    ("hashes", "text[]"),
    ("now", "timestamptz"),
    ("owner", "text"),
    ("lease", "timestamptz"),
    ("per_channel", "integer"),
    ("scan", "integer"),
    ("slots", "integer"),
)


def _select(source: str) -> str:
    """The function's columns over the claim's ``claimed`` and ``started`` (a claimed
    row) or over ``late`` (an outcome's id, the rest NULL)."""
    columns = []
    for name, kind in COLUMNS:
        if name == "late":
            columns.append("true" if source == "late" else "false")
        elif source == "late":
            columns.append("late.id" if name == "id" else f"CAST(NULL AS {kind})")
        elif name == "attempt_id":
            columns.append("started.attempt_id")
        else:
            columns.append(f"CAST(claimed.{name} AS {kind})")
    return ", ".join(columns)


_PUBLISHED = """
    SET status = 'published', external_id = b.external_id, external_url = b.external_url,
        published_at = :now, published_content_hash = b.content_hash, checkpoint = '{}',
        last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
    FROM b"""
# The rows still leased to this process become published, their attempts are closed,
# and rows whose lease this process lost are written only from where the reaper (or
# a person) left them, as one worker's own write does.
_OUTCOMES = f"""WITH b AS (
    SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:external_ids AS text[]), CAST(:urls AS text[]),
        CAST(:hashes AS text[])
    ) AS b(id, external_id, external_url, content_hash)
), closed AS (
    UPDATE delivery_attempt
    SET finished_at = :now, outcome = 'published', error = NULL, http_status = NULL
    WHERE delivery_attempt.id = ANY(CAST(:attempt_ids AS uuid[]))
), held AS (
    UPDATE delivery{_PUBLISHED}
    WHERE delivery.id = b.id AND delivery.status = 'sending' AND delivery.lease_owner = :owner
    RETURNING delivery.id
), taken_back AS (
    UPDATE delivery{_PUBLISHED}
    WHERE delivery.id = b.id AND delivery.status IN ('retrying', 'uncertain', 'pending')
)
SELECT {_select("late")} FROM b AS late WHERE late.id NOT IN (SELECT id FROM held)"""


def _arguments(sql: str) -> str:
    """``:name`` parameters as the function's ``arg_name`` arguments (in PL/pgSQL a
    column's name would otherwise clash with an argument of the same name)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"arg_\1", sql)


_DEFINITION = f"""(
    {", ".join(f"arg_{name} {kind}" for name, kind in _ARGUMENTS)}
) RETURNS TABLE ({", ".join(f"{name} {kind}" for name, kind in COLUMNS)})
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $almanac$
#variable_conflict use_column
BEGIN
    IF cardinality(arg_ids) > 0 THEN
        RETURN QUERY {_arguments(_OUTCOMES)};
    END IF;
    IF arg_slots > 0 THEN
        RETURN QUERY {_arguments(claim_sql("postgresql", _select("claimed")))};
    END IF;
END
$almanac$"""
NAME = "almanac_publish_cycle_" + hashlib.sha256(_DEFINITION.encode()).hexdigest()[:12]
_CREATE = f"CREATE OR REPLACE FUNCTION {NAME}{_DEFINITION}"
_CALL = f"SELECT * FROM {NAME}({', '.join(f'${i + 1}' for i in range(len(_ARGUMENTS)))})"
_EXISTS = "SELECT 1 FROM pg_proc WHERE proname = $1"
# Two processes creating the function at once would collide in the catalogue.
_CREATE_LOCK = int.from_bytes(hashlib.sha256(NAME.encode()).digest()[:8], "big", signed=True)
_MEDIA = "SELECT id, sha256, mime_type, alt FROM media WHERE id = ANY($1::uuid[])"

# The databases where this version's function is known to exist.
_MADE: weakref.WeakSet[Database] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class Published:
    """A published outcome for the function: what ``PublishedBatch`` writes."""

    delivery_id: uuid.UUID
    attempt_id: uuid.UUID
    external_id: str | None
    url: str | None
    content_hash: str


@dataclass(frozen=True, slots=True)
class Cycle:
    claimed: list[Claimed]
    # The published outcomes whose lease this process had lost (``COLUMNS``).
    late: list[uuid.UUID]


class FunctionMissing(RuntimeError):
    """This version's function does not exist and this role may not create it."""


async def make_function(connection: asyncpg.Connection) -> None:
    """Create this version's function unless it exists (``almanac migrate`` does, and a
    scheduler on first use)."""
    if await connection.fetchval(_EXISTS, NAME):
        return
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _CREATE_LOCK)
            if not await connection.fetchval(_EXISTS, NAME):
                await connection.execute(_CREATE)
    except asyncpg.InsufficientPrivilegeError as refused:
        raise FunctionMissing(
            f"the scheduler's database function {NAME} does not exist, and this database "
            f"role may not create it ({refused}): run `almanac migrate` of this version "
            "with the role that migrates"
        ) from None


async def publish_and_claim(
    runtime: SchedulerRuntime,
    outcomes: list[Published],
    slots: int,
    *,
    now: datetime | None = None,
) -> Cycle:
    """Write ``outcomes`` and claim at most ``slots`` deliveries, in one call of the
    function (made first if this process has not yet seen it in this database). A
    connection lost on the way raises :class:`app.db.HotConnectionLost`."""
    now = now or utcnow()
    parameters = claim_parameters(runtime, slots, now)
    arguments = (
        [o.delivery_id for o in outcomes],
        [o.attempt_id for o in outcomes],
        [o.external_id for o in outcomes],
        [o.url for o in outcomes],
        [o.content_hash for o in outcomes],
        now,
        parameters["owner"],
        parameters["lease"],
        parameters["per_channel"],
        parameters["scan"],
        slots,
    )
    database = runtime.database

    async def call(connection: asyncpg.Connection) -> Cycle:
        if database not in _MADE:
            await make_function(connection)
            _MADE.add(database)
        try:
            rows = await connection.fetch(_CALL, *arguments)
        except asyncpg.UndefinedFunctionError:
            # Dropped behind this process's back (a restored database): made again.
            await make_function(connection)
            rows = await connection.fetch(_CALL, *arguments)
        return await _cycle(runtime, connection, rows, now, slots)

    return await database.run_hot(call)


async def _cycle(
    runtime: SchedulerRuntime,
    connection: asyncpg.Connection,
    rows: list[asyncpg.Record],
    now: datetime,
    slots: int,
) -> Cycle:
    late = [row["id"] for row in rows if row["late"]]
    claimed_rows = [SimpleNamespace(**row) for row in rows if not row["late"]]
    if slots:
        CLAIM_BATCH.observe(len(claimed_rows))
    if not claimed_rows:
        return Cycle([], late)
    ids = media_ids(claimed_rows)
    media = (
        {str(row["id"]): SimpleNamespace(**row) for row in await connection.fetch(_MEDIA, ids)}
        if ids
        else {}
    )
    attempts = {row.id: (row.attempt_id, now) for row in claimed_rows}
    return Cycle(claimed_from(runtime, claimed_rows, attempts, media), late)
