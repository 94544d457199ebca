"""The calendar range query.

The calendar of a busy month is thousands of posts. Building ORM objects, running
every value through its column type (UUID, enum, UTC datetime) and then through
Pydantic twice cost ~250 ms for 3,000 posts; this costs a fraction of that
(``bench/calendar_range.py`` measures it, ``bench/README.md`` has the figures):

- one statement per backend, driven by the ``ix_post_workspace_id_due_at`` index,
  with each post's variants and label ids aggregated into one text column by
  correlated subqueries on their primary-key indexes;
- plain text out of the driver (no TypeDecorator runs per value);
- the response body assembled as JSON text here, so the route returns it as is;
- the same rows, unassembled, for the month page (:func:`calendar_rows`), which shows
  a few posts a day and so skips building and parsing megabytes of JSON.

The JSON is exactly what :class:`app.calendar.schemas.CalendarRange` serialises
to: the same keys in the same order, UUIDs with dashes, UTC instants as
``2026-12-10T08:00:00Z`` (a fraction only when not zero), wall times without an
offset, variants ordered by network then channel, label ids sorted.
``tests/test_calendar_json.py`` checks it against the schema on both backends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from typing import NamedTuple

from sqlalchemy import String, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.calendar.schemas import CalendarRange
from app.errors import Invalid
from app.models.base import UTCDateTime

MAX_RANGE = timedelta(days=100)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise Invalid(
            "The calendar range must end after it starts.",
            errors=[{"field": "to", "network": None, "message": "must be after from"}],
        )
    if end - start > MAX_RANGE:
        raise Invalid(
            f"A calendar range covers at most {MAX_RANGE.days} days; ask for a shorter one.",
            errors=[{"field": "to", "network": None, "message": f"at most {MAX_RANGE.days} days"}],
        )
    return start, end


# One statement per backend, both returning the same raw text shape, so that one
# assembler serves both: UUIDs as 32 hex digits, times as "YYYY-MM-DD HH:MM:SS.ffffff"
# (UTC for instants), and per post two comma-separated lists: its variants as
# "<channel hex><due time or nothing>" and its label ids in hex. (SQLite
# stores exactly that shape; PostgreSQL is asked for it.) Formatting a UUID or a
# time in SQL costs more on SQLite than slicing the string in Python. The channels'
# networks come from one small query of the workspace's channels rather than a join
# per variant.
_CHANNELS = (
    text("SELECT id, network FROM channel WHERE workspace_id = :ws")
    .bindparams(bindparam("ws", type_=Uuid()))
    .columns(id=Uuid(), network=String())
)
_SOME_CHANNELS = (
    text("SELECT id, network FROM channel WHERE id IN :ids")
    .bindparams(bindparam("ids", type_=Uuid(), expanding=True))
    .columns(id=Uuid(), network=String())
)

# Deliveries that say nothing of how publishing went: unscheduled, or taken down later.
_NOT_OUTCOMES = "('canceled', 'removed')"

_SQLITE = f"""
SELECT p.id, p.version, p.title, p.status, p.local_at, p.fold, p.timezone, p.due_at,
    p.plan_id,
    (SELECT group_concat(variant.channel_id || coalesce(variant.due_at, ''), ',')
     FROM variant WHERE variant.post_id = p.id) AS variants,
    (SELECT group_concat(label_id, ',') FROM post_label WHERE post_id = p.id) AS label_ids,
    (SELECT group_concat(DISTINCT delivery.status) FROM delivery
     WHERE delivery.post_id = p.id AND delivery.status NOT IN {_NOT_OUTCOMES}) AS deliveries
