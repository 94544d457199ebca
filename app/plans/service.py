"""Plans: the rules, the report and the duplication, once.

- A plan is a month or a quarter of a workspace. Plans of one kind never overlap
  (periods are calendar-aligned, so that is one plan per kind and period; the
  unique key settles races); a month plan may sit inside a quarter plan.
- Themes are per ISO week touching the period; cadence targets are posts per week
  per network; mix targets are percent of the plan's posts per label of the
  workspace, at most 100 in all. Every broken rule is answered at once, one error
  per field (422).
- A post of a plan lies inside its period (by its local date), so a period change
  that would leave some outside is refused, naming how many.
- Deleting a plan detaches its posts (the foreign key sets their plan to NULL).
- Duplicating a plan copies it into another period of the same kind and its
  posts as unapproved drafts, moved by whole weeks: weekdays and local wall times
  stay, UTC times are derived again (a copy landing in a DST gap moves forward by
  the gap and is reported).

Services flush; the request commits.
"""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from fastapi import Request
from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from app.audit.service import record
from app.errors import Conflict, Invalid
from app.models import (
    Channel,
    Label,
    Plan,
    PlanKind,
    Post,
    PostStatus,
    User,
    Variant,
    Workspace,
    post_label,
)
from app.networks.base import Network
from app.plans.periods import (
    Period,
    PeriodError,
    normalize_week,
    parse_period,
    shift_week,
    week_days_in,
    week_monday,
    weeks_between,
    weeks_touching,
)
from app.plans.schemas import (
    CadenceCell,
    DuplicateNote,
    DuplicateResult,
    LabelMix,
    PlanCreate,
    PlanDuplicate,
    PlanRead,
    PlanReport,
    PlanUpdate,
    ReportTotals,
    ReportWeek,
    Theme,
)
from app.posts.content import content_hash, effective_content
from app.posts.deliveries import sync_deliveries
from app.timeutil import AmbiguousLocalTime, NonexistentLocalTime, to_utc, zone

TARGET = "plan"
NETWORK_VALUES = frozenset(network.value for network in Network)
NETWORKS = ", ".join(network.value for network in Network)


def _error(field_name: str, message: str) -> dict[str, Any]:
    return {"field": field_name, "network": None, "message": message}


# -- reading ------------------------------------------------------------------------------


def period_of(plan: Plan) -> Period:
    return parse_period(plan.period, plan.kind)


