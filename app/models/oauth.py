"""OAuth 2.0 connect attempts: one row per authorization started, so the callback can
check its ``state`` (stored as its SHA-256), use it once, and find the PKCE verifier.

Rows live ten minutes (``expires_at``); a used one keeps ``used_at`` so a replayed
callback is told it was already used rather than "unknown".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EnumString, IdMixin, enum_check, utcnow
from app.networks.base import Network


class OAuthState(IdMixin, Base):
    __tablename__ = "oauth_state"
    __table_args__ = (enum_check("network", Network),)

    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    network: Mapped[Network] = mapped_column(EnumString(Network, 24))
    # The PKCE code_verifier, sealed like channel credentials (app.crypto).
    verifier_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
