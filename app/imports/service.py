"""CSV import and export of posts (the format: ``csv_format`` and docs/csv-format.md).

An import is all or nothing, in three steps:

1. read the workspace's channels, labels and plans in a short *read* transaction;
2. check every row (dates, local times and DST gaps, zones, channels, labels, the
   plan and its period, every copy against its network's rules) without touching
   the database — in a worker thread, so the event loop keeps serving — and build
   the rows to insert;
3. only when no row has a problem: one *write* transaction of bulk INSERTs (posts,
   variants, post labels, first revisions, the audit event).

On SQLite the write lock is therefore held only for step 3, never while a large
file is being checked, so an import does not stall the publisher. The API route
commits its request transaction before reading the upload for the same reason.
A dry run stops after step 2 and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.db import Database
from app.errors import AppError, Conflict, Invalid, NotFound
from app.imports import csv_format
from app.imports.csv_format import Cell, Sheet
from app.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Label,
    Plan,
    Post,
    PostStatus,
    Revision,
    User,
    Variant,
    Workspace,
    post_label,
    utcnow,
)
from app.models.delivery import new_idempotency_key
from app.networks import rules
from app.networks.base import Network
from app.plans.periods import PeriodError, parse_period
from app.posts.content import content_hash, effective_content
from app.posts.service import PostState, VariantState, changed_fields
from app.timeutil import AmbiguousLocalTime, LocalTimeError, is_valid_zone, to_utc

MAX_BYTES = 5 * 1024 * 1024
MAX_REPORTED = 1000  # problems (and warnings) listed; the count says how many more
MAX_TITLE = 200
MAX_TEXT = 100_000
MAX_LINK = 2048
CHUNK = 1000  # rows per INSERT batch (and progress step while writing)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class TooLarge(AppError):
    status_code = 413


class ImportRefused(Invalid):
    """The file has problems: every one of them, with its row and column."""

    def __init__(self, problems: list[Cell], rows: int) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        detail = (
            f"The file has {len(problems)} problem{'s' if len(problems) != 1 else ''} "
            f"in {rows} row{'s' if rows != 1 else ''}; nothing was imported. "
            f"Fix {'them' if len(problems) != 1 else 'it'} and send the file again."
        )
        if more:
            detail += f" (The first {len(shown)} are listed.)"
        super().__init__(detail, errors=[problem_error(p) for p in shown])


def problem_error(cell: Cell) -> dict[str, Any]:
    """A problem in the one error shape, plus where it is (``row``, ``column``)."""
    return {
        "field": cell.column,
        "network": cell.network,
        "message": cell.message,
        "row": cell.row,
        "column": cell.column,
    }


# -- what the file may refer to ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: uuid.UUID
    name: str
    network: Network
    limits: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: uuid.UUID
    key: str
    title: str
    starts_on: date
    ends_on: date


@dataclass
class Context:
    """A workspace's channels, labels and plans as plain values (usable from a thread)."""

    workspace_id: uuid.UUID
    zone: str
    channels: dict[uuid.UUID, ChannelInfo]
    labels: dict[uuid.UUID, str]
    plans: dict[str, PlanInfo]
    channels_by_name: dict[str, list[ChannelInfo]] = field(default_factory=dict)
    labels_by_name: dict[str, uuid.UUID] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for channel in self.channels.values():
            self.channels_by_name.setdefault(channel.name.strip().casefold(), []).append(channel)
        self.labels_by_name = {name.casefold(): id_ for id_, name in self.labels.items()}

    def channel(self, ref: str) -> ChannelInfo | str:
        """The channel a cell names (by id or by name), or why there is none."""
        try:
            found = self.channels.get(uuid.UUID(ref))
        except ValueError:
            found = None
        if found is not None:
            return found
        named = self.channels_by_name.get(ref.strip().casefold(), [])
        if len(named) == 1:
            return named[0]
        if named:
            return (
                f"{len(named)} channels are called {ref!r}; name this one by its id "
                f"({', '.join(str(c.id) for c in named)})"
            )
        return f"no channel {ref!r} in this workspace"

    def label(self, ref: str) -> uuid.UUID | None:
        try:
            found = uuid.UUID(ref)
            if found in self.labels:
                return found
        except ValueError:
            pass
        return self.labels_by_name.get(ref.casefold())


