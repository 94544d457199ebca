"""Key rotation: re-seal every encrypted column with the current (first) key of
``ALMANAC_ENCRYPTION_KEYS`` (``almanac rotate-key``), so older keys can be removed.

All or nothing, in the caller's transaction: when any value opens with no configured
key, nothing is changed and those rows are reported. A new ciphertext of the same
secret is not an edit: ``updated_at`` stays.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import CredentialBox
from app.models import Channel, WebhookEndpoint
from app.models.oauth import OAuthState


@dataclass(frozen=True, slots=True)
class Sealed:
    """One encrypted column, and what names its row to a person."""

    kind: str
    model: Any
    column: str
    label: str


SEALED = (
    Sealed("channel", Channel, "credentials_encrypted", "name"),
    Sealed("webhook", WebhookEndpoint, "url_encrypted", "host"),
    Sealed("webhook", WebhookEndpoint, "secret_encrypted", "host"),
    Sealed("connect in progress", OAuthState, "verifier_encrypted", "network"),
)


@dataclass
class Rotation:
    rotated: int = 0
    # (kind, id, label) of rows no configured key decrypts; nothing changes when any.
    unreadable: list[tuple[str, uuid.UUID, str]] = field(default_factory=list)


async def rotate_keys(db: AsyncSession, box: CredentialBox) -> Rotation:
    pending: list[tuple[Sealed, uuid.UUID, bytes]] = []
    unreadable: list[tuple[str, uuid.UUID, str]] = []
    for sealed in SEALED:
        column = getattr(sealed.model, sealed.column)
        rows = await db.execute(
            select(sealed.model.id, getattr(sealed.model, sealed.label), column)
            .where(column.is_not(None))
            .order_by(sealed.model.id)
            .with_for_update()
        )
        for row_id, label, token in rows:
            try:
                pending.append((sealed, row_id, box.rotate(token)))
            except InvalidToken:
                unreadable.append((sealed.kind, row_id, str(label)))
    if unreadable:
        return Rotation(unreadable=unreadable)
    for sealed, row_id, token in pending:
        values: dict[str, Any] = {sealed.column: token}
        if hasattr(sealed.model, "updated_at"):
            values["updated_at"] = sealed.model.updated_at
        await db.execute(update(sealed.model).where(sealed.model.id == row_id).values(**values))
    return Rotation(rotated=len(pending))
