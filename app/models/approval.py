"""Approvals: one reviewer's approval of a post's exact content.

An approval counts only while the post's content is what was approved: it records
the ``fingerprint`` (a hash of every variant's ``content_hash``) at that moment, so
"how many distinct reviewers approved what is there now" is one query. ``content``
keeps each variant's publishable copy as approved, for the inbox's "what changed
since the last approval".
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class Approval(IdMixin, TimestampMixin, Base):
    __tablename__ = "approval"
    __table_args__ = (
        # Approvals of one post's content (the service counts distinct reviewers).
        Index(
            "ix_approval_post_reviewer_fingerprint",
            "post_id",
            "reviewer_id",
            "fingerprint",
        ),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Set when the post went back to draft: the approval stays for history, uncounted.
    withdrawn: Mapped[bool] = mapped_column(default=False)
    # {channel_id: {"hash": ..., "text": ..., "link": ..., "media": [...]}}
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
