"""Posts and their variants: the rules, once.

Every write goes through one path, :func:`save`: the caller describes the post as
it should be (a :class:`PostState`), and ``save`` checks it (labels, plan, media
and channels of this workspace; local time; the plan-period rule; every variant
against its network's rules), writes it, bumps the post's version, recomputes the
variants' ``content_hash`` and records a revision of what changed. Creating,
patching, putting or deleting a variant and restoring a revision are only
different ways of building the state.

Concurrency: a write names the version it read (``If-Match`` or ``version``);
a missing one is refused with 428, a stale one with 412 and the current
version. The post row is locked for the write (``FOR UPDATE`` on PostgreSQL;
SQLite write transactions are serialised already), and the mapper's version
column makes the UPDATE itself conditional, so two writers racing with the same
version get exactly one success.

Deliveries follow every save (:func:`app.posts.deliveries.sync_deliveries`: one
live delivery per variant of a dated post, moved with its time, canceled with its
variant). A variant whose delivery is being sent (``sending``) cannot be edited
(409): content is read at claim time.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.auth.deps import Member
from app.deliveries.wake import wake_dispatch
from app.errors import AppError, Conflict, Invalid, NotFound, PreconditionFailed
from app.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Label,
    Media,
    Plan,
    Post,
    PostStatus,
    Revision,
    Variant,
    post_label,
    utcnow,
)
from app.networks import rules
from app.networks.rules import Check, Level, MediaFacts
from app.posts.content import content_hash, effective_content
from app.posts.deliveries import sync_deliveries
from app.posts.schemas import (
    ChannelCheck,
    MeasureRead,
    MediaRef,
    NetworkNote,
    PostCreate,
    PostRead,
    PostSummary,
    PostUpdate,
    ValidateRequest,
    ValidateResult,
    VariantPut,
    VariantRead,
)
from app.timeutil import LocalTimeError, is_valid_zone, to_utc, zone

# Deliveries in these states pin their variant: being sent, or already out.
_PINNED = (DeliveryStatus.sending, DeliveryStatus.published, DeliveryStatus.uncertain)


class PreconditionRequired(AppError):
    status_code = 428


# -- versions ----------------------------------------------------------------------


def etag(post: Post) -> str:
    return f'W/"{post.version}"'


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def sent_version(if_match: str | None, body_version: int | None) -> int | None:
    """The version a write names: the ``If-Match`` header first, else the body's."""
    if if_match is not None:
        found = _ETAG.match(if_match)
        if found is None:
            raise Invalid(
                'If-Match must be the ETag read from the post, such as W/"3".',
                errors=[{"field": "If-Match", "network": None, "message": "not a post ETag"}],
            )
        return int(found.group(1))
    return body_version


def check_version(post: Post, version: int | None) -> None:
    if version is None:
        raise PreconditionRequired(
            "Say which version of the post you are changing: send the ETag you read as "
            "If-Match, or a version field, so that nobody's edit is overwritten silently.",
            errors=[{"field": "version", "network": None, "message": "missing"}],
        )
    if version != post.version:
        raise stale(post.version, version)


def stale(current: int, sent: int | None) -> PreconditionFailed:
    return PreconditionFailed(
        f"Someone else changed this post since you read it (you sent version {sent}, it is "
        f"now at version {current}). Reload it, re-apply your change and save again.",
        errors=[
            {
                "field": "version",
                "network": None,
                "message": f"The current version is {current}.",
                "current_version": current,
            }
        ],
        headers={"ETag": f'W/"{current}"'},
    )


# -- time --------------------------------------------------------------------------


def _invalid(field_name: str, message: str, detail: str | None = None) -> Invalid:
    return Invalid(
        detail or message[:1].upper() + message[1:] + ".",
        errors=[{"field": field_name, "network": None, "message": message}],
    )


def wall_time(
    value: datetime, zone_name: str, fold: int | None, field_name: str
) -> tuple[datetime, int]:
    """The wall time (naive) and fold to store for a time the user sent.

    A naive value is a wall time in the zone: refused inside a DST gap, and when it
    happens twice without ``fold``. A value with an offset is an instant: stored as
    the wall time it is in the zone, which also picks the occurrence of an
    ambiguous time (``02:30+01:00`` in Paris on 2026-10-25 is the second one).
    """
    if value.tzinfo is not None:
        local = value.astimezone(zone(zone_name))
        naive, chosen = local.replace(tzinfo=None), local.fold
    else:
        naive, chosen = value, fold
    naive = naive.replace(microsecond=0)
    try:
        to_utc(naive, zone_name, chosen)
        first = to_utc(naive, zone_name, 0)
        ambiguous = first != to_utc(naive, zone_name, 1)
    except LocalTimeError as exc:
        message = str(exc)
        if "happens twice" in message:
            message += ": send fold (0 = first, 1 = second) or the time with its UTC offset"
        raise _invalid(field_name, message) from None
    return naive, (chosen or 0) if ambiguous else 0