async def post_counts(
    db: AsyncSession, plan_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per plan: (dated posts, ideas)."""
    if not plan_ids:
        return {}
    is_idea = Post.status == PostStatus.idea
    rows = await db.execute(
        select(
            Post.plan_id,
            func.sum(case((is_idea, 0), else_=1)),
            func.sum(case((is_idea, 1), else_=0)),
        )
        .where(Post.plan_id.in_(plan_ids))
        .group_by(Post.plan_id)
    )
    return {plan_id: (int(posts or 0), int(ideas or 0)) for plan_id, posts, ideas in rows.all()}


def to_read(plan: Plan, counts: tuple[int, int] = (0, 0)) -> PlanRead:
    return PlanRead(
        id=plan.id,
        workspace_id=plan.workspace_id,
        kind=plan.kind,
        period=plan.period,
        starts_on=plan.starts_on,
        ends_on=plan.ends_on,
        title=plan.title,
        goals=plan.goals or "",
        themes=[Theme(**theme) for theme in plan.themes or []],
        cadence_targets=plan.cadence_targets or {},
        mix_targets=plan.mix_targets or {},
        posts=counts[0],
        ideas=counts[1],
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


async def read_plan(db: AsyncSession, plan: Plan) -> PlanRead:
    counts = await post_counts(db, [plan.id])
    return to_read(plan, counts.get(plan.id, (0, 0)))


async def list_plans(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    kind: PlanKind | None = None,
    from_: date | None = None,
    to: date | None = None,
) -> list[PlanRead]:
    """Plans by start, quarters before the months inside them; with ``from_``/``to``,
    only those whose period overlaps that range."""
    if from_ is not None and to is not None and from_ > to:
        raise Invalid(
            f"'from' ({from_}) comes after 'to' ({to}); give the range in order.",
            errors=[_error("from", "must not come after 'to'")],
        )
    query = select(Plan).where(Plan.workspace_id == workspace_id)
    if kind is not None:
        query = query.where(Plan.kind == kind)
    if from_ is not None:
        query = query.where(Plan.ends_on >= from_)
    if to is not None:
        query = query.where(Plan.starts_on <= to)
    query = query.order_by(Plan.starts_on, Plan.kind.desc(), Plan.created_at)
    plans = list((await db.scalars(query)).all())
    counts = await post_counts(db, [plan.id for plan in plans])
    return [to_read(plan, counts.get(plan.id, (0, 0))) for plan in plans]


# -- rules ----------------------------------------------------------------------------------


async def _content_errors(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    period: Period,
    *,
    themes: list[Theme] | None,
    cadence: dict[str, int] | None,
    mix: dict[str, int] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]] | None, dict[str, int] | None]:
    """Errors of themes/cadence/mix against the period and the workspace, and the
    normalised themes and mix (``None`` where not given)."""
    errors: list[dict[str, Any]] = []
    normalised_themes: list[dict[str, str]] | None = None
    if themes is not None:
        touching = set(weeks_touching(period))
        normalised_themes = []
        seen: set[str] = set()
        for n, theme in enumerate(themes):
            where = f"themes.{n}.week"
            try:
                week = normalize_week(theme.week)
            except PeriodError as exc:
                errors.append(_error(where, str(exc)))
                continue
            if week not in touching:
                first, last = min(touching), max(touching)
                errors.append(
                    _error(
                        where,
                        f"{week} does not touch {period.key} (its weeks are {first} to {last})",
                    )
                )
            elif week in seen:
                errors.append(_error(where, f"{week} already has a theme; one theme per week"))
            seen.add(week)
            normalised_themes.append({"week": week, "theme": theme.theme})
        normalised_themes.sort(key=lambda item: item["week"])
    if cadence is not None:
        for network in cadence:
            if network not in NETWORK_VALUES:
                errors.append(
                    _error(
                        f"cadence_targets.{network}",
                        f"'{network}' is not a network Almanac knows ({NETWORKS})",
                    )
                )
    normalised_mix: dict[str, int] | None = None
    if mix is not None:
        normalised_mix = {}
        ids: dict[str, uuid.UUID] = {}
        for key in mix:
            try:
                ids[key] = uuid.UUID(key)
            except ValueError:
                errors.append(_error(f"mix_targets.{key}", f"'{key}' is not a label id"))
        known = set()
        if ids:
            known = set(
                (
                    await db.scalars(
                        select(Label.id).where(
                            Label.workspace_id == workspace_id, Label.id.in_(set(ids.values()))
                        )
                    )
                ).all()
            )
        for key, label_id in ids.items():
            if label_id not in known:
                errors.append(
                    _error(f"mix_targets.{key}", "no label of this workspace has this id")
                )
            else:
                normalised_mix[str(label_id)] = mix[key]
        total = sum(mix.values())
        if total > 100:
            errors.append(
                _error(
                    "mix_targets",
                    f"the percentages add up to {total}; they may add up to 100 at most",
                )
            )
    return errors, normalised_themes, normalised_mix


def _refuse(errors: list[dict[str, Any]]) -> Invalid:
    first = f"{errors[0]['field']}: {errors[0]['message']}"
    more = len(errors) - 1
    if more == 0:
        detail = f"This plan cannot be saved: {first}."
    else:
        problems = "problem" if more == 1 else "problems"
        detail = f"This plan cannot be saved: {first}; and {more} more {problems} (see errors)."
    return Invalid(detail, errors=errors)


def _parse(period: str, kind: PlanKind) -> Period:
    try:
        return parse_period(period, kind)
    except PeriodError as exc:
        raise Invalid(str(exc), errors=[_error("period", str(exc))]) from None


async def _overlapping(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    period: Period,
    other_than: uuid.UUID | None = None,
) -> Plan | None:
    query = select(Plan).where(
        Plan.workspace_id == workspace_id,
        Plan.kind == period.kind,
        Plan.starts_on <= period.ends_on,
        Plan.ends_on >= period.starts_on,
    )
    if other_than is not None:
        query = query.where(Plan.id != other_than)
    return (await db.scalars(query.limit(1))).first()


def _overlap(existing: Plan | None, period: Period) -> Conflict:
    if existing is None:
        return Conflict(
            f"This workspace already has a {period.kind.value} plan for {period.key}; "
            "plans of one kind never overlap."
        )
    return Conflict(
        f"This workspace already has a {existing.kind.value} plan for {existing.period} "
        f"(“{existing.title}”, id {existing.id}); plans of one kind never overlap."
    )


async def _flush_plan(db: AsyncSession, workspace_id: uuid.UUID, period: Period) -> None:
    # Two requests may create the same period at once: the unique key decides.
    try:
        await db.flush()
    except IntegrityError:
        raise _overlap(None, period) from None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time())


def _inside(period: Period) -> ColumnElement[bool]:
    """The post's local date lies inside the period."""
    return and_(
        Post.local_at >= _day_start(period.starts_on),
        Post.local_at < _day_start(period.ends_on + timedelta(days=1)),
    )


# -- writing -------------------------------------------------------------------------------


async def create_plan(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    data: PlanCreate,
    actor: User,
    request: Request | None = None,
) -> Plan:
    period = _parse(data.period, data.kind)
    errors, themes, mix = await _content_errors(
        db,
        workspace_id,
        period,
        themes=data.themes,
        cadence=data.cadence_targets,
        mix=data.mix_targets,
    )
    if errors:
        raise _refuse(errors)
    existing = await _overlapping(db, workspace_id, period)
    if existing is not None:
        raise _overlap(existing, period)
    plan = Plan(
        workspace_id=workspace_id,
        kind=period.kind,
        period=period.key,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        title=data.title,
        goals=data.goals,
        themes=themes or [],
        cadence_targets=dict(data.cadence_targets),
        mix_targets=mix or {},
    )
    db.add(plan)
    await _flush_plan(db, workspace_id, period)
    await record(
        db,
        action="plan.created",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=plan.id,
        data={"kind": plan.kind.value, "period": plan.period, "title": plan.title},
    )
    return plan


async def update_plan(
    db: AsyncSession,
    plan: Plan,
    *,
    data: PlanUpdate,
    actor: User,
    request: Request | None = None,
) -> Plan:
    sent = data.model_fields_set
    for name in ("title", "period"):
        if name in sent and getattr(data, name) is None:
            raise Invalid(
                f"'{name}' cannot be empty.", errors=[_error(name, "a value is required")]
            )
    period = period_of(plan)
    if data.period is not None:
        period = _parse(data.period, plan.kind)
    moved = period.key != plan.period
    # A new period re-checks the themes kept (the ones sent are checked anyway).
    themes_in = data.themes
    if themes_in is None and moved:
        themes_in = [Theme(**theme) for theme in plan.themes or []]
    errors, themes, mix = await _content_errors(
        db,
        plan.workspace_id,
        period,
        themes=themes_in,
        cadence=data.cadence_targets,
        mix=data.mix_targets,
    )
    if moved:
        outside = await db.scalar(
            select(func.count())
            .select_from(Post)
            .where(Post.plan_id == plan.id, Post.local_at.is_not(None), ~_inside(period))
        )
        if outside:
            what = "post of this plan lies" if outside == 1 else "posts of this plan lie"
            errors.insert(
                0,
                _error(
                    "period",
                    f"{outside} {what} outside {period.key}; move them or take them out of "
                    "the plan first",
                ),
            )
    if errors:
        raise _refuse(errors)
    changed: list[str] = []
    if moved:
        existing = await _overlapping(db, plan.workspace_id, period, other_than=plan.id)
        if existing is not None:
            raise _overlap(existing, period)
        plan.period, plan.starts_on, plan.ends_on = period.key, period.starts_on, period.ends_on
        changed.append("period")
    if data.title is not None and data.title != plan.title:
        plan.title = data.title
        changed.append("title")
    if data.goals is not None and data.goals != plan.goals:
        plan.goals = data.goals
        changed.append("goals")
    if themes is not None and themes != plan.themes:
        plan.themes = themes
        changed.append("themes")
    if data.cadence_targets is not None and data.cadence_targets != plan.cadence_targets:
        plan.cadence_targets = dict(data.cadence_targets)
        changed.append("cadence_targets")
    if mix is not None and mix != plan.mix_targets:
        plan.mix_targets = mix
        changed.append("mix_targets")
    if changed:
        await _flush_plan(db, plan.workspace_id, period)
        await record(
            db,
            action="plan.updated",
            actor=actor,
            request=request,
            workspace_id=plan.workspace_id,
            target_type=TARGET,
            target_id=plan.id,
            data={"fields": changed, "period": plan.period},
        )
    return plan


async def delete_plan(
    db: AsyncSession, plan: Plan, *, actor: User, request: Request | None = None
) -> None:
    """Its posts stay, without a plan (the foreign key sets theirs to NULL)."""
    posts = await db.scalar(select(func.count()).select_from(Post).where(Post.plan_id == plan.id))
    await record(
        db,
        action="plan.deleted",
        actor=actor,
        request=request,
        workspace_id=plan.workspace_id,
        target_type=TARGET,
        target_id=plan.id,
        data={"period": plan.period, "title": plan.title, "posts_detached": posts or 0},
    )
    await db.delete(plan)
    await db.flush()


# -- report ---------------------------------------------------------------------------------


def _bucket(column: Any, bounds: list[Any]) -> Any:
    """Index ``i`` of the range ``bounds[i] <= column < bounds[i + 1]`` holding the
    value, NULL outside them: a day or week number computed by the database."""
    return case(
        *(
            (and_(column >= low, column < high), index)
            for index, (low, high) in enumerate(pairwise(bounds))
        ),
        else_=None,
    )


async def report(db: AsyncSession, plan: Plan, workspace: Workspace) -> PlanReport:
    """Planned against target, counted by the database: variants per ISO week ×
    network (by the post's local date), the label mix, and the days of the period
    (in the workspace's zone) with nothing planned."""
    period = period_of(plan)
    weeks = weeks_touching(period)
    week_bounds = [_day_start(week_monday(week)) for week in weeks]
    week_bounds.append(week_bounds[-1] + timedelta(weeks=1))
    planned_post = and_(
        Post.plan_id == plan.id, Post.status != PostStatus.idea, Post.local_at.is_not(None)
    )

    # Variants per week × network, inside the period.
    per_variant = (
        select(_bucket(Post.local_at, week_bounds).label("week"), Channel.network.label("network"))
        .select_from(Variant)
        .join(Post, Post.id == Variant.post_id)
        .join(Channel, Channel.id == Variant.channel_id)
        .where(planned_post, _inside(period))
        .subquery()
    )
    rows = await db.execute(
        select(per_variant.c.week, per_variant.c.network, func.count()).group_by(
            per_variant.c.week, per_variant.c.network
        )
    )
    planned: dict[tuple[int, str], int] = {}
    for week_index, network, count in rows.all():
        if week_index is not None:
            planned[(int(week_index), str(network))] = count

    cadence: dict[str, int] = plan.cadence_targets or {}
    networks = sorted(set(cadence) | {network for _, network in planned})
    themes = {theme["week"]: theme["theme"] for theme in plan.themes or []}
    report_weeks: list[ReportWeek] = []
    for index, week in enumerate(weeks):
        cells = [
            CadenceCell(
                network=network,
                planned=planned.get((index, network), 0),
                target=cadence.get(network),
            )
            for network in networks
        ]
        report_weeks.append(
            ReportWeek(
                week=week,
                days_in_period=week_days_in(week, period),
                theme=themes.get(week),
                networks=cells,
                planned=sum(cell.planned for cell in cells),
                target=sum(cadence.values()) if cadence else None,
            )
        )

    # Posts and ideas, inside and outside the period.
    counts = (
        await db.execute(
            select(
                func.sum(case((and_(planned_post, _inside(period)), 1), else_=0)),
                func.sum(case((and_(planned_post, ~_inside(period)), 1), else_=0)),
                func.sum(case((Post.status == PostStatus.idea, 1), else_=0)),
            ).where(Post.plan_id == plan.id)
        )
    ).one()
    posts, outside, ideas = (int(value or 0) for value in counts)

    # Label mix: the share of the plan's posts carrying each label.
    label_rows = await db.execute(
        select(Label.id, Label.name, Label.color, func.count(post_label.c.post_id))
        .select_from(post_label)
        .join(Post, Post.id == post_label.c.post_id)
        .join(Label, Label.id == post_label.c.label_id)
        .where(planned_post, _inside(period))
        .group_by(Label.id, Label.name, Label.color)
    )
    actual = {label_id: (name, color, count) for label_id, name, color, count in label_rows.all()}
    targets = {uuid.UUID(key): value for key, value in (plan.mix_targets or {}).items()}
    missing = set(targets) - set(actual)
    if missing:
        for label_id, name, color in (
            await db.execute(select(Label.id, Label.name, Label.color).where(Label.id.in_(missing)))
        ).all():
            actual[label_id] = (name, color, 0)
    mix = [
        LabelMix(
            label_id=label_id,
            name=name,
            color=color,
            posts=count,
            actual_percent=round(100 * count / posts, 1) if posts else 0.0,
            target_percent=targets.get(label_id),
        )
        for label_id, (name, color, count) in actual.items()
    ]
    mix.sort(
        key=lambda item: (
            item.target_percent is None,
            -(item.target_percent or 0),
            -item.posts,
            item.name or "",
        )
    )

    # Days with nothing planned, in the workspace's zone.
    tz = zone(workspace.timezone)
    days = period.dates()
    day_bounds = [
        datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
        for day in [*days, period.ends_on + timedelta(days=1)]
    ]
    busy_days = (
        select(_bucket(Post.due_at, day_bounds).label("day"))
        .where(planned_post, Post.due_at.is_not(None))
        .distinct()
        .subquery()
    )
    busy = {
        int(index)
        for index in (await db.scalars(select(busy_days.c.day))).all()
        if index is not None
    }
    empty = [day for index, day in enumerate(days) if index not in busy]

    by_network = [
        CadenceCell(
            network=network,
            planned=sum(planned.get((index, network), 0) for index in range(len(weeks))),
            target=cadence[network] * len(weeks) if network in cadence else None,
        )
        for network in networks
    ]
    return PlanReport(
        plan_id=plan.id,
        period=plan.period,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        timezone=workspace.timezone,
        weeks=report_weeks,
        label_mix=mix,
        empty_days=empty,
        totals=ReportTotals(
            posts=posts,
            ideas=ideas,
            variants=sum(planned.values()),
            target=sum(cadence.values()) * len(weeks) if cadence else None,
            by_network=by_network,
            days=len(days),
            empty_days=len(empty),
            outside_period=outside,
        ),
    )


# -- duplicate --------------------------------------------------------------------------------


@dataclass
class _Placed:
    local: datetime
    due: datetime
    fold: int
    warning: str | None = None


def place(local: datetime, zone_name: str, fold: int) -> _Placed:
    """A copy's wall time in its zone: kept as it is, except in a DST gap (it does
    not exist), where it moves forward by the gap, with a warning; an ambiguous one
    keeps the original's choice of occurrence."""
    try:
        return _Placed(local, to_utc(local, zone_name, None), 0)
    except NonexistentLocalTime as exc:
        tz = zone(zone_name)
        # fold=0 reads a gap time with the offset before the jump: the later wall time.
        due = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        moved = due.astimezone(tz).replace(tzinfo=None)
        reason = str(exc).split("; pick")[0]
        return _Placed(moved, due, 0, f"{reason}; the copy is set to {moved:%Y-%m-%d %H:%M}.")
    except AmbiguousLocalTime as exc:
        which = "second" if fold == 1 else "first"
        reason = str(exc).split("; choose")[0]
        return _Placed(
            local,
            to_utc(local, zone_name, fold),
            fold,
            f"{reason}; the copy takes the {which} occurrence.",
        )


@dataclass
class _Copying:
    shift: timedelta
    target: Period
    skipped: list[DuplicateNote] = field(default_factory=list)
    warnings: list[DuplicateNote] = field(default_factory=list)


def _copy_post(post: Post, new_plan: Plan, actor: User, job: _Copying) -> Post | None:
    note = {"post_id": post.id, "title": post.title}
    values: dict[str, Any] = {
        "workspace_id": post.workspace_id,
        "plan_id": new_plan.id,
        "author_id": actor.id,
        "title": post.title,
        "body": post.body,
        "media": copy.deepcopy(post.media or []),
        "link": post.link,
        "timezone": post.timezone,
    }
    if post.local_at is None:
        # An undated idea stays an undated idea of the new plan.
        new = Post(**values, status=PostStatus.idea, local_at=None, due_at=None, fold=0)
    else:
        local = post.local_at + job.shift
        if not job.target.contains(local.date()):
            job.skipped.append(
                DuplicateNote(
                    **note,
                    message=f"Moved by {job.shift.days // 7} weeks it would fall on "
                    f"{local:%A %Y-%m-%d}, outside {job.target.key}; not copied.",
                )
            )
            return None
        placed = place(local, post.timezone, post.fold)
        if placed.warning:
            job.warnings.append(DuplicateNote(**note, message=placed.warning))
        new = Post(
            **values,
            status=PostStatus.draft,
            local_at=placed.local,
            due_at=placed.due,
            fold=placed.fold,
        )
    new.variants = []
    for variant in post.variants:
        own_local = own_due = None
        if variant.local_at is not None and post.local_at is not None:
            own = place(variant.local_at + job.shift, post.timezone, post.fold)
            own_local, own_due = own.local, own.due
            if own.warning:
                job.warnings.append(
                    DuplicateNote(
                        **note, message=f"Variant for channel {variant.channel_id}: {own.warning}"
                    )
                )
        media = copy.deepcopy(variant.media) if variant.media is not None else None
        new.variants.append(
            Variant(
                channel_id=variant.channel_id,
                text=variant.text,
                media=media,
                link=variant.link,
                local_at=own_local,
                due_at=own_due,
                content_hash=content_hash(
                    effective_content(
                        base_text=new.body,
                        base_media=new.media,
                        base_link=new.link,
                        text=variant.text,
                        media=media,
                        link=variant.link,
                    )
                ),
                approved_hash=None,
            )
        )
    return new


async def duplicate_plan(
    db: AsyncSession,
    plan: Plan,
    *,
    data: PlanDuplicate,
    actor: User,
    request: Request | None = None,
) -> DuplicateResult:
    source = period_of(plan)
    target = _parse(data.period, plan.kind)
    existing = await _overlapping(db, plan.workspace_id, target)
    if existing is not None:
        raise _overlap(existing, target)
    weeks = weeks_between(source, target)
    job = _Copying(shift=timedelta(weeks=weeks), target=target)

    touching = set(weeks_touching(target))
    themes: list[dict[str, str]] = []
    for theme in plan.themes or []:
        week = shift_week(theme["week"], weeks)
        if week in touching:
            themes.append({"week": week, "theme": theme["theme"]})
        else:
            job.warnings.append(
                DuplicateNote(
                    post_id=None,
                    title=None,
                    message=f"The theme of {theme['week']} (“{theme['theme']}”) would move to "
                    f"{week}, outside {target.key}; not copied.",
                )
            )
    new_plan = Plan(
        workspace_id=plan.workspace_id,
        kind=plan.kind,
        period=target.key,
        starts_on=target.starts_on,
        ends_on=target.ends_on,
        title=data.title or plan.title,
        goals=plan.goals,
        themes=themes,
        cadence_targets=copy.deepcopy(plan.cadence_targets or {}),
        mix_targets=copy.deepcopy(plan.mix_targets or {}),
    )
    db.add(new_plan)
    await _flush_plan(db, plan.workspace_id, target)

    posts = (
        await db.scalars(
            select(Post)
            .where(Post.plan_id == plan.id)
            .options(selectinload(Post.variants))
            .order_by(Post.local_at, Post.created_at, Post.id)
        )
    ).all()
    labels: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for post_id, label_id in (
        await db.execute(
            select(post_label.c.post_id, post_label.c.label_id)
            .join(Post, Post.id == post_label.c.post_id)
            .where(Post.plan_id == plan.id)
        )
    ).all():
        labels[post_id].append(label_id)

    copies: list[tuple[Post, Post]] = []
    for post in posts:
        new = _copy_post(post, new_plan, actor, job)
        if new is not None:
            db.add(new)
            copies.append((post, new))
    await db.flush()
    label_rows = [
        {"post_id": new.id, "label_id": label_id}
        for old, new in copies
        for label_id in labels.get(old.id, [])
    ]
    if label_rows:
        await db.execute(insert(post_label), label_rows)
    for _old, new in copies:
        await sync_deliveries(db, new)

    await record(
        db,
        action="plan.duplicated",
        actor=actor,
        request=request,
        workspace_id=plan.workspace_id,
        target_type=TARGET,
        target_id=new_plan.id,
        data={
            "from_plan": str(plan.id),
            "from_period": plan.period,
            "period": new_plan.period,
            "weeks_shifted": weeks,
            "posts_copied": len(copies),
            "posts_skipped": len(job.skipped),
        },
    )
    ideas = sum(1 for _, new in copies if new.status is PostStatus.idea)
    return DuplicateResult(
        plan=to_read(new_plan, (len(copies) - ideas, ideas)),
        weeks_shifted=weeks,
        posts_copied=len(copies),
        skipped=job.skipped,
        warnings=job.warnings,
    )


__all__ = [
    "create_plan",
    "delete_plan",
    "duplicate_plan",
    "list_plans",
    "place",
    "read_plan",
    "report",
    "update_plan",
]
