"""Deliveries: reading them with their attempts, and the actions a person takes.

The scheduler owns a delivery while it is ``sending``; everything here changes a
delivery with a conditional UPDATE (``WHERE status = <the status it was read
in>``), so a race with the scheduler (or with a second click) changes nothing and
answers 409 with a sentence, never a corrupted row. Actions, per DESIGN.md:

- publish now (a post): its waiting deliveries whose content is approved become
  due now; the scheduler is woken;
- retry: ``failed``, ``missed`` or ``uncertain`` → ``pending``, due now (an
  uncertain one only with ``confirm``: it may publish twice);
- mark published: ``uncertain`` → ``published``, with the URL a person found;
- take down: ``published`` → the network's take-down → ``removed``;
- overdue decisions after a pause (see ``app.deliveries.overdue``): publish now,
  shift by N minutes (through the posts service: local time, version, revision),
  or skip (``canceled``).

Every action writes an audit event (who, which delivery) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import Request
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.approvals.service import approved_clause
from app.audit.service import record
from app.auth.deps import Member
from app.channels.service import without_secrets
from app.crypto import CredentialBox, CredentialsUnreadable
from app.deliveries.overdue import AWAITING_DECISION, SUBMITTED, WAITING, awaiting_decision
from app.deliveries.schemas import (
    AttemptRead,
    ChannelMetrics,
    DecisionResult,
    DeliveryPage,
    DeliveryRead,
    Held,
    OverdueDelivery,
    OverdueList,
    OverduePost,
    PostMetrics,
    PublishNowResult,
    SnapshotRead,
)
from app.deliveries.wake import wake_dispatch
from app.errors import AppError, Conflict, Invalid, NotFound
from app.models import (
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MetricSnapshot,
    Post,
    Variant,
    Workspace,
    utcnow,
)
from app.models.delivery import LIVE_STATUSES
from app.net.outbound import OutboundError
from app.networks import AdapterContext, NetworkUnavailable, get_adapter
from app.networks.base import (
    CredentialsExpiredError,
    NetworkError,
    PermanentError,
    TransientError,
)
from app.posts import service as posts

TARGET = "delivery"
RETRYABLE = (DeliveryStatus.failed, DeliveryStatus.missed, DeliveryStatus.uncertain)


class NetworkTrouble(AppError):
    """The network did not answer usefully; trying again later may work."""

    status_code = 502


# -- reading ------------------------------------------------------------------------


@dataclass
class _Row:
    delivery: Delivery
    title: str
    channel: Channel


def _read(row: _Row, attempts: list[DeliveryAttempt]) -> DeliveryRead:
    delivery = row.delivery
    parked = delivery.next_attempt_at == AWAITING_DECISION
    waiting = delivery.status in WAITING and not parked
    return DeliveryRead(
        id=delivery.id,
        post_id=delivery.post_id,
        post_title=row.title,
        channel_id=row.channel.id,
        channel_name=row.channel.name,
        network=row.channel.network,
        status=delivery.status,
        due_at=delivery.due_at,
        next_attempt_at=delivery.next_attempt_at if waiting else None,
        awaiting_decision=parked and delivery.status in WAITING,
        attempt_count=len(attempts),
        attempts=[
            AttemptRead(
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                error=a.error,
                http_status=a.http_status,
            )
            for a in attempts
        ],
        external_id=delivery.external_id,
        external_url=delivery.external_url,
        published_at=delivery.published_at,
        last_error=delivery.last_error,
        updated_at=delivery.updated_at,
    )


def _base_query() -> Any:
    return (
        select(Delivery, Post.title, Channel)
        .join(Post, Post.id == Delivery.post_id)
        .join(Channel, Channel.id == Delivery.channel_id)
    )


async def _to_reads(db: AsyncSession, rows: list[_Row]) -> list[DeliveryRead]:
    ids = [row.delivery.id for row in rows]
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = defaultdict(list)
    if ids:
        found = await db.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(ids))
            .order_by(DeliveryAttempt.started_at, DeliveryAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [_read(row, attempts[row.delivery.id]) for row in rows]


async def _rows(db: AsyncSession, query: Any) -> list[_Row]:
    result = await db.execute(query.execution_options(populate_existing=True))
    return [_Row(delivery, title, channel) for delivery, title, channel in result.all()]


async def read_deliveries(db: AsyncSession, ids: list[uuid.UUID]) -> list[DeliveryRead]:
    if not ids:
        return []
    query = _base_query().where(Delivery.id.in_(ids)).order_by(Channel.name, Delivery.id)
    return await _to_reads(db, await _rows(db, query))


async def post_deliveries(
    db: AsyncSession, workspace_id: uuid.UUID, post_id: uuid.UUID
) -> list[DeliveryRead]:
    """Every delivery of the post (its history included), newest first per channel."""
    await posts.get_post(db, workspace_id, post_id)
    query = (
        _base_query()
        .where(Delivery.post_id == post_id, Delivery.workspace_id == workspace_id)
        .order_by(Channel.name, Delivery.created_at.desc(), Delivery.id)
    )
    return await _to_reads(db, await _rows(db, query))


async def list_deliveries(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    channel_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> DeliveryPage:
    """The workspace's deliveries by due time, newest first; ``start``/``end`` bound
    the due time (``end`` excluded)."""
    filters: list[ColumnElement[bool]] = [Delivery.workspace_id == workspace_id]
    if status is not None:
        filters.append(Delivery.status == status)
    if channel_id is not None:
        filters.append(Delivery.channel_id == channel_id)
    if start is not None:
        filters.append(Delivery.due_at >= start)
    if end is not None:
        filters.append(Delivery.due_at < end)
    total = await db.scalar(select(func.count()).select_from(Delivery).where(*filters)) or 0
    query = (
        _base_query()
        .where(*filters)
        .order_by(Delivery.due_at.desc(), Delivery.id)
        .limit(limit)
        .offset(offset)
    )
    items = await _to_reads(db, await _rows(db, query))
    return DeliveryPage(items=items, total=total, limit=limit, offset=offset)


async def get_delivery(db: AsyncSession, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> _Row:
    rows = await _rows(
        db,
        _base_query().where(Delivery.id == delivery_id, Delivery.workspace_id == workspace_id),
    )
    if not rows:
        raise NotFound("No such delivery.")
    return rows[0]


# -- shared checks ------------------------------------------------------------------


def _where(channel: Channel) -> str:
    return f"{channel.name} ({channel.network.value})"


async def _refuse_paused_workspace(db: AsyncSession, workspace_id: uuid.UUID) -> None:
    workspace = await db.get(Workspace, workspace_id, populate_existing=True)
    if workspace is not None and workspace.paused:
        because = f" ({workspace.paused_reason})" if workspace.paused_reason else ""
        raise Conflict(
            f"Publishing in this workspace is paused{because}; resume it first, then "
            "decide about the posts that are late."
        )


def _channel_block(channel: Channel) -> str | None:
    """Why the scheduler will not send to this channel now, or None."""
    if channel.paused:
        because = f" ({channel.paused_reason})" if channel.paused_reason else ""
        return f"the channel {_where(channel)} is paused{because}"
    if channel.status is not ChannelStatus.connected:
        return f"the channel {_where(channel)} must be reconnected (status {channel.status.value})"
    return None


async def _is_approved(db: AsyncSession, variant_id: uuid.UUID) -> bool:
    found = await db.scalar(select(Variant.id).where(Variant.id == variant_id, approved_clause()))
    return found is not None


def _changed_meanwhile(expected: DeliveryStatus, now: DeliveryStatus | None) -> Conflict:
    return Conflict(
        f"This delivery changed meanwhile (it was {expected.value}, it is now "
        f"{now.value if now else 'gone'}); reload it and decide again."
    )


async def _current_status(db: AsyncSession, delivery_id: uuid.UUID) -> DeliveryStatus | None:
    return await db.scalar(select(Delivery.status).where(Delivery.id == delivery_id))


async def _transition(
    db: AsyncSession, delivery_id: uuid.UUID, expected: DeliveryStatus, **values: Any
) -> None:
    """The one way this module changes a delivery's status: only from ``expected``."""
    result = await db.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == expected)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _changed_meanwhile(expected, await _current_status(db, delivery_id))