# -- state: what a post should look like ----------------------------------------------


@dataclass(frozen=True)
class VariantState:
    text: str | None = None
    media: list[dict[str, Any]] | None = None
    link: str | None = None
    local_at: datetime | None = None
    fold: int = 0


@dataclass(frozen=True)
class PostState:
    title: str
    body: str
    labels: list[uuid.UUID]
    plan_id: uuid.UUID | None
    media: list[dict[str, Any]]
    link: str | None
    local_at: datetime | None
    timezone: str
    fold: int
    status: PostStatus
    variants: dict[uuid.UUID, VariantState] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """JSON for revisions (ids as strings, times as ISO wall times)."""
        return {
            "title": self.title,
            "body": self.body,
            "labels": sorted(str(label) for label in self.labels),
            "plan_id": str(self.plan_id) if self.plan_id else None,
            "media": self.media,
            "link": self.link,
            "local_at": self.local_at.isoformat() if self.local_at else None,
            "timezone": self.timezone,
            "fold": self.fold,
            "status": self.status.value,
            "variants": {
                str(channel_id): {
                    "text": v.text,
                    "media": v.media,
                    "link": v.link,
                    "local_at": v.local_at.isoformat() if v.local_at else None,
                    "fold": v.fold,
                }
                for channel_id, v in sorted(self.variants.items(), key=lambda kv: str(kv[0]))
            },
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> PostState:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            title=data["title"],
            body=data["body"],
            labels=[uuid.UUID(label) for label in data["labels"]],
            plan_id=uuid.UUID(data["plan_id"]) if data["plan_id"] else None,
            media=data["media"],
            link=data["link"],
            local_at=when(data["local_at"]),
            timezone=data["timezone"],
            fold=data["fold"],
            status=PostStatus(data["status"]),
            variants={
                uuid.UUID(channel_id): VariantState(
                    text=v["text"],
                    media=v["media"],
                    link=v["link"],
                    local_at=when(v["local_at"]),
                    fold=v.get("fold", 0),
                )
                for channel_id, v in data["variants"].items()
            },
        )


def state_of(post: Post) -> PostState:
    """The state of a loaded post (variants and labels loaded)."""
    return PostState(
        title=post.title,
        body=post.body,
        labels=[label.id for label in post.labels],
        plan_id=post.plan_id,
        media=list(post.media or []),
        link=post.link,
        local_at=post.local_at,
        timezone=post.timezone,
        fold=post.fold,
        status=post.status,
        variants={
            v.channel_id: VariantState(
                text=v.text,
                media=None if v.media is None else list(v.media),
                link=v.link,
                local_at=v.local_at,
                fold=v.fold,
            )
            for v in post.variants
        },
    )


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    if before is None:
        return sorted(key for key in after if key != "variants")
    changed = [key for key in after if key != "variants" and before.get(key) != after[key]]
    old, new = before.get("variants", {}), after["variants"]
    for channel_id in sorted(set(old) | set(new)):
        if channel_id not in new or channel_id not in old:
            changed.append(f"variants.{channel_id}")
        else:
            changed += [
                f"variants.{channel_id}.{key}"
                for key in new[channel_id]
                if old[channel_id].get(key) != new[channel_id][key]
            ]
    return sorted(changed)


def _refs(refs: list[MediaRef] | None) -> list[dict[str, Any]] | None:
    if refs is None:
        return None
    return [{"media_id": str(ref.media_id), "alt": ref.alt} for ref in refs]


# -- loading -------------------------------------------------------------------------


def _post_query(workspace_id: uuid.UUID) -> Select[tuple[Post]]:
    return (
        select(Post)
        .where(Post.workspace_id == workspace_id)
        .options(selectinload(Post.variants), selectinload(Post.labels))
    )


