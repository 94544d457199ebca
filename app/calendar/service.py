"""The calendar range query.

The calendar of a busy month is thousands of posts. Building ORM objects, running
every value through its column type (UUID, enum, UTC datetime) and then through
Pydantic twice cost ~250 ms for 3,000 posts; this costs a fraction of that
(``bench/calendar_range.py`` measures it, ``bench/README.md`` has the figures):

- one statement per backend, driven by the ``ix_post_workspace_id_due_at`` index,
  with each post's variants and label ids aggregated into one text column by
  correlated subqueries on their primary-key indexes;
- plain text out of the driver (no TypeDecorator runs per value);
- the response body assembled as JSON text here, so the route returns it as is.

The JSON is exactly what :class:`app.calendar.schemas.CalendarRange` serialises
to: the same keys in the same order, UUIDs with dashes, UTC instants as
``2026-12-10T08:00:00Z`` (a fraction only when not zero), wall times without an
offset, variants ordered by network then channel, label ids sorted.
``tests/test_calendar_json.py`` checks it against the schema on both backends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from typing import Any

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

_SQLITE = """
SELECT p.id, p.title, p.status, p.local_at, p.timezone, p.due_at, p.plan_id,
    (SELECT group_concat(variant.channel_id || coalesce(variant.due_at, ''), ',')
     FROM variant WHERE variant.post_id = p.id),
    (SELECT group_concat(label_id, ',') FROM post_label WHERE post_id = p.id)
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
SELECT {_pg_hex("p.id")}, p.title, p.status, {_pg_time("p.local_at", instant=False)},
    p.timezone, {_pg_time("p.due_at", instant=True)}, {_pg_hex("p.plan_id")},
    (SELECT string_agg({_pg_hex("variant.channel_id")}
                       || coalesce({_pg_time("variant.due_at", instant=True)}, ''), ',')
     FROM variant WHERE variant.post_id = p.id),
    (SELECT string_agg({_pg_hex("label_id")}, ',') FROM post_label WHERE post_id = p.id)
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


def _instant(value: datetime) -> str:
    """A UTC instant as Pydantic writes it."""
    stamp = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{stamp}Z"


def _dashed(hex_id: str) -> str:
    return f'"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"'


def _time(raw: str | None, suffix: str) -> str:
    """ "2026-12-10 08:00:00.000000" → "2026-12-10T08:00:00" + suffix, as JSON (the
    fraction only when not zero, as Pydantic writes it)."""
    if raw is None:
        return "null"
    fraction = raw[20:26]
    if fraction and fraction != "000000":
        return f'"{raw[:10]}T{raw[11:19]}.{fraction}{suffix}"'
    return f'"{raw[:10]}T{raw[11:19]}{suffix}"'


class _Ids(dict[str, str]):
    """Hex id → JSON string, formatted once (channels, labels, plans repeat)."""

    def __missing__(self, hex_id: str) -> str:
        self[hex_id] = value = _dashed(hex_id)
        return value


def _assemble(rows: list[Any], networks: dict[str, str], start: datetime, end: datetime) -> bytes:
    """The response body from the statement's rows; ``networks``: channel hex → network."""
    ids = _Ids()
    # A post's variants as JSON, by their "<channel hex><due>,..." text: posts on the
    # same channels without times of their own share it, so most are formatted once.
    lists: dict[str, str] = {}
    zones: dict[str, str] = {}
    entries = []
    for post_id, title, status, local_at, zone, due_at, plan_id, variants, labels in rows:
        copies = lists.get(variants or "")
        if copies is None:
            items = sorted(
                (networks[item[:32]], item[:32], item[32:])
                for item in (variants.split(",") if variants else ())
            )
            copies = lists[variants or ""] = ",".join(
                f'{{"channel_id":{ids[channel]},"network":"{network}",'
                f'"due_at":{_time(due or None, "Z")}}}'
                for network, channel, due in items
            )
        label_ids = ",".join([ids[h] for h in sorted(labels.split(","))]) if labels else ""
        zone_json = zones.get(zone) or zones.setdefault(zone, _quote(zone))
        entries.append(
            f'{{"post_id":{_dashed(post_id)},"title":{_quote(title)},"status":"{status}",'
            f'"local_at":{_time(local_at, "")},"timezone":{zone_json},'
            f'"due_at":{_time(due_at, "Z")},"plan_id":{ids[plan_id] if plan_id else "null"},'
            f'"label_ids":[{label_ids}],"variants":[{copies}]}}'
        )
    return (
        f'{{"start":"{_instant(start)}","end":"{_instant(end)}","entries":[{",".join(entries)}]}}'
    ).encode()


async def calendar_json(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime, end: datetime
) -> bytes:
    """The calendar range body: posts due in [start, end), as the JSON of
    :class:`CalendarRange`."""
    start, end = check_range(start, end)
    statement = STATEMENTS[db.get_bind().dialect.name]
    rows = (await db.execute(statement, {"ws": workspace_id, "start": start, "end": end})).all()
    channels = (await db.execute(_CHANNELS, {"ws": workspace_id})).all()
    networks = {channel_id.hex: network for channel_id, network in channels}
    used = {item[:32] for row in rows if row[7] for item in row[7].split(",")}
    if used - networks.keys():
        # Cannot happen through the service (a variant's channel is in its post's
        # workspace), but a wrong network is worse than one more query.
        missing = [uuid.UUID(hex_id) for hex_id in used - networks.keys()]
        found = await db.execute(_SOME_CHANNELS, {"ids": missing})
        networks.update((channel_id.hex, network) for channel_id, network in found)
    return _assemble(rows, networks, start, end)


async def calendar_range(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime, end: datetime
) -> CalendarRange:
    """The same as a model, for Python callers (pages, reports)."""
    return CalendarRange.model_validate_json(await calendar_json(db, workspace_id, start, end))
