"""What the audit API returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.models import AuditEvent


class AuditActor(BaseModel):
    """Who acted: ``id`` is null once the user is deleted (or for a failed sign-in of
    an unknown address); ``label`` (their email at the time) stays."""

    id: uuid.UUID | None
    label: str | None


class AuditEventRead(BaseModel):
    id: uuid.UUID
    action: str
    actor: AuditActor | None
    target_type: str | None
    target_id: str | None
    data: dict[str, Any]
    ip: str | None
    user_agent: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventRead:
        has_actor = event.actor_id is not None or event.actor_label is not None
        return cls(
            id=event.id,
            action=event.action,
            actor=AuditActor(id=event.actor_id, label=event.actor_label) if has_actor else None,
            target_type=event.target_type,
            target_id=event.target_id,
            data=event.data or {},
            ip=event.ip,
            user_agent=event.user_agent,
            created_at=event.created_at,
        )