async def get_post(
    db: AsyncSession, workspace_id: uuid.UUID, post_id: uuid.UUID, *, for_update: bool = False
) -> Post:
    query = _post_query(workspace_id).where(Post.id == post_id)
    if for_update:
        query = query.with_for_update(of=Post)
    post = (await db.scalars(query.execution_options(populate_existing=True))).first()
    if post is None:
        raise NotFound("No such post.")
    return post


async def _channels(db: AsyncSession, workspace_id: uuid.UUID) -> dict[uuid.UUID, Channel]:
    rows = await db.scalars(select(Channel).where(Channel.workspace_id == workspace_id))
    return {channel.id: channel for channel in rows}


# -- checking ------------------------------------------------------------------------


def _plan_span(plan: Plan) -> str:
    return f"{plan.title} ({plan.period}, {plan.starts_on:%Y-%m-%d} to {plan.ends_on:%Y-%m-%d})"


async def _check_references(
    db: AsyncSession, workspace_id: uuid.UUID, state: PostState, channels: dict[uuid.UUID, Channel]
) -> tuple[dict[str, Media], Plan | None, list[Label]]:
    errors: list[dict[str, Any]] = []

    labels: list[Label] = []
    if state.labels:
        labels = list(
            await db.scalars(
                select(Label).where(
                    Label.workspace_id == workspace_id, Label.id.in_(set(state.labels))
                )
            )
        )
        missing = set(state.labels) - {label.id for label in labels}
        for label_id in sorted(missing, key=str):
            errors.append(_err("labels", f"no label {label_id} in this workspace"))
    plan: Plan | None = None
    if state.plan_id is not None:
        plan = await db.get(Plan, state.plan_id)
        if plan is None or plan.workspace_id != workspace_id:
            errors.append(_err("plan_id", "no such plan in this workspace"))
            plan = None
    for channel_id in state.variants:
        if channel_id not in channels:
            errors.append(_err(f"channels.{channel_id}", "no such channel in this workspace"))

    media_ids: set[str] = {item["media_id"] for item in state.media}
    for variant in state.variants.values():
        media_ids |= {item["media_id"] for item in variant.media or []}
    media: dict[str, Media] = {}
    if media_ids:
        rows = await db.scalars(
            select(Media).where(
                Media.workspace_id == workspace_id,
                Media.id.in_([uuid.UUID(m) for m in media_ids]),
            )
        )
        media = {str(row.id): row for row in rows}
    for where, items in [("media", state.media)] + [
        (f"variants.{cid}.media", v.media or []) for cid, v in state.variants.items()
    ]:
        for index, item in enumerate(items):
            if item["media_id"] not in media:
                errors.append(
                    _err(f"{where}[{index}]", "no such media file in this workspace; upload it")
                )
    if errors:
        raise Invalid("Some of what this post refers to does not exist here.", errors=errors)
    return media, plan, labels


def _err(field_name: str, message: str, network: str | None = None) -> dict[str, Any]:
    return {"field": field_name, "network": network, "message": message}


def _facts(items: list[dict[str, Any]], media: dict[str, Media]) -> list[MediaFacts]:
    facts = []
    for item in items:
        row = media[item["media_id"]]
        facts.append(
            MediaFacts(
                mime_type=row.mime_type,
                size_bytes=row.size_bytes,
                width=row.width,
                height=row.height,
                duration_seconds=row.duration_seconds,
                video_codec=row.video_codec,
                alt=item.get("alt") or row.alt or "",
            )
        )
    return facts


def check_copy(
    channel: Channel,
    *,
    body: str,
    base_media: list[dict[str, Any]],
    base_link: str | None,
    variant: VariantState,
    media: dict[str, Media],
) -> Check:
    content = effective_content(
        base_text=body,
        base_media=base_media,
        base_link=base_link,
        text=variant.text,
        media=variant.media,
        link=variant.link,
    )
    return rules.check_content(
        channel.network,
        text=content.text,
        media=_facts(list(content.media), media),
        link=content.link,
        limits=channel.limits or None,
    )


def _notes(channel: Channel, check: Check) -> list[NetworkNote]:
    return [
        NetworkNote(
            channel_id=channel.id,
            network=v.network,
            level=v.level.value,
            field=v.field,
            message=v.message,
            count=v.count,
            limit=v.limit,
        )
        for v in check.verdicts
    ]