async def load_context(session: AsyncSession, workspace_id: uuid.UUID) -> Context:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("No such workspace.")
    channels = await session.scalars(select(Channel).where(Channel.workspace_id == workspace_id))
    labels = await session.execute(
        select(Label.id, Label.name).where(Label.workspace_id == workspace_id)
    )
    plans = await session.scalars(select(Plan).where(Plan.workspace_id == workspace_id))
    return Context(
        workspace_id=workspace_id,
        zone=workspace.timezone,
        channels={
            c.id: ChannelInfo(c.id, c.name, Network(c.network), dict(c.limits or {}))
            for c in channels
        },
        labels={row.id: row.name for row in labels},
        plans={p.period: PlanInfo(p.id, p.period, p.title, p.starts_on, p.ends_on) for p in plans},
    )


# -- checking every row ---------------------------------------------------------------------


@dataclass
class Batch:
    """What an import would write, as rows for bulk INSERTs."""

    rows: int = 0
    posts: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    revisions: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Cell] = field(default_factory=list)
    warnings: list[Cell] = field(default_factory=list)
    channel_ids: set[uuid.UUID] = field(default_factory=set)
    label_ids: set[uuid.UUID] = field(default_factory=set)
    plan_ids: set[uuid.UUID] = field(default_factory=set)


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)


