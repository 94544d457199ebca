"""The iCal feed: its secret token (issue, rotate, delete) and the calendar it serves.

The feed URL ``{base_url}/ical/{token}.ics`` is the only credential a calendar
client sends, so the token is handled like an API token: random, shown once,
stored as its SHA-256, and replaced (never shown again) when an admin rotates it.

The calendar holds one event per dated post (ideas have no date) due from
``WINDOW_BEFORE`` ago to ``WINDOW_AFTER`` ahead:

- ``DTSTART`` is the post's wall time with ``TZID`` = its zone, and the zone's
  ``VTIMEZONE`` is included (from zoneinfo, for the window's years). A UTC post, or
  the second occurrence of a fall-back hour (a ``TZID`` wall time means the first
  one, RFC 5545 §3.3.5), is written in UTC instead, so the instant is always exact.
- A post is a moment, not a meeting: ``DTEND`` is ``EVENT_LENGTH`` (15 minutes) later,
  so clients draw something visible.
- ``STATUS`` is ``CONFIRMED`` once approved, ``TENTATIVE`` before.
- ``URL`` links back to the post's page (``/posts/{id}``, which comes with the web
  pages' issue); the description repeats it, as some clients hide ``URL``.

Services flush; the request commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from icalendar import Calendar, Event
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.auth.tokens import hash_secret, new_secret
from app.errors import Conflict
from app.ical.schemas import IcalFeedIssued, IcalFeedRead
from app.models import (
    Channel,
    IcalFeed,
    Label,
    Post,
    PostStatus,
    User,
    Variant,
    Workspace,
    post_label,
    utcnow,
)
from app.timeutil import is_valid_zone

TARGET = "ical_feed"
TOKEN_PREFIX = "cal"
# Longer than any token we hand out; anything longer is not ours (404 without a lookup).
MAX_TOKEN_LENGTH = 100

WINDOW_BEFORE = timedelta(days=90)
WINDOW_AFTER = timedelta(days=365)
EVENT_LENGTH = timedelta(minutes=15)
EXCERPT_LENGTH = 200
# Calendar clients poll; a short private cache spares a burst of reloads.
CACHE_CONTROL = "private, max-age=300"
# How often clients should reload (a hint; X-PUBLISHED-TTL says the same to Outlook).
REFRESH_INTERVAL = timedelta(hours=1)
PRODID = "-//Almanac//Editorial calendar//EN"

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "GMT", "Etc/GMT"})
# Control characters other than tab and newline have no place in a calendar line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- the token ---------------------------------------------------------------------------


def new_feed_token() -> tuple[str, str]:
    """Return (token, visible prefix); the token is ``cal_<prefix>_<secret>``."""
    visible = f"{TOKEN_PREFIX}_{secrets.token_hex(4)}"
    return f"{visible}_{new_secret()}", visible


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/ical/{token}.ics"


def to_read(feed: IcalFeed | None) -> IcalFeedRead:
    if feed is None:
        return IcalFeedRead(exists=False)
    return IcalFeedRead(
        exists=True, prefix=feed.prefix, created_at=feed.created_at, rotated_at=feed.rotated_at
    )


async def get_feed(db: AsyncSession, workspace_id: uuid.UUID) -> IcalFeed | None:
    return await db.scalar(select(IcalFeed).where(IcalFeed.workspace_id == workspace_id))


async def issue_feed(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    base_url: str,
    actor: User,
    request: Request | None = None,
) -> tuple[IcalFeedIssued, bool]:
    """Create the workspace's feed, or rotate it: a new token whose URL is returned
    this once; the old URL stops working with this transaction. Returns (the feed
    with its URL, whether it was created)."""
    token, prefix = new_feed_token()
    feed = await get_feed(db, workspace_id)
    created = feed is None
    if feed is None:
        feed = IcalFeed(
            workspace_id=workspace_id,
            token_hash=hash_secret(token),
            prefix=prefix,
            created_by_id=actor.id,
        )
        db.add(feed)
        data: dict[str, str] = {"prefix": prefix}
    else:
        data = {"from": feed.prefix, "to": prefix}
        feed.token_hash = hash_secret(token)
        feed.prefix = prefix
        feed.rotated_at = utcnow()
    try:
        await db.flush()
    except IntegrityError:
        # Two admins creating the feed at the same moment: the unique key decides.
        raise Conflict(
            "Someone else has just set up this workspace's calendar feed; "
            "reload and rotate it if you need a URL."
        ) from None
    await record(
        db,
        action="ical_feed.created" if created else "ical_feed.rotated",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=feed.id,
        data=data,
    )
    read = to_read(feed)
    return IcalFeedIssued(**read.model_dump(), url=feed_url(base_url, token)), created


async def delete_feed(
    db: AsyncSession, *, workspace_id: uuid.UUID, actor: User, request: Request | None = None
) -> bool:
    """Turn the feed off (its URL answers 404 from now on). Deleting a feed that does
    not exist changes nothing and is not an error. Returns whether one was deleted."""
    feed = await get_feed(db, workspace_id)
    if feed is None:
        return False
    await record(
        db,
        action="ical_feed.deleted",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=feed.id,
        data={"prefix": feed.prefix},
    )
    await db.delete(feed)
    await db.flush()
    return True


async def feed_for_token(db: AsyncSession, token: str) -> IcalFeed | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return await db.scalar(select(IcalFeed).where(IcalFeed.token_hash == hash_secret(token)))


# -- the calendar --------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def around(cls, now: datetime | None = None) -> Window:
        """Whole UTC days, so the feed (and its ETag) changes once a day, not every second."""
        today = (now or utcnow()).astimezone(UTC).date()
        midnight = datetime.combine(today, time(), tzinfo=UTC)
        return cls(midnight - WINDOW_BEFORE, midnight + WINDOW_AFTER + timedelta(days=1))


def _in_window(workspace_id: uuid.UUID, window: Window) -> tuple[ColumnElement[bool], ...]:
    return (
        Post.workspace_id == workspace_id,
        Post.status != PostStatus.idea,
        Post.due_at.is_not(None),
        Post.due_at >= window.start,
        Post.due_at < window.end,
    )


async def feed_etag(
    db: AsyncSession, workspace: Workspace, window: Window, base_url: str = ""
) -> str:
    """A validator computed without building the calendar: the window, the newest
    change and the count of everything an event shows (posts, their variants and
    labels, the workspace's channels and label names, the workspace's name)."""
    in_window = _in_window(workspace.id, window)
    post_ids = select(Post.id).where(*in_window).scalar_subquery()
    variants = Variant.post_id.in_(post_ids)
    of_workspace_labels = Label.workspace_id == workspace.id
    values = [
        select(func.count()).select_from(Post).where(*in_window),
        select(func.max(Post.updated_at)).where(*in_window),
        select(func.count()).select_from(Variant).where(variants),
        select(func.max(Variant.updated_at)).where(variants),
        select(func.count()).select_from(post_label).where(post_label.c.post_id.in_(post_ids)),
        select(func.count()).select_from(Label).where(of_workspace_labels),
        select(func.max(Label.updated_at)).where(of_workspace_labels),
        select(func.max(Channel.updated_at)).where(Channel.workspace_id == workspace.id),
    ]
    row = (await db.execute(select(*(value.scalar_subquery() for value in values)))).one()
    parts = [
        base_url,
        window.start.isoformat(),
        str(workspace.updated_at),
        workspace.name,
        *(str(value) for value in row),
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _zone(name: str) -> ZoneInfo | None:
    """The post's zone, or None where UTC will do (UTC itself, or a name zoneinfo
    no longer knows)."""
    if name in _UTC_NAMES or not is_valid_zone(name):
        return None
    return ZoneInfo(name)


def ical_time(instant: datetime, zone: ZoneInfo | None) -> datetime:
    """The instant as the post's wall time in its zone when that wall time names it
    unambiguously, else in UTC (a TZID time in a fall-back hour means its first
    occurrence)."""
    instant = instant.astimezone(UTC)
    if zone is None:
        return instant
    local = instant.astimezone(zone)
    if local.replace(fold=0).astimezone(UTC) != instant:
        return instant
    return local


def _status_text(status: PostStatus) -> str:
    return status.value.replace("_", " ")


@dataclass(frozen=True)
class _Copy:
    channel: str
    network: str
    due_at: datetime | None


def _description(
    status: PostStatus,
    copies: list[_Copy],
    post_due: datetime,
    zone: ZoneInfo | None,
    body: str,
    link: str,
) -> str:
    lines = [f"Status: {_status_text(status)}"]
    if copies:
        parts = []
        for copy in copies:
            part = f"{copy.channel} ({copy.network})"
            if copy.due_at is not None and copy.due_at != post_due:
                own = copy.due_at.astimezone(zone or UTC)
                part += f" at {own:%Y-%m-%d %H:%M} {own.tzname()}"
            parts.append(part)
        lines.append("Networks: " + ", ".join(parts))
    else:
        lines.append("Networks: none yet")
    excerpt = _clean(body).strip()
    if len(excerpt) > EXCERPT_LENGTH:
        excerpt = excerpt[:EXCERPT_LENGTH].rstrip() + "…"
    if excerpt:
        lines += ["", excerpt]
    lines += ["", f"Open in Almanac: {link}"]
    return "\n".join(lines)


async def render_feed(
    db: AsyncSession, workspace: Workspace, window: Window, base_url: str
) -> bytes:
    """The workspace's dated posts in the window as an iCalendar document."""
    base_url = base_url.rstrip("/")
    host = urlsplit(base_url).hostname or "almanac"
    in_window = _in_window(workspace.id, window)
    post_ids = select(Post.id).where(*in_window).scalar_subquery()
    posts = (
        await db.execute(
            select(
                Post.id,
                Post.title,
                Post.body,
                Post.status,
                Post.timezone,
                Post.due_at,
                Post.created_at,
                Post.updated_at,
                Post.version,
            )
            .where(*in_window)
            .order_by(Post.due_at, Post.id)
        )
    ).all()
    copies: dict[uuid.UUID, list[_Copy]] = defaultdict(list)
    for post_id, name, network, due_at in await db.execute(
        select(Variant.post_id, Channel.name, Channel.network, Variant.due_at)
        .join(Channel, Channel.id == Variant.channel_id)
        .where(Variant.post_id.in_(post_ids))
        .order_by(Channel.network, Channel.name, Channel.id)
    ):
        copies[post_id].append(_Copy(name, str(network), due_at))
    labels: dict[uuid.UUID, list[str]] = defaultdict(list)
    for post_id, name in await db.execute(
        select(post_label.c.post_id, Label.name)
        .join(Label, Label.id == post_label.c.label_id)
        .where(post_label.c.post_id.in_(post_ids))
        .order_by(Label.name)
    ):
        labels[post_id].append(name)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    name = f"Almanac – {_clean(workspace.name)}"
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", workspace.timezone)
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")  # Outlook's name for REFRESH-INTERVAL

    for post in posts:
        zone = _zone(post.timezone)
        link = f"{base_url}/posts/{post.id}"
        event = Event()
        event.add("uid", f"{post.id}@{host}")
        event.add("dtstamp", post.updated_at.astimezone(UTC))
        event.add("created", post.created_at.astimezone(UTC))
        event.add("last-modified", post.updated_at.astimezone(UTC))
        event.add("sequence", max(post.version - 1, 0))
        event.add("dtstart", ical_time(post.due_at, zone))
        event.add("dtend", ical_time(post.due_at + EVENT_LENGTH, zone))
        event.add("summary", _clean(post.title).strip() or "Untitled post")
        event.add(
            "description",
            _description(post.status, copies.get(post.id, []), post.due_at, zone, post.body, link),
        )
        event.add("status", "CONFIRMED" if post.status is PostStatus.approved else "TENTATIVE")
        event.add("transp", "TRANSPARENT")  # a post does not make anyone busy
        event.add("url", link)
        if labels.get(post.id):
            event.add("categories", [_clean(label) for label in labels[post.id]])
        calendar.add_component(event)

    # VTIMEZONE components for every TZID used, covering the window (one day either side).
    calendar.add_missing_timezones(
        first_date=(window.start - timedelta(days=1)).date(),
        last_date=(window.end + timedelta(days=1)).date(),
    )
    return calendar.to_ical()