def _check_networks(
    state: PostState, channels: dict[uuid.UUID, Channel], media: dict[str, Media]
) -> list[NetworkNote]:
    """Every variant against its network: errors refuse the save (422), warnings are
    returned."""
    errors: list[dict[str, Any]] = []
    refused: list[str] = []
    warnings: list[NetworkNote] = []
    for channel_id, variant in state.variants.items():
        channel = channels[channel_id]
        check = check_copy(
            channel,
            body=state.body,
            base_media=state.media,
            base_link=state.link,
            variant=variant,
            media=media,
        )
        bad = [v for v in check.verdicts if v.level is Level.error]
        if bad:
            refused.append(f"{channel.name} ({channel.network.value})")
            errors += [v.as_error() for v in bad]
        warnings += [n for n in _notes(channel, check) if n.level == Level.warning.value]
    if errors:
        raise Invalid(
            f"The copy does not fit {', '.join(refused)}: {errors[0]['message']}"
            + ("" if len(errors) == 1 else f" (and {len(errors) - 1} more problem(s))"),
            errors=errors,
        )
    return warnings


def _check_time_and_plan(
    state: PostState,
    plan: Plan | None,
    *,
    time_changed: bool,
    plan_changed: bool,
) -> tuple[datetime | None, dict[uuid.UUID, datetime | None]]:
    """The UTC due times of the post and its variants; the plan-period rule."""
    if not is_valid_zone(state.timezone):
        raise _invalid("timezone", f"{state.timezone!r} is not an IANA time zone")
    if state.status is not PostStatus.idea and state.local_at is None:
        raise _invalid(
            "local_at",
            "a post needs a date and time; keep it as an idea (status idea) to leave it undated",
        )
    try:
        due_at = to_utc(state.local_at, state.timezone, state.fold) if state.local_at else None
    except LocalTimeError as exc:
        raise _invalid("local_at", str(exc)) from None
    variant_due: dict[uuid.UUID, datetime | None] = {}
    for channel_id, variant in state.variants.items():
        try:
            variant_due[channel_id] = (
                to_utc(variant.local_at, state.timezone, variant.fold) if variant.local_at else None
            )
        except LocalTimeError as exc:
            raise _invalid(f"variants.{channel_id}.local_at", str(exc)) from None
    if plan is not None and state.local_at is not None and (time_changed or plan_changed):
        day: date = state.local_at.date()
        if not plan.starts_on <= day <= plan.ends_on:
            if plan_changed:
                raise _invalid(
                    "plan_id",
                    f"the post's date {day:%Y-%m-%d} lies outside the plan {_plan_span(plan)}",
                )
            raise Invalid(
                f"Moving the post to {day:%Y-%m-%d} takes it out of its plan {_plan_span(plan)}. "
                "In the same request, detach it (plan_id null) or move it to another plan.",
                errors=[_err("local_at", f"{day:%Y-%m-%d} is outside the plan {_plan_span(plan)}")],
            )
    return due_at, variant_due


async def _refuse_pinned(db: AsyncSession, variant_ids: list[uuid.UUID]) -> None:
    if not variant_ids:
        return
    # FOR UPDATE (PostgreSQL): the scheduler's claim locks these rows too, so an edit
    # and a claim serialise: whichever comes second sees the other's outcome.
    rows = (
        await db.execute(
            select(Delivery.variant_id, Delivery.status)
            .where(
                Delivery.variant_id.in_(variant_ids),
                Delivery.status.in_((*_PINNED, DeliveryStatus.pending, DeliveryStatus.retrying)),
            )
            .with_for_update(of=Delivery)
        )
    ).all()
    pinned = next((row for row in rows if row.status in _PINNED), None)
    if pinned is not None:
        if pinned.status is DeliveryStatus.sending:
            raise Conflict(
                "This copy is being published right now, so it can no longer be changed; "
                "the other channels' copies can still be edited."
            )
        raise Conflict(
            f"This copy has already gone out (delivery {pinned.status.value}); it cannot "
            "be changed or removed here."
        )


# -- the one write path ----------------------------------------------------------------


@dataclass
class Saved:
    post: Post
    warnings: list[NetworkNote]
    revision: Revision | None


