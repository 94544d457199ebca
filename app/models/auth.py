"""Sign-in sessions, API tokens, invitations and the sign-in throttle.

Every secret handed to a person (session cookie, API token, invitation link) is a
random token stored only as its SHA-256: high-entropy tokens need no slow hash,
and a database leak gives nobody a working credential.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, enum_check, utcnow
from app.models.workspace import Role


class UserSession(IdMixin, Base):
    """A signed-in browser. Revoking it (or all of a user's) signs out at once."""

    __tablename__ = "user_session"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Double-submit CSRF token bound to this session (not a secret from the user).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class ApiToken(IdMixin, Base):
    """``alm_<prefix>_<secret>``; the prefix is shown in lists to recognise a token."""

    __tablename__ = "api_token"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Invitation(IdMixin, Base):
    """A single-use link that makes its holder a member with ``role``."""

    __tablename__ = "invitation"
    __table_args__ = (enum_check("role", Role),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(EnumString(Role, 16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]


class LoginAttempt(IdMixin, Base):
    """Failed sign-ins, per account and per address, shared by every web process."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_key_attempted_at", "key", "attempted_at"),)

    # "account:<email>" or "address:<ip>"
    key: Mapped[str] = mapped_column(String(300))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
