"""Late deliveries: the one rule of DESIGN.md's "Late, paused, missed".

Past due time + the workspace's lateness limit, nothing of a post goes out:

- a delivery of a submitted post (in review, changes requested or approved) that
  never had its first claim becomes ``missed``;
- one that was tried and is waiting for another attempt (``retrying``, or back in
  ``pending`` after its channel expired) becomes ``failed``: retries stop there.

Either way the post's author and reviewers are notified, once per post. Paused
workspaces and channels are exempt, and so are deliveries parked by a resume
(their ``next_attempt_at`` lies in the far future until a person decides): they
wait, however late. A draft that was never submitted only shows as overdue in the
calendar, quietly.

The scheduler's claim never takes a delivery past its limit (the rule is part of
:mod:`app.deliveries.queue`); :func:`mark_missed` closes those deliveries and
notifies, run by the claims at most once a second (``scheduler.dispatch``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Channel, Delivery, DeliveryStatus, Post, PostStatus, Workspace
from app.models.delivery import IN_CLAIM_INDEX
from app.models.notification import Event
from app.notifications.service import notify, post_people

SUBMITTED = (PostStatus.in_review, PostStatus.changes_requested, PostStatus.approved)


@dataclass(frozen=True, slots=True)
class _Late:
    status: DeliveryStatus
    event: Event
    waiting: object  # the SQL condition of the deliveries this rule closes
    reason: str


# Table columns, not ORM attributes: the statements below are plain Core.
_D = Delivery.__table__.c
_RULES = (
    _Late(
        DeliveryStatus.missed,
        Event.missed,
        and_(_D.status == DeliveryStatus.pending, _D.attempts == 0),
        "Not sent within the lateness limit ({minutes} min after its time).",
    ),
    _Late(
        DeliveryStatus.failed,
        Event.publish_failed,
        or_(
            _D.status == DeliveryStatus.retrying,
            and_(_D.status == DeliveryStatus.pending, _D.attempts > 0),
        ),
        "Retries stopped at the lateness limit ({minutes} min after its time).",
    ),
)


def _closing(rule: _Late) -> Any:
    """The UPDATE that closes the deliveries of ``rule`` in the workspaces whose limit
    is ``:minutes``, past ``:cutoff`` (now minus that limit). Built once, on the
    tables: dispatch runs it before every claim, and building ORM statements each
    time was half the cost of a claim (bench/README.md, publish_lag)."""
    d, p, w, c = (model.__table__ for model in (Delivery, Post, Workspace, Channel))
    cutoff = bindparam("cutoff", type_=d.c.next_attempt_at.type)
    candidates = (
        select(d.c.id)
        .join(p, p.c.id == d.c.post_id)
        .join(w, w.c.id == d.c.workspace_id)
        .join(c, c.c.id == d.c.channel_id)
        .where(
            IN_CLAIM_INDEX,
            rule.waiting,
            d.c.next_attempt_at < cutoff,
            d.c.due_at < cutoff,
            p.c.status.in_(SUBMITTED),
            w.c.lateness_limit_minutes == bindparam("minutes"),
            w.c.paused.is_(False),
            c.c.paused.is_(False),
        )
    )
    return (
        update(d)
        .where(d.c.id.in_(candidates), rule.waiting)
        .values(
            status=rule.status,
            last_error=bindparam("reason", type_=d.c.last_error.type),
            updated_at=bindparam("now", type_=d.c.updated_at.type),
        )
        .returning(d.c.id, d.c.post_id)
    )


_CLOSING = tuple((rule, _closing(rule)) for rule in _RULES)
_LIMITS = select(Workspace.__table__.c.lateness_limit_minutes).distinct()


async def mark_missed(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """Close every delivery past its lateness limit (``missed`` or ``failed``, see
    the module docstring); returns their ids.

    One UPDATE per rule and distinct lateness limit (workspaces share a handful), each
    a range on the claim index (``next_attempt_at``).
    """
    limits = (await session.scalars(_LIMITS)).all()
    closed: dict[tuple[uuid.UUID, Event], list[uuid.UUID]] = defaultdict(list)
    ids: list[uuid.UUID] = []
    for minutes in limits:
        cutoff = now - timedelta(minutes=minutes)
        for rule, statement in _CLOSING:
            rows = await session.execute(
                statement,
                {
                    "cutoff": cutoff,
                    "minutes": minutes,
                    "reason": rule.reason.format(minutes=minutes),
                    "now": now,
                },
            )
            for delivery_id, post_id in rows:
                closed[(post_id, rule.event)].append(delivery_id)
                ids.append(delivery_id)
    await _notify(session, closed)
    return ids


async def _notify(
    session: AsyncSession, closed: dict[tuple[uuid.UUID, Event], list[uuid.UUID]]
) -> None:
    """One notification per post and outcome, naming its channels (posts and channels
    loaded in one query each, whatever the number of deliveries)."""
    if not closed:
        return
    post_ids = {post_id for post_id, _ in closed}
    delivery_ids = [d for ids in closed.values() for d in ids]
    posts = {p.id: p for p in await session.scalars(select(Post).where(Post.id.in_(post_ids)))}
    channel_rows = await session.execute(
        select(Delivery.id, Channel.name, Channel.network)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(Delivery.id.in_(delivery_ids))
    )
    channel_of = {row.id: f"{row.name} ({row.network.value})" for row in channel_rows}
    for (post_id, event), deliveries in closed.items():
        post = posts[post_id]
        names = ", ".join(sorted(channel_of[d] for d in deliveries))
        text = (
            f"“{post.title}” missed its slot on {names}: it was not approved or could not "
            "be sent in time, and will not go out late."
            if event is Event.missed
            else f"“{post.title}” failed on {names}: retries stopped at the lateness limit."
        )
        await notify(
            session,
            workspace_id=post.workspace_id,
            event=event,
            text=text,
            recipients=await post_people(session, post),
            post_id=post.id,
            delivery_id=deliveries[0] if len(deliveries) == 1 else None,
            data={"deliveries": [str(d) for d in deliveries]},
        )