async def save(
    db: AsyncSession,
    member: Member,
    post: Post | None,
    state: PostState,
    *,
    action: str,
    plan_explicit: bool = False,
    restored_from: Revision | None = None,
) -> Saved:
    """Check ``state`` and write it over ``post`` (None: a new post)."""
    from app.approvals import service as approvals  # approvals builds on posts

    workspace_id = member.workspace.id
    before = state_of(post) if post is not None else None
    expected = post.version if post is not None else None
    before_snapshot = before.snapshot() if before is not None else None
    after_snapshot = state.snapshot()
    if before_snapshot == after_snapshot and post is not None:
        return Saved(post, [], None)  # nothing changed: no new version, no revision

    channels = await _channels(db, workspace_id)
    media, plan, labels = await _check_references(db, workspace_id, state, channels)
    time_changed = before is None or (
        (before.local_at, before.timezone, before.fold)
        != (state.local_at, state.timezone, state.fold)
    )
    plan_changed = before is None or before.plan_id != state.plan_id or plan_explicit
    due_at, variant_due = _check_time_and_plan(
        state, plan, time_changed=time_changed, plan_changed=plan_changed
    )
    warnings = _check_networks(state, channels, media)

    if post is None:
        post = Post(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            author_id=member.user.id,
            variants=[],
            labels=[],
        )
        db.add(post)
    post.title = state.title
    post.body = state.body
    post.media = state.media
    post.link = state.link
    post.plan_id = state.plan_id
    post.local_at = state.local_at
    post.timezone = state.timezone
    post.fold = state.fold
    post.due_at = due_at
    post.status = state.status
    if sorted(map(str, (label.id for label in post.labels))) != sorted(map(str, state.labels)):
        post.labels = labels

    # One flush, at the end: an autoflush in between would bump the version twice.
    with db.no_autoflush:
        existing = {variant.channel_id: variant for variant in post.variants}
        touched: list[uuid.UUID] = []
        for channel_id, variant in existing.items():
            if channel_id not in state.variants:
                touched.append(variant.id)
                post.variants.remove(variant)
        for channel_id, wanted in state.variants.items():
            new_hash = content_hash(
                effective_content(
                    base_text=state.body,
                    base_media=state.media,
                    base_link=state.link,
                    text=wanted.text,
                    media=wanted.media,
                    link=wanted.link,
                )
            )
            row = existing.get(channel_id)
            if row is None:
                row = Variant(id=uuid.uuid4(), channel_id=channel_id, content_hash=new_hash)
                post.variants.append(row)
            elif row.content_hash != new_hash or row.local_at != wanted.local_at:
                touched.append(row.id)
            row.text = wanted.text
            row.media = wanted.media
            row.link = wanted.link
            row.local_at = wanted.local_at
            row.fold = wanted.fold
            row.due_at = variant_due[channel_id]
            row.content_hash = new_hash
        await _refuse_pinned(db, touched)
        # Approval is of exact content: an edit may send an approved post back to review.
        approval_change = approvals.after_content_change(member, post)

    # The post row changes on every save, so its version moves even when only a
    # variant or a label did.
    post.updated_at = utcnow()
    try:
        await db.flush()
    except StaleDataError:
        current = await db.scalar(select(Post.version).where(Post.id == post.id))
        raise stale(current or 0, expected) from None
    await sync_deliveries(db, post)
    await approvals.announce_content_change(db, member, post, approval_change)
    if time_changed and post.status is PostStatus.approved:
        await wake_dispatch(db)  # moved earlier, perhaps to minutes from now
    after_snapshot["status"] = post.status.value

    revision = Revision(
        post_id=post.id,
        author_id=member.user.id,
        version=post.version,
        action=action,
        changed=changed_fields(before_snapshot, after_snapshot),
        before=before_snapshot,
        after=after_snapshot,
        restored_from_id=restored_from.id if restored_from else None,
    )
    db.add(revision)
    await db.flush()
    return Saved(post, warnings, revision)


# -- operations ------------------------------------------------------------------------


async def create_post(db: AsyncSession, member: Member, data: PostCreate) -> Saved:
    zone_name = data.timezone or member.workspace.timezone
    local_at, fold = (None, 0)
    if not is_valid_zone(zone_name):
        raise _invalid("timezone", f"{zone_name!r} is not an IANA time zone")
    if data.local_at is not None:
        local_at, fold = wall_time(data.local_at, zone_name, data.fold, "local_at")
    state = PostState(
        title=data.title,
        body=data.body,
        labels=list(dict.fromkeys(data.labels)),
        plan_id=data.plan_id,
        media=_refs(data.media) or [],
        link=data.link,
        local_at=local_at,
        timezone=zone_name,
        fold=fold,
        status=PostStatus(data.status),
        variants={channel_id: VariantState() for channel_id in dict.fromkeys(data.channels)},
    )
    return await save(db, member, None, state, action="created")


