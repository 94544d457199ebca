"""Recording and reading audit events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, User


def client_ip(request: Request | None) -> str | None:
    if request is None or request.client is None:
        return None
    return request.client.host


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: User | None,
    request: Request | None = None,
    workspace_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    data: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits with the change)."""
    event = AuditEvent(
        workspace_id=workspace_id,
        actor_id=actor.id if actor else None,
        actor_label=actor.email if actor else actor_label,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        data=data or {},
        ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:255] if request else None,
    )
    session.add(event)
    await session.flush()
    return event


async def list_events(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    limit: int = 100,
    before: datetime | None = None,
    action: str | None = None,
) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if before is not None:
        query = query.where(AuditEvent.created_at < before)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    # id breaks ties between events of the same instant, so the order is stable.
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())
