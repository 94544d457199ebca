"""The calendar pages of a workspace: month (the default), quarter, week and list.

Posts come from the calendar range query (:mod:`app.calendar.service`: its raw
rows, one statement) and are placed on days in the zone the reader chose
(``?tz=``, the workspace's by default). Filters (channel, network, status, label)
apply to that list. Moving a post is done by the page's script through the JSON
API (``PATCH .../posts/{id}`` with ``If-Match``), so its rules live in one place.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.calendar import service as calendar_service
from app.calendar.service import CalendarRow, CalendarRows
from app.channels import service as channel_service
from app.deps import SessionDep
from app.errors import Invalid
from app.labels import service as label_service
from app.models import PostStatus
from app.networks.base import Network
from app.plans import service as plan_service
from app.plans.periods import parse_period
from app.plans.schemas import PlanRead, PlanReport
from app.timeutil import LocalTimeError, zone
from app.web.workspace_frame import render_workspace

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.posts_read, page=True))]
View = Literal["month", "quarter", "week", "list"]

NETWORK_NAMES: dict[str, str] = {
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "x": "X",
    "linkedin": "LinkedIn",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "threads": "Threads",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "telegram": "Telegram",
    "discord": "Discord",
    "matrix": "Matrix",
    "webhook": "Webhook",
    "sandbox": "Sandbox",
}
STATUS_NAMES: dict[str, str] = {
    "idea": "Idea",
    "draft": "Draft",
    "in_review": "In review",
    "changes_requested": "Changes requested",
    "approved": "Approved",
}
# What the calendar shows once publishing started (app.calendar.service.shown_status).
SHOWN_NAMES: dict[str, str] = {
    **STATUS_NAMES,
    "publishing": "Publishing",
    "published": "Published",
    "partially_published": "Partially published",
    "failed": "Failed",
    "needs_attention": "Needs attention",
}
# The month grid shows this many posts a day, then "+K more" (to the week view).
CHIPS_PER_DAY = 5
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _bad(field_name: str, message: str) -> Invalid:
    return Invalid(
        f"{message[:1].upper()}{message[1:]}.",
        errors=[{"field": field_name, "network": None, "message": message}],
    )


def parse_month(text: str | None, today: date) -> date:
    """The first day of ``YYYY-MM`` (this month when not given)."""
    if not text:
        return today.replace(day=1)
    try:
        period = parse_period(text, "month")
    except ValueError:
        raise _bad("month", f"{text!r} is not a month such as 2026-12") from None
    return period.starts_on


def parse_day(text: str | None, today: date, field_name: str) -> date:
    if not text:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(field_name, f"{text!r} is not a date such as 2026-12-07") from None


def display_zone(tz: str | None, workspace_zone: str) -> tuple[str, ZoneInfo]:
    name = tz or workspace_zone
    try:
        return name, zone(name)
    except LocalTimeError as exc:
        raise _bad("tz", str(exc)) from None


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# -- view-models -------------------------------------------------------------------


@dataclass(frozen=True)
class LabelChip:
    name: str
    color: str


@dataclass(slots=True)
class Chip:
    """A post on the calendar."""

    id: str
    title: str
    # The workflow status, and what the calendar shows (the deliveries' outcome once
    # publishing started).
    status: str
    shown: str
    day: date
    time: str
    # The post's own wall time and zone (what a move keeps), and its version.
    local_at: str
    fold: int
    zone: str
    version: int
    networks: list[str]
    labels: list[LabelChip]

    @property
    def status_name(self) -> str:
        return SHOWN_NAMES.get(self.shown, self.shown)

    @property
    def network_names(self) -> str:
        return ", ".join(NETWORK_NAMES.get(n, n) for n in self.networks)


@dataclass
class Day:
    """A day of the month grid: its first chips (by time) and how many posts it has."""

    day: date
    in_month: bool
    today: bool
    chips: list[Chip] = field(default_factory=list)
    count: int = 0
    # Where the posts not shown as chips are: the week view, on this day.
    more_url: str | None = None

    @property
    def more(self) -> int:
        return self.count - len(self.chips)


@dataclass
class Week:
    week: str
    theme: str | None
    days: list[Day]


@dataclass(frozen=True)
class Filters:
    channel: uuid.UUID | None
    network: str | None
    status: str | None
    label: uuid.UUID | None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.channel, self.network, self.status, self.label))

    def query(self) -> dict[str, str]:
        values = {
            "channel": self.channel,
            "network": self.network,
            "status": self.status,
            "label": self.label,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Option:
    value: str
    label: str


# -- the posts of a range ----------------------------------------------------------


@dataclass(slots=True)
class Due:
    """A post of the range that passes the filters, on its day in the zone shown."""

    day: date
    row: CalendarRow
    range: CalendarRows
    tz: ZoneInfo

    @property
    def local(self) -> datetime:
        return datetime.fromisoformat(self.row.due_at).replace(tzinfo=UTC).astimezone(self.tz)


def _matches(row: CalendarRow, found: CalendarRows, filters: Filters) -> bool:
    if filters.status and row.status != filters.status:
        return False
    if filters.label and filters.label.hex not in (row.label_ids or "").split(","):
        return False
    if filters.channel or filters.network:
        copies = found.copies(row)
        if filters.channel and all(channel != filters.channel.hex for _, channel, _ in copies):
            return False
        if filters.network and all(network != filters.network for network, _, _ in copies):
            return False
    return True


async def load_posts(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    tz: ZoneInfo,
    first_day: date,
    last_day: date,
    filters: Filters,
) -> list[Due]:
    """The posts due from ``first_day`` to ``last_day`` (inclusive, in ``tz``) that
    pass the filters, soonest first (one query: the calendar range's rows).

    A post's day is found from its raw UTC text (``YYYY-MM-DD HH:MM:SS[.ffffff]``,
    which sorts as the instants do) among the days' starts in the same shape: a busy
    range is thousands of posts, and no time is parsed but those shown."""
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    starts = [datetime.combine(d, time(), tz).astimezone(UTC) for d in days]
    end = datetime.combine(last_day + timedelta(days=1), time(), tz).astimezone(UTC)
    # Midnights have no fraction of a second: without one, the text is a prefix of
    # the same instant with ".000000", so it still sorts first.
    start_texts = [f"{start:%Y-%m-%d %H:%M:%S}" for start in starts]
    found = await calendar_service.calendar_rows(db, workspace_id, starts[0], end)
    return [
        Due(days[bisect_right(start_texts, row.due_at) - 1], row, found, tz)
        for row in found.rows
        if _matches(row, found, filters)
    ]


def make_chip(due: Due, labels: dict[str, LabelChip]) -> Chip:
    """``labels``: label hex → its chip."""
    row, local = due.row, due.local
    return Chip(
        id=str(uuid.UUID(row.post_id)),
        title=row.title,
        status=row.status,
        shown=row.shown,
        day=local.date(),
        time=f"{local.hour:02d}:{local.minute:02d}",
        local_at=calendar_service.iso_time(row.local_at) if row.local_at else "",
        fold=row.fold,
        zone=row.timezone,
        version=row.version,
        networks=sorted({network for network, _, _ in due.range.copies(row)}),
        labels=[labels[i] for i in sorted((row.label_ids or "").split(",")) if i in labels],
    )


async def load_chips(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    tz: ZoneInfo,
    first_day: date,
    last_day: date,
    filters: Filters,
    labels: dict[str, LabelChip],
) -> list[Chip]:
    """Every post due from ``first_day`` to ``last_day`` as a chip (week and list views)."""
    posts = await load_posts(db, workspace_id, tz, first_day, last_day, filters)
    return [make_chip(due, labels) for due in posts]


def themes_by_week(plans: list[PlanRead]) -> dict[str, str]:
    """ISO week → theme; a month plan's theme wins over its quarter's."""
    found: dict[str, str] = {}
    for plan in sorted(plans, key=lambda p: p.kind == "month"):
        for theme in plan.themes:
            found[theme.week] = theme.theme
    return found


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# -- the page ----------------------------------------------------------------------


@router.get("/w/{workspace_id}", response_class=HTMLResponse)
async def workspace_home(workspace_id: uuid.UUID, member: PageReader) -> Response:
    """A workspace opens on its calendar."""
    return RedirectResponse(f"/w/{workspace_id}/calendar", status_code=303)


async def _filter_options(
    db: AsyncSession, member: Member
) -> tuple[list[Option], list[Option], list[Option], list[Option], dict[str, LabelChip]]:
    channels = await channel_service.list_channels(db, member.workspace.id)
    label_rows = await label_service.list_labels(db, member.workspace.id)
    labels = {label.id.hex: LabelChip(label.name, label.color) for label, _ in label_rows}
    channel_options = [
        Option(str(c.id), f"{c.name} ({NETWORK_NAMES.get(c.network, c.network)})") for c in channels
    ]
    used = sorted({c.network for c in channels})
    network_options = [Option(n, NETWORK_NAMES.get(n, n)) for n in used]
    status_options = [Option(s.value, STATUS_NAMES[s.value]) for s in PostStatus]
    label_options = [Option(str(uuid.UUID(k)), v.name) for k, v in labels.items()]
    return channel_options, network_options, status_options, label_options, labels


def _link(base: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{base}?{urlencode(kept)}" if kept else base


async def _report_summaries(
    db: AsyncSession, member: Member, plans: list[PlanRead], quarter: str
) -> list[tuple[PlanRead, PlanReport]]:
    """The quarter plan's report, or else its month plans' ones."""
    from app.models import Plan

    chosen = [p for p in plans if p.kind == "quarter" and p.period == quarter]
    if not chosen:
        chosen = [p for p in plans if p.kind == "month"]
    reports = []
    for plan in chosen:
        row = await db.get(Plan, plan.id)
        if row is not None:
            reports.append((plan, await plan_service.report(db, row, member.workspace)))
    return reports


@router.get("/w/{workspace_id}/calendar", response_class=HTMLResponse)
async def calendar_page(
    request: Request,
    member: PageReader,
    db: SessionDep,
    view: View = "month",
    month: Annotated[str | None, Query(max_length=7)] = None,
    week: Annotated[str | None, Query(max_length=10, description="Any day of the week.")] = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
    channel: uuid.UUID | None = None,
    network: Network | None = None,
    status: PostStatus | None = None,
    label: uuid.UUID | None = None,
) -> Response:
    """The workspace's posts on a calendar: month, quarter, week or list."""
    zone_name, tz_info = display_zone(tz, member.workspace.timezone)
    today = datetime.now(tz_info).date()
    filters = Filters(
        channel, network.value if network else None, status.value if status else None, label
    )
    channel_opts, network_opts, status_opts, label_opts, labels = await _filter_options(db, member)
    base = f"/w/{member.workspace.id}/calendar"
    keep = {"tz": tz, **filters.query()}
    context: dict[str, Any] = {
        "view": view,
        "zone_name": zone_name,
        "custom_zone": tz is not None,
        "filters": filters,
        "channel_options": channel_opts,
        "network_options": network_opts,
        "status_options": status_opts,
        "shown_options": [Option(value, name) for value, name in SHOWN_NAMES.items()],
        "label_options": label_opts,
        "network_names": NETWORK_NAMES,
        "weekdays": WEEKDAYS,
        "today": today,
        "view_links": {},
    }

    if view == "week":
        anchor = parse_day(week, today, "week")
        monday = anchor - timedelta(days=anchor.weekday())
        days = [monday + timedelta(days=i) for i in range(7)]
        chips = await load_chips(
            db, member.workspace.id, tz_info, days[0], days[-1], filters, labels
        )
        grid: dict[tuple[int, date], list[Chip]] = defaultdict(list)
        for chip in chips:
            grid[(int(chip.time[:2]), chip.day)].append(chip)
        plans = await plan_service.list_plans(db, member.workspace.id, from_=days[0], to=days[-1])
        context.update(
            days=days,
            hours=range(24),
            grid=grid,
            count=len(chips),
            theme=themes_by_week(plans).get(iso_week(monday)),
            title=f"Week {monday.isocalendar()[1]}, {monday:%-d %B %Y}",
            prev_url=_link(
                base, view="week", week=(monday - timedelta(days=7)).isoformat(), **keep
            ),
            next_url=_link(
                base, view="week", week=(monday + timedelta(days=7)).isoformat(), **keep
            ),
            anchor=monday.isoformat(),
        )
        month_first = monday.replace(day=1)
    elif view == "quarter":
        first = parse_month(month, today)
        q_first = date(first.year, (first.month - 1) // 3 * 3 + 1, 1)
        quarter = f"{q_first.year}-Q{(q_first.month - 1) // 3 + 1}"
        last = add_months(q_first, 3) - timedelta(days=1)
        posts = await load_posts(db, member.workspace.id, tz_info, q_first, last, filters)
        counts = Counter(due.day for due in posts)
        months = []
        for i in range(3):
            m_first = add_months(q_first, i)
            months.append((m_first, _month_weeks(m_first, today)))
        plans = await plan_service.list_plans(db, member.workspace.id, from_=q_first, to=last)
        context.update(
            months=months,
            counts=counts,
            count=len(posts),
            busiest=max(counts.values(), default=0),
            reports=await _report_summaries(db, member, plans, quarter),
            title=f"{quarter.replace('-', ' ')} ({q_first:%B} – {last:%B %Y})",
            prev_url=_link(base, view="quarter", month=f"{add_months(q_first, -3):%Y-%m}", **keep),
            next_url=_link(base, view="quarter", month=f"{add_months(q_first, 3):%Y-%m}", **keep),
            anchor=f"{q_first:%Y-%m}",
        )
        month_first = q_first
    elif view == "list":
        month_first = parse_month(month, today)
        last = add_months(month_first, 1) - timedelta(days=1)
        chips = await load_chips(
            db, member.workspace.id, tz_info, month_first, last, filters, labels
        )
        prev_m, next_m = add_months(month_first, -1), add_months(month_first, 1)
        context.update(
            chips=chips,
            count=len(chips),
            title=f"{month_first:%B %Y}",
            prev_url=_link(base, view=view, month=f"{prev_m:%Y-%m}", **keep),
            next_url=_link(base, view=view, month=f"{next_m:%Y-%m}", **keep),
            anchor=f"{month_first:%Y-%m}",
        )
    else:
        month_first = parse_month(month, today)
        last = add_months(month_first, 1) - timedelta(days=1)
        grid_start = month_first - timedelta(days=month_first.weekday())
        grid_end = last + timedelta(days=6 - last.weekday())
        posts = await load_posts(db, member.workspace.id, tz_info, grid_start, grid_end, filters)
        plans = await plan_service.list_plans(
            db, member.workspace.id, from_=grid_start, to=grid_end
        )
        weeks = _month_weeks(month_first, today, themes_by_week(plans))
        days = fill_days(weeks, posts, labels)
        for day in days:
            if day.more:
                iso = day.day.isoformat()
                day.more_url = f"{_link(base, view='week', week=iso, **keep)}#day-{iso}"
        prev_m, next_m = add_months(month_first, -1), add_months(month_first, 1)
        context.update(
            weeks=weeks,
            count=sum(day.count for day in days if day.in_month),
            plans=[p for p in plans if p.kind == "month" and p.period == f"{month_first:%Y-%m}"],
            title=f"{month_first:%B %Y}",
            prev_url=_link(base, view=view, month=f"{prev_m:%Y-%m}", **keep),
            next_url=_link(base, view=view, month=f"{next_m:%Y-%m}", **keep),
            anchor=f"{month_first:%Y-%m}",
        )
    context["view_links"] = {
        "month": _link(base, view="month", month=f"{month_first:%Y-%m}", **keep),
        "week": _link(
            base,
            view="week",
            week=(
                today if month_first <= today < add_months(month_first, 1) else month_first
            ).isoformat(),
            **keep,
        ),
        "quarter": _link(base, view="quarter", month=f"{month_first:%Y-%m}", **keep),
        "list": _link(base, view="list", month=f"{month_first:%Y-%m}", **keep),
    }
    context["today_url"] = _link(base, view=view, **keep)
    context["new_post_url"] = f"/w/{member.workspace.id}/posts/new"
    template = {
        "month": "calendar_month.html",
        "list": "calendar_list.html",
        "week": "calendar_week.html",
        "quarter": "calendar_quarter.html",
    }[view]
    return await render_workspace(request, db, member, template, context)


def _month_weeks(first: date, today: date, themes: dict[str, str] | None = None) -> list[Week]:
    """The weeks (Monday to Sunday) that show the month ``first`` starts, without posts."""
    last = add_months(first, 1) - timedelta(days=1)
    day = first - timedelta(days=first.weekday())
    weeks = []
    while day <= last:
        days = [
            Day(d, d.month == first.month, d == today)
            for d in (day + timedelta(days=i) for i in range(7))
        ]
        label = iso_week(day)
        weeks.append(Week(label, (themes or {}).get(label), days))
        day += timedelta(days=7)
    return weeks


def fill_days(weeks: list[Week], posts: list[Due], labels: dict[str, LabelChip]) -> list[Day]:
    """Counts every post on its day but makes chips of only the first
    :data:`CHIPS_PER_DAY` (``posts`` come soonest first): a busy month has thousands,
    which no one reads in a grid and which made the page megabytes long."""
    days = {day.day: day for week in weeks for day in week.days}
    for due in posts:
        day = days.get(due.day)
        if day is None:  # not in the grid (the range is the grid's days; defensive)
            continue
        day.count += 1
        if len(day.chips) < CHIPS_PER_DAY:
            day.chips.append(make_chip(due, labels))
    return list(days.values())