def _offset(text: str) -> timedelta:
    if text.upper() == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def _fmt_offset(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass
class _When:
    local_at: datetime | None = None
    fold: int = 0
    due_at: datetime | None = None


def _when(
    cells: dict[str, str], zone_name: str | None, status: str, problem: Callable[..., None]
) -> _When:
    date_text, time_text = cells.get("date", ""), cells.get("time", "")
    day: date | None = None
    if date_text:
        match = _DATE.match(date_text)
        try:
            day = date(int(match[1]), int(match[2]), int(match[3])) if match else None
        except ValueError:
            day = None
        if day is None:
            problem("date", f"{date_text!r} is not a date: write it YYYY-MM-DD (e.g. 2026-12-03)")
    clock: tuple[int, int, int] | None = None
    offset: timedelta | None = None
    if time_text:
        match = _TIME.match(time_text)
        if match and int(match[1]) < 24 and int(match[2]) < 60 and int(match[3] or 0) < 60:
            clock = (int(match[1]), int(match[2]), int(match[3] or 0))
            offset = _offset(match[4]) if match[4] else None
        else:
            problem("time", f"{time_text!r} is not a time: write it HH:MM, 24-hour (e.g. 09:30)")
    if date_text and not time_text:
        problem("time", "a dated post needs a time too (HH:MM)")
    if time_text and not date_text:
        problem("date", "a time needs a date too (YYYY-MM-DD)")
    if not date_text and not time_text and status != PostStatus.idea:
        problem(
            "date",
            "a draft needs a date and a time; write status idea to keep an undated idea",
        )
    if day is None or clock is None or zone_name is None:
        return _When()
    local = datetime(day.year, day.month, day.day, *clock)
    try:
        return _When(local, 0, to_utc(local, zone_name, None))
    except AmbiguousLocalTime as exc:
        tz = ZoneInfo(zone_name)
        offsets = [local.replace(tzinfo=tz, fold=f).utcoffset() for f in (0, 1)]
        if offset is None or offset not in offsets:
            first, second = (f"{time_text[:5]}{_fmt_offset(o)}" for o in offsets)
            problem(
                "time",
                f"{exc}: write the time with its UTC offset, {first} for the first or "
                f"{second} for the second",
            )
            return _When()
        fold = offsets.index(offset)
        return _When(local, fold, to_utc(local, zone_name, fold))
    except LocalTimeError as exc:
        problem("time", str(exc))
        return _When()


def _check_row(
    ctx: Context,
    n: int,
    cells: dict[str, str],
    batch: Batch,
    *,
    author_id: uuid.UUID | None,
    now: datetime,
    checks: dict[tuple[Network, str, str, str | None], rules.Check],
) -> None:
    before = len(batch.problems)

    def problem(column: str, message: str, network: str | None = None) -> None:
        batch.problems.append(Cell(n, column, message, network))

    title = cells.get("title", "").strip()
    if not title:
        problem("title", "a post needs a title")
    elif len(title) > MAX_TITLE:
        problem("title", f"a title has at most {MAX_TITLE} characters; this one has {len(title)}")
    body = cells.get("text", "")
    if len(body) > MAX_TEXT:
        problem("text", f"a text has at most {MAX_TEXT:,} characters; this one has {len(body):,}")
    status = (cells.get("status") or "draft").strip().lower()
    if status not in (PostStatus.idea, PostStatus.draft):
        problem(
            "status",
            f"{status!r} is not a status an import can give: write idea or draft "
            "(reviews and approvals happen in Almanac)",
        )
    zone_name: str | None = cells.get("zone") or ctx.zone
    if not is_valid_zone(zone_name):
        problem("zone", f"{zone_name!r} is not an IANA time zone (for example Europe/Paris)")
        zone_name = None
    when = _when(cells, zone_name, status, problem)

    channels: list[ChannelInfo] = []
    for ref in csv_format.split_list(cells.get("channels", "")):
        found = ctx.channel(ref)
        if isinstance(found, str):
            problem("channels", found)
        elif found not in channels:
            channels.append(found)

    label_ids: list[uuid.UUID] = []
    for ref in csv_format.split_list(cells.get("labels", "")):
        label_id = ctx.label(ref)
        if label_id is None:
            problem(
                "labels",
                f"no label {ref!r} in this workspace; create it first "
                "(an import does not create labels)",
            )
        elif label_id not in label_ids:
            label_ids.append(label_id)

    plan: PlanInfo | None = None
    if plan_text := cells.get("plan", ""):
        try:
            key = parse_period(plan_text).key
        except PeriodError as exc:
            problem("plan", str(exc).rstrip("."))
        else:
            plan = ctx.plans.get(key)
            if plan is None:
                problem("plan", f"no plan for {key} in this workspace; create it first")
            elif when.local_at is not None and not (
                plan.starts_on <= when.local_at.date() <= plan.ends_on
            ):
                problem(
                    "date",
                    f"{when.local_at:%Y-%m-%d} lies outside the plan {plan.title} ({plan.key}, "
                    f"{plan.starts_on:%Y-%m-%d} to {plan.ends_on:%Y-%m-%d})",
                )

    link = cells.get("link", "").strip() or None
    if link is not None and len(link) > MAX_LINK:
        problem("link", f"a link has at most {MAX_LINK} characters; this one has {len(link)}")

    # Own copies: text_<network> for every channel of that network, text@<channel> for one.
    own: dict[uuid.UUID, tuple[str, str]] = {}  # channel id -> (text, column)
    for column, value in cells.items():
        if not column.startswith(csv_format.NETWORK_PREFIX) or not value.strip():
            continue
        network = Network(column[len(csv_format.NETWORK_PREFIX) :])
        mine = [c for c in channels if c.network is network]
        if not mine:
            problem(
                column,
                f"this row has no {network.value} channel, so this copy would be lost; "
                "add the channel or empty the cell",
                network.value,
            )
        for channel in mine:
            own[channel.id] = (value, column)
    for column, value in cells.items():
        if not column.startswith(csv_format.CHANNEL_PREFIX) or not value.strip():
            continue
        found = ctx.channel(column[len(csv_format.CHANNEL_PREFIX) :])
        if isinstance(found, str):
            problem(column, found)
        elif found not in channels:
            problem(column, f"this row does not post to {found.name}, so this copy would be lost")
        else:
            own[found.id] = (value, column)

    for channel in channels:
        text, column = own.get(channel.id, (None, "text"))
        if text is not None and len(text) > MAX_TEXT:
            problem(column, f"a text has at most {MAX_TEXT:,} characters", channel.network.value)
            continue
        # Same network, copy and limits: same verdicts (several channels of one network).
        key = (
            channel.network,
            repr(sorted(channel.limits.items())),
            body if text is None else text,
            link,
        )
        check = checks.get(key)
        if check is None:
            check = rules.check_content(
                channel.network, text=key[2], media=[], link=link, limits=channel.limits or None
            )
            checks[key] = check
        for verdict in check.verdicts:
            where = "link" if verdict.field == "link" else column
            message = f"{channel.name}: {verdict.message}"
            if verdict.level is rules.Level.error and not verdict.field.startswith("media"):
                problem(where, message, channel.network.value)
            elif verdict.level is rules.Level.error:
                # A CSV carries no media: say what to attach before it can be published.
                batch.warnings.append(
                    Cell(
                        n,
                        "channels",
                        f"{message} Attach it in Almanac before this copy can be published.",
                        channel.network.value,
                    )
                )
            else:
                batch.warnings.append(Cell(n, where, message, channel.network.value))

    if len(batch.problems) > before:
        return
    post_id = uuid.uuid4()
    batch.posts.append(
        {
            "id": post_id,
            "workspace_id": ctx.workspace_id,
            "plan_id": plan.id if plan else None,
            "author_id": author_id,
            "title": title,
            "body": body,
            "media": [],
            "link": link,
            "status": PostStatus(status),
            "local_at": when.local_at,
            "timezone": zone_name,
            "fold": when.fold,
            "due_at": when.due_at,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
    )
    variants: dict[uuid.UUID, VariantState] = {}
    first_variant = len(batch.variants)
    for channel in channels:
        text = own[channel.id][0] if channel.id in own else None
        variants[channel.id] = VariantState(text=text)
        # Columns left out are NULL: no own media, link or time, not approved yet.
        batch.variants.append(
            {
                "id": uuid.uuid4(),
                "post_id": post_id,
                "channel_id": channel.id,
                "text": text,
                "fold": 0,
                "content_hash": content_hash(
                    effective_content(
                        base_text=body,
                        base_media=[],
                        base_link=link,
                        text=text,
                        media=None,
                        link=None,
                    )
                ),
                "created_at": now,
                "updated_at": now,
            }
        )
        batch.channel_ids.add(channel.id)
    if status != PostStatus.idea and when.due_at is not None:
        # Deliveries follow their post (app/posts/deliveries.py): one pending per copy.
        batch.deliveries.extend(
            {
                "id": uuid.uuid4(),
                "workspace_id": ctx.workspace_id,
                "post_id": post_id,
                "variant_id": row["id"],
                "channel_id": row["channel_id"],
                "status": DeliveryStatus.pending,
                "due_at": when.due_at,
                "next_attempt_at": when.due_at,
                "attempts": 0,
                "idempotency_key": new_idempotency_key(),
                "checkpoint": {},
                "created_at": now,
                "updated_at": now,
            }
            for row in batch.variants[first_variant:]
        )
    for label_id in label_ids:
        batch.labels.append({"post_id": post_id, "label_id": label_id})
        batch.label_ids.add(label_id)
    if plan is not None:
        batch.plan_ids.add(plan.id)
    snapshot = PostState(
        title=title,
        body=body,
        labels=label_ids,
        plan_id=plan.id if plan else None,
        media=[],
        link=link,
        local_at=when.local_at,
        timezone=zone_name or ctx.zone,
        fold=when.fold,
        status=PostStatus(status),
        variants=variants,
    ).snapshot()
    batch.revisions.append(
        {
            "id": uuid.uuid4(),
            "post_id": post_id,
            "author_id": author_id,
            "created_at": now,
            "version": 1,
            "action": "imported",
            "changed": changed_fields(None, snapshot),
            "after": snapshot,
        }
    )


def check_sheet(
    ctx: Context,
    sheet: Sheet,
    *,
    author_id: uuid.UUID | None = None,
    progress: Progress | None = None,
) -> Batch:
    """Check every row; the batch holds every problem, or the rows to insert."""
    batch = Batch(rows=len(sheet.rows), problems=list(sheet.problems))
    now = utcnow()
    checks: dict[tuple[Network, str, str, str | None], rules.Check] = {}
    total = len(sheet.rows)
    for done, (n, cells) in enumerate(sheet.rows, start=1):
        _check_row(ctx, n, cells, batch, author_id=author_id, now=now, checks=checks)
        if progress is not None and (done % 250 == 0 or done == total):
            progress("checking", done, total)
    if batch.problems:
        batch.posts, batch.variants, batch.labels, batch.revisions = [], [], [], []
    return batch


# -- the import ---------------------------------------------------------------------------


@dataclass
class Outcome:
    dry_run: bool
    rows: int
    posts: int
    variants: int
    labels: int
    warnings: list[Cell]
    check_seconds: float
    write_seconds: float | None


async def _still_there(session: AsyncSession, batch: Batch, workspace_id: uuid.UUID) -> None:
    """What was checked outside this transaction still exists (a channel, label or
    plan deleted in between would otherwise end as a foreign-key error)."""
    for model, ids in ((Channel, batch.channel_ids), (Label, batch.label_ids),
                       (Plan, batch.plan_ids)):  # fmt: skip
        if not ids:
            continue
        found = await session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.workspace_id == workspace_id, model.id.in_(ids))
        )
        if found != len(ids):
            raise Conflict(
                f"A {model.__tablename__} this file uses was deleted while the file was being "
                "checked; nothing was imported. Send the file again."
            )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One table's rows as the driver receives them, and the INSERT that takes them."""

    sql: str
    rows: list[tuple[Any, ...]]


