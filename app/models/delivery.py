"""Deliveries: the publishing of one variant to one channel.

The delivery table is the publishing queue. The scheduler claims due rows in one
statement (status ``sending`` + a lease); see ``scheduler/``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, TimestampMixin, enum_check


class DeliveryStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    published = "published"
    retrying = "retrying"
    failed = "failed"
    uncertain = "uncertain"
    missed = "missed"
    canceled = "canceled"
    removed = "removed"


# A variant has at most one delivery in these states: the database itself refuses
# a second live delivery, so a post cannot be queued (or published) twice.
LIVE_STATUSES = ("pending", "sending", "retrying", "uncertain", "published")
CLAIMABLE_STATUSES = ("pending", "retrying")

_in = "status IN ({})".format
_LIVE = _in(", ".join(f"'{s}'" for s in LIVE_STATUSES))
_CLAIMABLE = _in(", ".join(f"'{s}'" for s in CLAIMABLE_STATUSES))
# A query meant to read ``ix_delivery_claimable`` repeats its condition word for word:
# SQLite uses a partial index only when the query's WHERE contains the index's terms
# (``status = 'pending'`` alone does not imply them, nor does a bound status), and
# PostgreSQL's generic plans of prepared statements cannot prove it from parameters.
# Without it, every claim's lateness check scanned the whole table (bench/README.md).
IN_CLAIM_INDEX = text(f"delivery.{_CLAIMABLE}")


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class Delivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "delivery"
    __table_args__ = (
        enum_check("status", DeliveryStatus),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint(
            "status <> 'sending' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)",
            name="sending_has_lease",
        ),
        CheckConstraint(
            "status <> 'published' OR published_at IS NOT NULL", name="published_has_time"
        ),
        Index(
            "ix_delivery_one_live_per_variant",
            "variant_id",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
        # Hot query 1: claim due deliveries.
        Index(
            "ix_delivery_claimable",
            "next_attempt_at",
            sqlite_where=text(_CLAIMABLE),
            postgresql_where=text(_CLAIMABLE),
        ),
        # Expired leases, for the reaper.
        Index(
            "ix_delivery_lease",
            "lease_expires_at",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
        # Deliveries in flight per channel: the cluster-wide per-channel limit.
        Index(
            "ix_delivery_sending_channel",
            "channel_id",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("post.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("variant.id", ondelete="CASCADE"))
    # No cascade: a channel with a publishing history is not deleted under it.
    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        EnumString(DeliveryStatus, 16), default=DeliveryStatus.pending
    )
    due_at: Mapped[datetime]
    # When the next claim may happen: due_at at first, then the retry backoff.
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    # Sent to networks that honour one; Bluesky rkeys and Matrix txn ids derive from it.
    idempotency_key: Mapped[str] = mapped_column(
        String(64), unique=True, default=new_idempotency_key
    )
    # Intermediate ids (media ids, containers, upload sessions) so a retry resumes.
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    external_id: Mapped[str | None] = mapped_column(String(512))
    external_url: Mapped[str | None] = mapped_column(String(2048))
    last_error: Mapped[str | None] = mapped_column(Text)
    published_content_hash: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None]


class AttemptOutcome(StrEnum):
    # The attempt is running (or its process died: the reaper closes it).
    started = "started"
    published = "published"
    transient = "transient"
    rate_limited = "rate_limited"
    permanent = "permanent"
    expired = "expired"
    lease_expired = "lease_expired"
    error = "error"


class DeliveryAttempt(IdMixin, Base):
    """One try at publishing a delivery: written at claim, closed with its outcome."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (enum_check("outcome", AttemptOutcome),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("delivery.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[AttemptOutcome] = mapped_column(
        EnumString(AttemptOutcome, 16), default=AttemptOutcome.started
    )
    error: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None]
    # The scheduler process that made the attempt (its lease owner id).
    process_id: Mapped[str] = mapped_column(String(128))