async def update_post(
    db: AsyncSession, member: Member, post: Post, data: PostUpdate, version: int | None
) -> Saved:
    check_version(post, version)
    sent = data.model_fields_set
    state = state_of(post)
    changes: dict[str, Any] = {}
    for name in ("title", "body", "link"):
        if name in sent:
            value = getattr(data, name)
            if name == "title" and value is None:
                raise _invalid("title", "a post needs a title")
            changes[name] = "" if (name == "body" and value is None) else value
    if "labels" in sent:
        changes["labels"] = list(dict.fromkeys(data.labels or []))
    if "plan_id" in sent:
        changes["plan_id"] = data.plan_id
    if "media" in sent:
        changes["media"] = _refs(data.media) or []
    if "status" in sent:
        if data.status is None:
            raise _invalid("status", "status must be idea or draft")
        if state.status not in (PostStatus.idea, PostStatus.draft):
            raise Conflict(
                f"This post is {state.status.value}: its workflow moves through submit, "
                "approve and withdraw, not through an edit."
            )
        changes["status"] = PostStatus(data.status)
    zone_name = data.timezone if "timezone" in sent and data.timezone else state.timezone
    if "timezone" in sent and not is_valid_zone(zone_name):
        raise _invalid("timezone", f"{zone_name!r} is not an IANA time zone")
    if sent & {"local_at", "timezone", "fold"}:
        local = data.local_at if "local_at" in sent else state.local_at
        if local is None:
            changes.update(local_at=None, fold=0, timezone=zone_name)
        else:
            fold = data.fold if "fold" in sent else None
            naive, fold = wall_time(local, zone_name, fold, "local_at")
            changes.update(local_at=naive, fold=fold, timezone=zone_name)
        # Variants with their own time keep their wall time in the (new) zone.
        if "timezone" in sent:
            variants = {}
            for channel_id, variant in state.variants.items():
                if variant.local_at is not None:
                    naive, vfold = wall_time(
                        variant.local_at, zone_name, None, f"variants.{channel_id}.local_at"
                    )
                    variant = replace(variant, local_at=naive, fold=vfold)
                variants[channel_id] = variant
            changes["variants"] = variants
    return await save(
        db,
        member,
        post,
        replace(state, **changes),
        action="updated",
        plan_explicit="plan_id" in sent,
    )


async def put_variant(
    db: AsyncSession,
    member: Member,
    post: Post,
    channel_id: uuid.UUID,
    data: VariantPut,
    version: int | None,
) -> Saved:
    check_version(post, version)
    channel = await db.get(Channel, channel_id)
    if channel is None or channel.workspace_id != member.workspace.id:
        raise NotFound("No such channel.")
    state = state_of(post)
    local_at, fold = None, 0
    if data.local_at is not None:
        local_at, fold = wall_time(data.local_at, state.timezone, data.fold, "local_at")
    variants = dict(state.variants)
    variants[channel_id] = VariantState(
        text=data.text, media=_refs(data.media), link=data.link, local_at=local_at, fold=fold
    )
    return await save(db, member, post, replace(state, variants=variants), action="variant")


async def delete_variant(
    db: AsyncSession, member: Member, post: Post, channel_id: uuid.UUID, version: int | None
) -> Saved:
    check_version(post, version)
    state = state_of(post)
    if channel_id not in state.variants:
        raise NotFound("This post has no copy for that channel.")
    variants = {cid: v for cid, v in state.variants.items() if cid != channel_id}
    return await save(db, member, post, replace(state, variants=variants), action="variant")


async def delete_post(db: AsyncSession, post: Post, version: int | None) -> None:
    check_version(post, version)
    await _refuse_pinned(db, [variant.id for variant in post.variants])
    expected = post.version
    await db.delete(post)
    try:
        await db.flush()
    except StaleDataError:
        raise stale(expected + 1, expected) from None