def _prepare(table: Table, rows: list[dict[str, Any]], dialect: Dialect) -> _Prepared:
    """Turn ``rows`` into driver-ready tuples with SQLAlchemy's own bind processors (the
    stored format is exactly what ``session.execute(insert(table), rows)`` writes), and
    the INSERT statement in the driver's paramstyle. Columns the rows leave out get their
    Python-side default, as the ORM would; the others are left out (NULL or server side)."""
    keys = list(rows[0]) if rows else []
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or ())
    columns = [table.c[name] for name in names]
    getters: list[Callable[[dict[str, Any]], Any]] = []
    for column in columns:
        proc = column.type.dialect_impl(dialect).bind_processor(dialect)
        if column.key in keys:
            key = column.key
            if proc is None:
                getters.append(lambda row, key=key: row[key])
            else:
                getters.append(lambda row, key=key, proc=proc: proc(row[key]))
        elif column.default is not None and column.default.is_scalar:
            value = column.default.arg
            value = proc(value) if proc is not None else value
            getters.append(lambda row, value=value: value)
        elif column.default is not None and column.default.is_callable:
            make = column.default.arg
            if proc is None:
                getters.append(lambda row, make=make: make(None))
            else:
                getters.append(lambda row, make=make, proc=proc: proc(make(None)))
        else:  # pragma: no cover - the compiler only adds columns it has a value for
            raise ValueError(f"no value for {table.name}.{column.name}")
    return _Prepared(compiled.string, [tuple(get(row) for get in getters) for row in rows])