async def _audit(
    db: AsyncSession,
    member: Member,
    request: Request | None,
    action: str,
    target_id: uuid.UUID,
    data: dict[str, Any],
    target_type: str = TARGET,
) -> None:
    await record(
        db,
        action=action,
        actor=member.user,
        request=request,
        workspace_id=member.workspace.id,
        target_type=target_type,
        target_id=target_id,
        data=data,
    )


# -- publish now ----------------------------------------------------------------------


async def _make_due_now(
    db: AsyncSession, post: Post, only: set[uuid.UUID] | None = None
) -> tuple[list[uuid.UUID], list[Held], list[tuple[Channel, Variant]]]:
    """Waiting deliveries of ``post`` (or only these) whose content is approved and whose
    channel takes posts become due now; the others are held, with the reason."""
    query = (
        select(Delivery, Variant, Channel)
        .join(Variant, Variant.id == Delivery.variant_id)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(Delivery.post_id == post.id, Delivery.status.in_(WAITING))
        .order_by(Channel.name)
    )
    rows = (await db.execute(query.execution_options(populate_existing=True))).all()
    if only is not None:
        rows = [row for row in rows if row.Delivery.id in only]
    due: list[uuid.UUID] = []
    held: list[Held] = []
    unapproved: list[tuple[Channel, Variant]] = []
    for delivery, variant, channel in rows:
        block = _channel_block(channel)
        if variant.approved_hash is None or variant.approved_hash != variant.content_hash:
            unapproved.append((channel, variant))
            block = f"the copy for {_where(channel)} waits for approval"
        if block is not None:
            held.append(
                Held(
                    delivery_id=delivery.id,
                    channel_id=channel.id,
                    channel_name=channel.name,
                    reason=block,
                )
            )
        else:
            due.append(delivery.id)
    if not due:
        return [], held, unapproved
    now = utcnow()
    result = await db.execute(
        update(Delivery)
        .where(Delivery.id.in_(due), Delivery.status.in_(WAITING))
        .values(due_at=now, next_attempt_at=now, updated_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars()), held, unapproved


def _nothing_to_publish(
    post: Post, held: list[Held], unapproved: list[tuple[Channel, Variant]]
) -> Conflict:
    if unapproved:
        names = ", ".join(_where(channel) for channel, _ in unapproved)
        others = [h.reason for h in held if "waits for approval" not in h.reason]
        tail = f" ({'; '.join(others)})" if others else ""
        return Conflict(
            f"Nothing of “{post.title}” is approved to go out: the copies for {names} wait "
            f"for approval{tail}.",
            errors=[
                {
                    "field": f"variants.{channel.id}",
                    "network": channel.network.value,
                    "message": "waiting for approval",
                }
                for channel, _ in unapproved
            ],
        )
    if held:
        return Conflict(
            f"Nothing of “{post.title}” can go out now: " + "; ".join(h.reason for h in held) + "."
        )
    return Conflict(
        f"“{post.title}” has no delivery waiting to go out (already published, failed, "
        "canceled or never scheduled)."
    )


async def publish_now(
    db: AsyncSession, member: Member, post: Post, request: Request | None = None
) -> PublishNowResult:
    """Every waiting delivery of the post whose content is approved goes out now."""
    await _refuse_paused_workspace(db, post.workspace_id)
    if post.status not in SUBMITTED:
        raise Conflict(
            f"“{post.title}” is {post.status.value}: submit it for approval (or schedule it) "
            "before publishing it."
        )
    due, held, unapproved = await _make_due_now(db, post)
    if not due:
        raise _nothing_to_publish(post, held, unapproved)
    await _audit(
        db,
        member,
        request,
        "post.published_now",
        post.id,
        {"deliveries": [str(i) for i in due], "held": [h.model_dump(mode="json") for h in held]},
        target_type="post",
    )
    await wake_dispatch(db)
    return PublishNowResult(due_now=await read_deliveries(db, due), held=held)


# -- retry, mark published ---------------------------------------------------------------


async def retry(
    db: AsyncSession,
    member: Member,
    delivery_id: uuid.UUID,
    *,
    confirm: bool,
    request: Request | None = None,
) -> tuple[DeliveryRead, str | None]:
    """A failed, missed or uncertain delivery becomes pending, due now."""
    row = await get_delivery(db, member.workspace.id, delivery_id)
    delivery, channel = row.delivery, row.channel
    status = delivery.status
    if status not in RETRYABLE:
        raise Conflict(
            f"Only a failed, missed or uncertain delivery can be retried; this one is "
            f"{status.value}."
        )
    warning = None
    if status is DeliveryStatus.uncertain:
        warning = (
            f"The scheduler stopped while sending this post to {_where(channel)}: it may "
            "already be there, and this retry may publish it a second time."
        )
        if not confirm:
            raise Conflict(
                warning + " Check the network first: if the post is there, mark it "
                'published with its URL; to retry anyway, send {"confirm": true}.',
                errors=[{"field": "confirm", "network": None, "message": "may duplicate"}],
            )
    await _refuse_paused_workspace(db, member.workspace.id)
    block = _channel_block(channel)
    if block is not None:
        raise Conflict(f"This delivery cannot be retried now: {block}.")
    post = await db.get(Post, delivery.post_id)
    if (
        post is None
        or post.status not in SUBMITTED
        or not await _is_approved(db, delivery.variant_id)
    ):
        raise Conflict(
            f"The copy for {_where(channel)} is not approved as it is now; approve it "
            "first, then retry."
        )
    if status is not DeliveryStatus.uncertain:
        # failed and missed are history: a newer live delivery may exist for this copy.
        other = await db.scalar(
            select(Delivery.status).where(
                Delivery.variant_id == delivery.variant_id,
                Delivery.id != delivery.id,
                Delivery.status.in_(LIVE_STATUSES),
            )
        )
        if other is not None:
            raise Conflict(
                f"This copy already has a newer delivery to {_where(channel)} "
                f"({other.value}); act on that one instead."
            )
    now = utcnow()
    try:
        async with db.begin_nested():
            await _transition(
                db,
                delivery.id,
                status,
                status=DeliveryStatus.pending,
                due_at=now,
                next_attempt_at=now,
                attempts=0,
                last_error=None,
                lease_owner=None,
                lease_expires_at=None,
            )
    except IntegrityError:
        raise Conflict(
            f"This copy got a newer delivery to {_where(channel)} meanwhile; act on that one."
        ) from None
    await _audit(
        db,
        member,
        request,
        "delivery.retried",
        delivery.id,
        {"post_id": str(delivery.post_id), "from": status.value, "confirmed": confirm},
    )
    await wake_dispatch(db)
    return (await read_deliveries(db, [delivery.id]))[0], warning


async def mark_published(
    db: AsyncSession,
    member: Member,
    delivery_id: uuid.UUID,
    *,
    url: str,
    external_id: str | None,
    request: Request | None = None,
) -> DeliveryRead:
    """An uncertain delivery that a person found on the network: published, at ``url``."""
    row = await get_delivery(db, member.workspace.id, delivery_id)
    delivery = row.delivery
    if delivery.status is not DeliveryStatus.uncertain:
        raise Conflict(
            "Only an uncertain delivery can be marked published by hand; this one is "
            f"{delivery.status.value}."
        )
    # When it was sent: the start of its last attempt (the publish lag stays true).
    sent_at = await db.scalar(
        select(func.max(DeliveryAttempt.started_at)).where(
            DeliveryAttempt.delivery_id == delivery.id
        )
    )
    await _transition(
        db,
        delivery.id,
        DeliveryStatus.uncertain,
        status=DeliveryStatus.published,
        external_url=url,
        external_id=external_id or delivery.external_id,
        published_at=sent_at or utcnow(),
        last_error=None,
        lease_owner=None,
        lease_expires_at=None,
    )
    await _audit(
        db,
        member,
        request,
        "delivery.marked_published",
        delivery.id,
        {"post_id": str(delivery.post_id), "url": url, "external_id": external_id},
    )
    return (await read_deliveries(db, [delivery.id]))[0]


# -- take down ---------------------------------------------------------------------------


async def take_down(
    db: AsyncSession,
    member: Member,
    delivery_id: uuid.UUID,
    *,
    box: CredentialBox,
    adapters: AdapterContext,
    removed_by_hand: bool = False,
    request: Request | None = None,
) -> DeliveryRead:
    """Remove a published post from its network (the adapter's take-down): ``removed``.
    ``removed_by_hand``: it was removed on the network already; only record it."""
    row = await get_delivery(db, member.workspace.id, delivery_id)
    delivery, channel = row.delivery, row.channel
    if delivery.status is not DeliveryStatus.published:
        raise Conflict(
            f"Only a published delivery can be taken down; this one is {delivery.status.value}."
        )
    facts = {
        "post_id": str(delivery.post_id),
        "network": channel.network.value,
        "external_id": delivery.external_id,
    }
    if not removed_by_hand:
        try:
            await _network_take_down(db, delivery, channel, box, adapters)
        except (Conflict, NetworkTrouble) as refused:
            # In a crisis, who tried to take a post down and why it stayed up matter as
            # much as a take-down that worked: recorded, and kept whatever the answer.
            await _audit(
                db,
                member,
                request,
                "delivery.take_down_failed",
                delivery.id,
                {**facts, "reason": refused.detail},
            )
            await db.commit()
            raise
    await _transition(db, delivery.id, DeliveryStatus.published, status=DeliveryStatus.removed)
    await _audit(
        db,
        member,
        request,
        "delivery.taken_down",
        delivery.id,
        {**facts, "removed_by_hand": removed_by_hand},
    )
    return (await read_deliveries(db, [delivery.id]))[0]


async def _network_take_down(
    db: AsyncSession,
    delivery: Delivery,
    channel: Channel,
    box: CredentialBox,
    adapters: AdapterContext,
) -> None:
    where = _where(channel)
    by_hand = (
        f' If you removed it on {channel.network.value} yourself, send {{"removed_by_hand": '
        "true}} to record it."
    )
    if not delivery.external_id:
        raise Conflict(
            f"Almanac does not know this post's id on {where} (it was marked published by "
            f"hand), so it cannot take it down: remove it there.{by_hand}"
        )
    try:
        adapter = get_adapter(channel.network, adapters)
    except NetworkUnavailable:
        raise Conflict(
            f"Almanac cannot reach {channel.network.value} yet, so it cannot take the post "
            f"down: remove it there.{by_hand}"
        ) from None
    try:
        token = channel.credentials_encrypted
        credentials = box.open(token) if token is not None else {}
    except CredentialsUnreadable:
        raise Conflict(
            f"The credentials of {where} cannot be decrypted with the configured keys; "
            "enter them again, then take the post down."
        ) from None
    external_id = delivery.external_id
    # A network call may take seconds: end this transaction first so it holds no lock
    # (on SQLite the write lock; the sandbox writes its own table). Nothing was written.
    await db.commit()
    try:
        await adapter.take_down(credentials, external_id)
    except PermanentError as refused:
        raise Conflict(
            f"{channel.network.value} refused to take the post down: "
            f"{without_secrets(refused.message, credentials)}"
        ) from None
    except CredentialsExpiredError as expired:
        raise Conflict(
            f"{where} must be reconnected before the post can be taken down: "
            f"{without_secrets(expired.message, credentials)}"
        ) from None
    except NotImplementedError:
        raise Conflict(
            f"{channel.network.value} offers no way to delete a post through its API: "
            f"remove it there.{by_hand}"
        ) from None
    except (TransientError, NetworkError) as trouble:
        raise NetworkTrouble(
            f"{channel.network.value} did not take the post down "
            f"({without_secrets(trouble.message, credentials)}); try again in a moment."
        ) from None
    except OutboundError as refused:
        raise Conflict(f"The take-down was not sent: {refused.message}") from None
    except httpx.HTTPError as error:
        raise NetworkTrouble(
            f"Could not reach {channel.network.value} ({type(error).__name__}); try again "
            "in a moment."
        ) from None


# -- overdue after a pause ---------------------------------------------------------------


async def overdue(db: AsyncSession, workspace: Workspace) -> OverdueList:
    """Posts whose deliveries a resume parked: each waits for a decision."""
    rows = (
        await db.execute(
            select(Delivery, Post, Channel, approved_clause().label("approved"))
            .join(Post, Post.id == Delivery.post_id)
            .join(Variant, Variant.id == Delivery.variant_id)
            .join(Channel, Channel.id == Delivery.channel_id)
            .where(Delivery.workspace_id == workspace.id, awaiting_decision())
            .order_by(Delivery.due_at, Post.id, Channel.name)
        )
    ).all()
    items: dict[uuid.UUID, OverduePost] = {}
    for delivery, post, channel, approved in rows:
        item = items.get(post.id)
        if item is None:
            item = items[post.id] = OverduePost(
                post_id=post.id,
                title=post.title,
                status=post.status.value,
                due_at=delivery.due_at,
                version=post.version,
                deliveries=[],
            )
        item.deliveries.append(
            OverdueDelivery(
                delivery_id=delivery.id,
                channel_id=channel.id,
                channel_name=channel.name,
                network=channel.network,
                status=delivery.status,
                due_at=delivery.due_at,
                approved=bool(approved),
            )
        )
    return OverdueList(workspace_paused=workspace.paused, items=list(items.values()))


async def _parked(db: AsyncSession, post: Post) -> list[Delivery]:
    return list(
        (
            await db.scalars(
                select(Delivery)
                .where(Delivery.post_id == post.id, awaiting_decision())
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    )


async def decide(
    db: AsyncSession,
    member: Member,
    post_id: uuid.UUID,
    *,
    decision: str,
    minutes: int | None,
    request: Request | None = None,
) -> DecisionResult:
    """The decision about one late post: publish now, shift by ``minutes``, or skip."""
    post = await posts.get_post(db, member.workspace.id, post_id, for_update=True)
    parked = await _parked(db, post)
    if not parked:
        raise Conflict(
            f"“{post.title}” is not waiting for a decision (it was decided already, or it "
            "was not late when publishing resumed)."
        )
    ids = [d.id for d in parked]
    held: list[Held] = []
    if decision == "publish_now":
        await _refuse_paused_workspace(db, member.workspace.id)
        due, held, unapproved = await _make_due_now(db, post, only=set(ids))
        if not due:
            raise _nothing_to_publish(post, held, unapproved)
        await wake_dispatch(db)
        changed = due
    elif decision == "shift":
        assert minutes is not None
        changed = await _shift(db, member, post, parked, timedelta(minutes=minutes))
    else:
        result = await db.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), awaiting_decision())
            .values(
                status=DeliveryStatus.canceled,
                last_error="Skipped after the pause.",
                updated_at=utcnow(),
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        changed = list(result.scalars())
    await _audit(
        db,
        member,
        request,
        "post.overdue_decided",
        post.id,
        {"decision": decision, "minutes": minutes, "deliveries": [str(i) for i in changed]},
        target_type="post",
    )
    return DecisionResult(
        post_id=post.id,
        decision=decision,
        deliveries=await read_deliveries(db, changed),
        held=held,
    )


async def _shift(
    db: AsyncSession, member: Member, post: Post, parked: list[Delivery], by: timedelta
) -> list[uuid.UUID]:
    """Move the post (and its copies with their own time) ``by`` later, through the
    posts service; its parked deliveries follow the new time."""
    now = utcnow()
    if post.due_at is None:
        raise Conflict(f"“{post.title}” has no time to shift; give it one by editing it.")
    earliest = min(d.due_at for d in parked)
    if earliest + by <= now:
        needed = int((now - earliest).total_seconds() // 60) + 1
        raise Invalid(
            f"Shifting by {int(by.total_seconds() // 60)} minutes still leaves “{post.title}” "
            f"in the past; shift it by at least {needed} minutes, or publish it now.",
            errors=[{"field": "minutes", "network": None, "message": f"at least {needed}"}],
        )
    # Read before the save: it moves the pending ones (the same objects) itself.
    planned = {d.id: d.due_at for d in parked}
    state = posts.state_of(post)
    local_at, fold = posts.wall_time(post.due_at + by, state.timezone, None, "minutes")
    variants = dict(state.variants)
    own_due = {v.channel_id: v.due_at for v in post.variants}
    for channel_id, variant in state.variants.items():
        due = own_due.get(channel_id)
        if variant.local_at is not None and due is not None:
            naive, vfold = posts.wall_time(due + by, state.timezone, None, "minutes")
            variants[channel_id] = replace(variant, local_at=naive, fold=vfold)
    await posts.save(
        db,
        member,
        post,
        replace(state, local_at=local_at, fold=fold, variants=variants),
        action="shifted",
    )
    # The post's save moved its pending deliveries; retrying ones keep their own time.
    changed: list[uuid.UUID] = []
    for delivery_id, due in planned.items():
        await db.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_(WAITING))
            .values(due_at=due + by, next_attempt_at=due + by, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        changed.append(delivery_id)
    await wake_dispatch(db)
    return changed


# -- metrics ---------------------------------------------------------------------------


async def post_metrics(
    db: AsyncSession, workspace_id: uuid.UUID, post_id: uuid.UUID
) -> PostMetrics:
    """The snapshots of every delivery of the post that went out, per channel."""
    await posts.get_post(db, workspace_id, post_id)
    rows = (
        await db.execute(
            select(Delivery, Channel)
            .join(Channel, Channel.id == Delivery.channel_id)
            .where(
                Delivery.post_id == post_id,
                Delivery.status.in_((DeliveryStatus.published, DeliveryStatus.removed)),
            )
            .order_by(Channel.name, Delivery.published_at)
        )
    ).all()
    snapshots: dict[uuid.UUID, list[MetricSnapshot]] = defaultdict(list)
    if rows:
        found = await db.scalars(
            select(MetricSnapshot)
            .where(MetricSnapshot.delivery_id.in_([row.Delivery.id for row in rows]))
            .order_by(MetricSnapshot.taken_at)
        )
        for snapshot in found:
            snapshots[snapshot.delivery_id].append(snapshot)
    return PostMetrics(
        post_id=post_id,
        channels=[
            ChannelMetrics(
                delivery_id=delivery.id,
                channel_id=channel.id,
                channel_name=channel.name,
                network=channel.network,
                status=delivery.status,
                published_at=delivery.published_at,
                external_url=delivery.external_url,
                snapshots=[
                    SnapshotRead(
                        kind=s.kind,
                        taken_at=s.taken_at,
                        likes=s.likes,
                        reposts=s.reposts,
                        replies=s.replies,
                        views=s.views,
                    )
                    for s in snapshots[delivery.id]
                ],
            )
            for delivery, channel in rows
        ],
    )
