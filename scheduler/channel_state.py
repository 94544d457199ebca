"""What the scheduler's jobs write on a channel: shared by the publisher and the
token refresh, so both guard credentials and expire a channel the same way."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Channel, ChannelStatus
from app.notifications.service import Event, notify, workspace_people


def same_credentials(sealed: bytes | None) -> ColumnElement[bool]:
    """SQL: the channel still holds the credentials that were read (compare-and-set:
    a token renewed or replaced meanwhile is never overwritten with an older one)."""
    if sealed is None:
        return Channel.credentials_encrypted.is_(None)
    return Channel.credentials_encrypted == sealed


async def expire_channel(
    session: AsyncSession,
    channel_id: uuid.UUID,
    message: str,
    *,
    guard: tuple[ColumnElement[bool], ...] = (),
    values: dict[str, Any] | None = None,
    delivery_id: uuid.UUID | None = None,
    post_id: uuid.UUID | None = None,
) -> bool:
    """Mark the channel ``expired`` (with ``values`` and ``guard`` besides) and notify
    the workspace, once: False when it already was expired (or ``guard`` refused)."""
    changed = await session.execute(
        update(Channel)
        .where(Channel.id == channel_id, Channel.status != ChannelStatus.expired, *guard)
        .values(status=ChannelStatus.expired, status_message=message, **(values or {}))
    )
    if changed.rowcount != 1:
        return False
    channel = await session.get(Channel, channel_id)
    assert channel is not None
    await notify(
        session,
        workspace_id=channel.workspace_id,
        event=Event.channel_expired,
        text=(
            f"{channel.name} ({channel.network.value}) must be reconnected: {message}. "
            "Its posts wait until it is."
        ),
        recipients=await workspace_people(session, channel.workspace_id),
        channel_id=channel_id,
        delivery_id=delivery_id,
        post_id=post_id,
    )
    return True