def _tables(batch: Batch) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The batch's rows per table, in foreign-key order."""
    return [
        (table, rows)
        for table, rows in (
            (Post.__table__, batch.posts),
            (Variant.__table__, batch.variants),
            (Delivery.__table__, batch.deliveries),
            (post_label, batch.labels),
            (Revision.__table__, batch.revisions),
        )
        if rows
    ]


def _prepare_batch(batch: Batch, dialect: Dialect) -> list[tuple[Table, _Prepared]]:
    return [(table, _prepare(table, rows, dialect)) for table, rows in _tables(batch)]


async def _write(
    database: Database,
    batch: Batch,
    *,
    workspace_id: uuid.UUID,
    actor: User | None,
    actor_label: str | None,
    request: Request | None,
    progress: Progress | None,
    check_seconds: float,
) -> float:
    """One write transaction of bulk INSERTs; returns how long it was held (seconds).

    On SQLite every value is converted for the driver *before* the transaction begins
    (in a worker thread), so the transaction only hands ready tuples to the driver's
    ``executemany`` and the single write lock is held for the INSERTs and little else.
    PostgreSQL keeps SQLAlchemy's bulk INSERTs: nothing waits on its write transaction
    (readers and other writers go on), and there converting up front did not make the
    transaction shorter (bench/README.md, import_csv.py)."""
    total = len(batch.posts)
    prepared = (
        await asyncio.to_thread(_prepare_batch, batch, database.engine.dialect)
        if database.is_sqlite
        else None
    )
    async with database.write_session() as session:
        started = time.perf_counter()  # BEGIN (IMMEDIATE on SQLite) comes with the first query
        try:
            await _still_there(session, batch, workspace_id)
            if prepared is not None:
                connection = await session.connection()
                for table, ready in prepared:
                    for start in range(0, len(ready.rows), CHUNK):
                        chunk = ready.rows[start : start + CHUNK]
                        await connection.exec_driver_sql(ready.sql, chunk)
                        if progress is not None and table is Post.__table__:
                            progress("writing", start + len(chunk), total)
            else:
                for table, rows in _tables(batch):
                    for start in range(0, len(rows), CHUNK):
                        chunk = rows[start : start + CHUNK]
                        await session.execute(insert(table), chunk)
                        if progress is not None and table is Post.__table__:
                            progress("writing", start + len(chunk), total)
            await record(
                session,
                action="import.completed",
                actor=actor,
                actor_label=actor_label,
                request=request,
                workspace_id=workspace_id,
                target_type="workspace",
                target_id=workspace_id,
                data={
                    "rows": batch.rows,
                    "posts": len(batch.posts),
                    "variants": len(batch.variants),
                    "check_ms": round(check_seconds * 1000),
                    "write_ms": round((time.perf_counter() - started) * 1000),
                },
            )
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise Conflict(
                "Something this file uses changed while it was being imported; nothing was "
                "imported. Send the file again."
            ) from None
        except BaseException:
            await session.rollback()
            raise
        return time.perf_counter() - started