# -- reading ---------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def list_posts(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    status: PostStatus | None,
    channel_id: uuid.UUID | None,
    label_id: uuid.UUID | None,
    plan_id: uuid.UUID | None,
    limit: int,
    offset: int,
    undated: bool = False,
) -> tuple[list[Post], int]:
    """Posts by due time (undated ideas last). ``start``/``end`` are instants (naive ones
    are taken as UTC): due_at in [start, end). ``undated``: only the posts without a
    date (the idea backlog), newest first."""
    conditions = [Post.workspace_id == workspace_id]
    if undated:
        conditions.append(Post.due_at.is_(None))  # with local_at (a check constraint)
    if start is not None:
        conditions.append(Post.due_at >= _aware(start))
    if end is not None:
        conditions.append(Post.due_at < _aware(end))
    if status is not None:
        conditions.append(Post.status == status)
    if plan_id is not None:
        conditions.append(Post.plan_id == plan_id)
    if channel_id is not None:
        conditions.append(
            Post.id.in_(select(Variant.post_id).where(Variant.channel_id == channel_id))
        )
    if label_id is not None:
        conditions.append(
            Post.id.in_(select(post_label.c.post_id).where(post_label.c.label_id == label_id))
        )
    total = await db.scalar(select(func.count()).select_from(Post).where(*conditions)) or 0
    query = (
        select(Post)
        .where(*conditions)
        .options(selectinload(Post.variants), selectinload(Post.labels))
        .order_by(
            *(
                (Post.created_at.desc(), Post.id.desc())
                if undated
                else (Post.due_at.is_(None), Post.due_at, Post.created_at, Post.id)
            )
        )
        .limit(limit)
        .offset(offset)
    )
    return list((await db.scalars(query)).all()), total


def to_summary(post: Post) -> PostSummary:
    return PostSummary(
        id=post.id,
        title=post.title,
        status=post.status,
        local_at=post.local_at,
        timezone=post.timezone,
        due_at=post.due_at,
        plan_id=post.plan_id,
        labels=sorted((label.id for label in post.labels), key=str),
        channels=sorted((variant.channel_id for variant in post.variants), key=str),
        version=post.version,
    )


async def to_read(
    db: AsyncSession, post: Post, warnings: list[NetworkNote] | None = None
) -> PostRead:
    channels = await _channels(db, post.workspace_id)
    variants = sorted(post.variants, key=lambda v: (channels[v.channel_id].name, str(v.id)))
    return PostRead(
        id=post.id,
        workspace_id=post.workspace_id,
        title=post.title,
        body=post.body,
        labels=sorted((label.id for label in post.labels), key=str),
        plan_id=post.plan_id,
        media=[MediaRef.model_validate(item) for item in post.media or []],
        link=post.link,
        status=post.status,
        local_at=post.local_at,
        timezone=post.timezone,
        fold=post.fold,
        due_at=post.due_at,
        author_id=post.author_id,
        version=post.version,
        variants=[
            VariantRead(
                id=v.id,
                channel_id=v.channel_id,
                network=channels[v.channel_id].network,
                text=v.text,
                media=None
                if v.media is None
                else [MediaRef.model_validate(item) for item in v.media],
                link=v.link,
                local_at=v.local_at,
                fold=v.fold,
                due_at=v.due_at,
                effective_text=post.body if v.text is None else v.text,
                content_hash=v.content_hash,
                approved_hash=v.approved_hash,
            )
            for v in variants
        ],
        warnings=warnings or [],
        created_at=post.created_at,
        updated_at=post.updated_at,
    )


# -- validate without saving -------------------------------------------------------------


async def validate(db: AsyncSession, member: Member, data: ValidateRequest) -> ValidateResult:
    """The verdicts every copy would get, for the editor's live counter."""
    state = PostState(
        title="-",
        body=data.body,
        labels=[],
        plan_id=None,
        media=_refs(data.media) or [],
        link=data.link,
        local_at=None,
        timezone="UTC",
        fold=0,
        status=PostStatus.idea,
        variants={
            v.channel_id: VariantState(text=v.text, media=_refs(v.media), link=v.link)
            for v in data.variants
        },
    )
    channels = await _channels(db, member.workspace.id)
    media, _, _ = await _check_references(db, member.workspace.id, state, channels)
    results = []
    for channel_id, variant in state.variants.items():
        channel = channels[channel_id]
        check = check_copy(
            channel,
            body=state.body,
            base_media=state.media,
            base_link=state.link,
            variant=variant,
            media=media,
        )
        measure = check.measure
        results.append(
            ChannelCheck(
                channel_id=channel.id,
                network=channel.network,
                ok=check.ok,
                measure=None
                if measure is None
                else MeasureRead(unit=measure.unit, count=measure.count, limit=measure.limit),
                verdicts=_notes(channel, check),
            )
        )
    return ValidateResult(ok=all(r.ok for r in results), channels=results)