FROM post AS p
WHERE p.workspace_id = :ws AND p.due_at >= :start AND p.due_at < :end
ORDER BY p.due_at, p.id
"""


def _pg_hex(column: str) -> str:
    return f"replace({column}::text, '-', '')"


def _pg_time(column: str, *, instant: bool) -> str:
    value = f"({column} AT TIME ZONE 'UTC')" if instant else column
    return f"to_char({value}, 'YYYY-MM-DD HH24:MI:SS.US')"


_POSTGRESQL = f"""
SELECT {_pg_hex("p.id")}, p.version, p.title, p.status, {_pg_time("p.local_at", instant=False)},
    p.fold, p.timezone, {_pg_time("p.due_at", instant=True)}, {_pg_hex("p.plan_id")},
    (SELECT string_agg({_pg_hex("variant.channel_id")}
                       || coalesce({_pg_time("variant.due_at", instant=True)}, ''), ',')
     FROM variant WHERE variant.post_id = p.id) AS variants,
    (SELECT string_agg({_pg_hex("label_id")}, ',') FROM post_label WHERE post_id = p.id)
        AS label_ids,
    (SELECT string_agg(DISTINCT delivery.status, ',') FROM delivery
     WHERE delivery.post_id = p.id AND delivery.status NOT IN {_NOT_OUTCOMES}) AS deliveries
FROM post AS p
WHERE p.workspace_id = :ws AND p.due_at >= :start AND p.due_at < :end
ORDER BY p.due_at, p.id
"""

_PARAMS = (
    bindparam("ws", type_=Uuid()),
    bindparam("start", type_=UTCDateTime()),
    bindparam("end", type_=UTCDateTime()),
)
STATEMENTS = {
    "sqlite": text(_SQLITE).bindparams(*_PARAMS),
    "postgresql": text(_POSTGRESQL).bindparams(*_PARAMS),
}


class CalendarRow(NamedTuple):
    """A post of the range as the statements return it: ids as 32 hex digits, times as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC for ``due_at``), its copies and labels as text."""

    post_id: str
    version: int
    title: str
    status: str
    local_at: str | None
    fold: int
    timezone: str
    due_at: str
    plan_id: str | None
    # "<channel hex><its own due time, or nothing>,..."
    variants: str | None
    # "<label hex>,..."
    label_ids: str | None
    # The distinct statuses of its deliveries ("pending,published"), canceled and
    # removed ones left out: what :func:`shown_status` derives the calendar's from.
    deliveries: str | None

    @property
    def shown(self) -> str:
        return shown_status(self.status, self.deliveries)


ATTENTION = frozenset({"failed", "uncertain", "missed"})
IN_FLIGHT = frozenset({"sending", "retrying"})


def shown_status(workflow: str, deliveries: str | None) -> str:
    """What the calendar shows of a post: its workflow status until a delivery leaves
    ``pending``, then how publishing went. ``deliveries``: its deliveries' distinct
    statuses, comma-separated (canceled and removed ones left out).

    Trouble comes first (``failed`` when every delivery failed, else
    ``needs_attention``), then ``publishing`` while one is being sent, then
    ``published`` (all) or ``partially_published`` (some, others still pending)."""
    statuses = set(deliveries.split(",")) if deliveries else set()
    if statuses <= {"pending"}:
        return workflow
    if statuses & ATTENTION:
        return "failed" if statuses == {"failed"} else "needs_attention"
    if statuses & IN_FLIGHT:
        return "publishing"
    if statuses == {"published"}:
        return "published"
    return "partially_published"


@dataclass(frozen=True)
class CalendarRows:
    """The posts due in [start, end), soonest first, and their channels' networks."""

    start: datetime
    end: datetime
    rows: list[CalendarRow]
    # channel hex → network
    networks: dict[str, str]

    def copies(self, row: CalendarRow) -> list[tuple[str, str, str]]:
        """``row``'s variants as (network, channel hex, own due time or ""), sorted."""
        if not row.variants:
            return []
        return sorted(
            (self.networks[item[:32]], item[:32], item[32:]) for item in row.variants.split(",")
        )


def _instant(value: datetime) -> str:
    """A UTC instant as Pydantic writes it."""
    stamp = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{stamp}Z"


def _dashed(hex_id: str) -> str:
    return f'"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"'