async def run_import(
    database: Database,
    workspace_id: uuid.UUID,
    data: bytes,
    *,
    dry_run: bool,
    actor: User | None = None,
    actor_label: str | None = None,
    request: Request | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Check a CSV file and, unless ``dry_run``, write all of it or nothing.
    Raises :class:`ImportRefused` listing every problem."""
    if len(data) > MAX_BYTES:
        raise too_large()
    started = time.perf_counter()
    sheet = csv_format.read_sheet(data)
    async with database.read_session() as session:
        ctx = await load_context(session, workspace_id)
    batch = await asyncio.to_thread(
        check_sheet, ctx, sheet, author_id=actor.id if actor else None, progress=progress
    )
    check_seconds = time.perf_counter() - started
    if batch.problems:
        raise ImportRefused(batch.problems, batch.rows)
    write_seconds = None
    if not dry_run and batch.posts:
        write_seconds = await _write(
            database,
            batch,
            workspace_id=workspace_id,
            actor=actor,
            actor_label=actor_label,
            request=request,
            progress=progress,
            check_seconds=check_seconds,
        )
    return Outcome(
        dry_run=dry_run,
        rows=batch.rows,
        posts=len(batch.posts),
        variants=len(batch.variants),
        labels=len(batch.labels),
        warnings=batch.warnings,
        check_seconds=check_seconds,
        write_seconds=write_seconds,
    )


def too_large() -> TooLarge:
    return TooLarge(
        f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into smaller "
        "files and import them one after the other.",
        errors=[{"field": "file", "network": None, "message": f"at most {MAX_BYTES} bytes"}],
    )


async def find_workspace(session: AsyncSession, slug_or_id: str) -> Workspace:
    """For the command line: a workspace by its slug or its id."""
    query = select(Workspace).where(Workspace.slug == slug_or_id.strip())
    with contextlib.suppress(ValueError):
        query = select(Workspace).where(
            (Workspace.slug == slug_or_id.strip()) | (Workspace.id == uuid.UUID(slug_or_id))
        )
    workspace = (await session.scalars(query)).first()
    if workspace is None:
        raise NotFound(f"No workspace has the slug or id {slug_or_id!r}.")
    return workspace


# -- the export ----------------------------------------------------------------------------


def _ref(name: str, id_: uuid.UUID, taken: dict[str, int]) -> str:
    """A name the import will read back to the same thing, else the id."""
    clean = name.strip()
    usable = (
        clean == name
        and clean
        and csv_format.SEPARATOR not in clean
        and taken[clean.casefold()] == 1
    )
    return clean if usable else str(id_)


def _clock(local: datetime, zone_name: str, fold: int) -> str:
    text = f"{local:%H:%M}" if local.second == 0 else f"{local:%H:%M:%S}"
    try:
        to_utc(local, zone_name, None)
    except AmbiguousLocalTime:
        offset = local.replace(tzinfo=ZoneInfo(zone_name), fold=fold).utcoffset()
        text += _fmt_offset(offset)
    except LocalTimeError:
        pass
    return text


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def export_lines(
    database: Database,
    workspace_id: uuid.UUID,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> AsyncIterator[str]:
    """The workspace's posts as CSV text (due in [start, end); undated ideas only when
    neither is given), with a UTF-8 byte order mark so spreadsheets read it as UTF-8."""
    conditions: list[Any] = [Post.workspace_id == workspace_id]
    if start is not None:
        conditions.append(Post.due_at >= _utc(start))
    if end is not None:
        conditions.append(Post.due_at < _utc(end))
    async with database.read_session() as session:
        channels = {
            row.id: row
            for row in await session.execute(
                select(Channel.id, Channel.name, Channel.network).where(
                    Channel.workspace_id == workspace_id
                )
            )
        }
        labels = dict(
            (await session.execute(
                select(Label.id, Label.name).where(Label.workspace_id == workspace_id)
            )).all()
        )  # fmt: skip
        plans = dict(
            (await session.execute(
                select(Plan.id, Plan.period).where(Plan.workspace_id == workspace_id)
            )).all()
        )  # fmt: skip
        posts = (
            await session.execute(
                select(
                    Post.id,
                    Post.title,
                    Post.body,
                    Post.link,
                    Post.status,
                    Post.local_at,
                    Post.timezone,
                    Post.fold,
                    Post.plan_id,
                )
                .where(*conditions)
                .order_by(Post.due_at.is_(None), Post.due_at, Post.created_at, Post.id)
            )
        ).all()
        in_range = select(Post.id).where(*conditions)
        variants: dict[uuid.UUID, list[tuple[uuid.UUID, str | None]]] = defaultdict(list)
        for row in await session.execute(
            select(Variant.post_id, Variant.channel_id, Variant.text).where(
                Variant.post_id.in_(in_range)
            )
        ):
            variants[row.post_id].append((row.channel_id, row.text))
        post_labels: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for row in await session.execute(
            select(post_label.c.post_id, post_label.c.label_id).where(
                post_label.c.post_id.in_(in_range)
            )
        ):
            post_labels[row.post_id].append(row.label_id)

    channel_names: dict[str, int] = defaultdict(int)
    for row in channels.values():
        channel_names[row.name.strip().casefold()] += 1
    label_names: dict[str, int] = defaultdict(int)
    for name in labels.values():
        label_names[name.strip().casefold()] += 1
    channel_ref = {id_: _ref(row.name, id_, channel_names) for id_, row in channels.items()}
    label_ref = {id_: _ref(name, id_, label_names) for id_, name in labels.items()}
    network_of = {id_: Network(row.network) for id_, row in channels.items()}

    # One text_<network> cell per network, unless that post's channels on one network
    # carry different copies: then a text@<channel> cell for each of them.
    cells: list[dict[str, str]] = []
    own_columns: set[str] = set()
    for post in posts:
        by_network: dict[Network, list[tuple[uuid.UUID, str | None]]] = defaultdict(list)
        for channel_id, text in variants.get(post.id, []):
            by_network[network_of[channel_id]].append((channel_id, text))
        row: dict[str, str] = {}
        for network, copies in by_network.items():
            texts = {text for _, text in copies}
            if len(texts) == 1:
                row[csv_format.network_column(network)] = texts.pop() or ""
            else:
                for channel_id, text in copies:
                    column = f"{csv_format.CHANNEL_PREFIX}{channel_ref[channel_id]}"
                    own_columns.add(column)
                    row[column] = text or ""
        cells.append(row)
    networks = [n for n in Network if n in set(network_of.values())]
    header = [
        *csv_format.BASE_COLUMNS,
        *(csv_format.network_column(n) for n in networks),
        *sorted(own_columns),
        *csv_format.TAIL_COLUMNS,
    ]

    def rows() -> Iterable[list[str]]:
        for post, own in zip(posts, cells, strict=True):
            local = post.local_at
            values = {
                "date": f"{local:%Y-%m-%d}" if local else "",
                "time": _clock(local, post.timezone, post.fold) if local else "",
                "zone": post.timezone,
                "channels": csv_format.SEPARATOR.join(
                    sorted(channel_ref[c] for c, _ in variants.get(post.id, []))
                ),
                "title": post.title,
                "text": post.body,
                "labels": csv_format.SEPARATOR.join(
                    sorted(label_ref[label] for label in post_labels.get(post.id, []))
                ),
                "plan": plans.get(post.plan_id, "") if post.plan_id else "",
                "status": "idea" if post.status == PostStatus.idea else "draft",
                "link": post.link or "",
                **own,
            }
            yield [values.get(column, "") for column in header]

    yield "\ufeff"
    for line in csv_format.write_lines(header, rows()):
        yield line
