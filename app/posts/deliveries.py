"""Deliveries follow their post: one rule, :func:`sync_deliveries`, run after every
write of a post or its variants (``app.posts.service.save``: create, update, put or
delete a variant, restore a revision).

The rule:

- A dated post that is not an idea has exactly one live delivery per variant. A
  variant without one gets a ``pending`` delivery, due at the variant's own time
  or else the post's (``next_attempt_at`` = ``due_at``).
- When the time changes, ``pending`` deliveries take the new ``due_at`` and
  ``next_attempt_at``. ``retrying`` ones keep their backoff.
- When a variant is removed, or the post becomes an idea or loses its date, its
  ``pending`` and ``retrying`` deliveries become ``canceled``. (Removing a variant
  deletes its row, and the foreign key's ``ON DELETE CASCADE`` takes its deliveries
  with it; the cancel below covers them should that cascade ever go.)
- Deliveries that are ``sending``, ``published``, ``uncertain``, ``failed``,
  ``missed``, ``removed`` or ``canceled`` are never touched: they are the
  publishing history, and the scheduler owns them. The unique index
  ``ix_delivery_one_live_per_variant`` allows a new ``pending`` delivery only after
  a terminal status, so a published variant is never queued a second time, and a
  failed or missed one is queued again by the next edit of its post.

Drafts get deliveries too. That is safe because a delivery is claimable only when its
variant's ``content_hash`` equals its ``approved_hash``, and ``app.approvals.service``
sets ``approved_hash`` only while a post is scheduled (approved, or back in review
after an edit, when its untouched variants keep their approval): withdraw and
unschedule clear it. An unapproved or edited copy waits in ``pending``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Delivery, DeliveryStatus, Post, PostStatus
from app.models.delivery import LIVE_STATUSES

# What an edit may change: waiting for its time (pending) or its next attempt (retrying).
_OPEN = (DeliveryStatus.pending, DeliveryStatus.retrying)


def wanted_due(post: Post) -> dict[uuid.UUID, datetime]:
    """Variant id → due time, for every variant that should have a live delivery."""
    if post.status is PostStatus.idea or post.due_at is None:
        return {}
    return {variant.id: variant.due_at or post.due_at for variant in post.variants}


async def sync_deliveries(db: AsyncSession, post: Post) -> None:
    """Bring the post's deliveries in line with its time and variants (loaded, flushed)."""
    wanted = wanted_due(post)
    channel_of = {variant.id: variant.channel_id for variant in post.variants}
    live = (
        await db.scalars(
            select(Delivery).where(
                Delivery.post_id == post.id, Delivery.status.in_(LIVE_STATUSES + _OPEN)
            )
        )
    ).all()
    has_live: set[uuid.UUID] = set()
    for delivery in live:
        has_live.add(delivery.variant_id)
        due = wanted.get(delivery.variant_id)
        if due is None:
            if delivery.status in _OPEN:
                delivery.status = DeliveryStatus.canceled
        elif delivery.status is DeliveryStatus.pending and delivery.due_at != due:
            delivery.due_at = due
            delivery.next_attempt_at = due
    for variant_id, due in wanted.items():
        if variant_id not in has_live:
            db.add(
                Delivery(
                    workspace_id=post.workspace_id,
                    post_id=post.id,
                    variant_id=variant_id,
                    channel_id=channel_of[variant_id],
                    status=DeliveryStatus.pending,
                    due_at=due,
                    next_attempt_at=due,
                )
            )
    await db.flush()