def iso_time(raw: str) -> str:
    """ "2026-12-10 08:00:00.000000" → "2026-12-10T08:00:00" (the fraction only when
    not zero, as Pydantic writes it)."""
    fraction = raw[20:26]
    if fraction and fraction != "000000":
        return f"{raw[:10]}T{raw[11:19]}.{fraction}"
    return f"{raw[:10]}T{raw[11:19]}"


def _time(raw: str | None, suffix: str) -> str:
    """A raw time as a JSON string (``suffix``: "Z" for instants), or null."""
    return "null" if raw is None else f'"{iso_time(raw)}{suffix}"'


class _Ids(dict[str, str]):
    """Hex id → JSON string, formatted once (channels, labels, plans repeat)."""

    def __missing__(self, hex_id: str) -> str:
        self[hex_id] = value = _dashed(hex_id)
        return value


def _assemble(found: CalendarRows) -> bytes:
    """The response body from the statement's rows."""
    ids = _Ids()
    # A post's variants as JSON, by their "<channel hex><due>,..." text: posts on the
    # same channels without times of their own share it, so most are formatted once.
    lists: dict[str, str] = {}
    zones: dict[str, str] = {}
    entries = []
    for row in found.rows:
        post_id, version, title, status, local_at, fold, zone, due_at, plan_id = row[:9]
        variants, labels = row.variants, row.label_ids
        copies = lists.get(variants or "")
        if copies is None:
            copies = lists[variants or ""] = ",".join(
                f'{{"channel_id":{ids[channel]},"network":"{network}",'
                f'"due_at":{_time(due or None, "Z")}}}'
                for network, channel, due in found.copies(row)
            )
        label_ids = ",".join([ids[h] for h in sorted(labels.split(","))]) if labels else ""
        zone_json = zones.get(zone) or zones.setdefault(zone, _quote(zone))
        entries.append(
            f'{{"post_id":{_dashed(post_id)},"version":{version},"title":{_quote(title)},'
            f'"status":"{status}","shown_status":"{row.shown}",'
            f'"local_at":{_time(local_at, "")},"fold":{fold},"timezone":{zone_json},'
            f'"due_at":{_time(due_at, "Z")},"plan_id":{ids[plan_id] if plan_id else "null"},'
            f'"label_ids":[{label_ids}],"variants":[{copies}]}}'
        )
    start, end = _instant(found.start), _instant(found.end)
    return f'{{"start":"{start}","end":"{end}","entries":[{",".join(entries)}]}}'.encode()


async def calendar_rows(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime, end: datetime
) -> CalendarRows:
    """The posts due in [start, end) as raw rows: what the month page reads (it shows
    a few posts a day, so it skips building and parsing the JSON of thousands)."""
    start, end = check_range(start, end)
    statement = STATEMENTS[db.get_bind().dialect.name]
    result = await db.execute(statement, {"ws": workspace_id, "start": start, "end": end})
    rows = [CalendarRow._make(row) for row in result]
    channels = (await db.execute(_CHANNELS, {"ws": workspace_id})).all()
    networks = {channel_id.hex: network for channel_id, network in channels}
    used = {item[:32] for row in rows if row.variants for item in row.variants.split(",")}
    if used - networks.keys():
        # Cannot happen through the service (a variant's channel is in its post's
        # workspace), but a wrong network is worse than one more query.
        missing = [uuid.UUID(hex_id) for hex_id in used - networks.keys()]
        found = await db.execute(_SOME_CHANNELS, {"ids": missing})
        networks.update((channel_id.hex, network) for channel_id, network in found)
    return CalendarRows(start, end, rows, networks)


async def calendar_json(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime, end: datetime
) -> bytes:
    """The calendar range body: posts due in [start, end), as the JSON of
    :class:`CalendarRange`."""
    return _assemble(await calendar_rows(db, workspace_id, start, end))


async def calendar_range(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime, end: datetime
) -> CalendarRange:
    """The same as a model, for Python callers (pages, reports)."""
    return CalendarRange.model_validate_json(await calendar_json(db, workspace_id, start, end))
