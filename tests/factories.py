"""Small factories for raw rows, built with the ORM.

Each ``make_*`` adds one row with sensible defaults, overridable by keyword, and
flushes it, so the row has its id and the database has checked its constraints.
A parent may be given as an object (``workspace=ws``) or as an id
(``workspace_id=ws.id``); a missing parent is made on the way. Nothing is
committed: the caller owns the transaction.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Channel,
    Delivery,
    Label,
    Membership,
    Plan,
    PlanKind,
    Post,
    Role,
    User,
    Variant,
    Workspace,
)
from app.networks.base import Network
from app.posts.content import content_hash, effective_content

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def _unique() -> str:
    return f"{_n()}-{uuid.uuid4().hex[:8]}"


async def _save(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.flush()
    return row


async def _workspace_id(session: AsyncSession, workspace: Workspace | None, kw: dict) -> None:
    if "workspace_id" not in kw:
        kw["workspace_id"] = (workspace or await make_workspace(session)).id


async def make_workspace(session: AsyncSession, **kw: Any) -> Workspace:
    suffix = _unique()
    values: dict[str, Any] = {"name": f"Workspace {suffix}", "slug": f"ws-{suffix}"}
    values.update(kw)
    return await _save(session, Workspace(**values))


async def make_user(session: AsyncSession, **kw: Any) -> User:
    suffix = _unique()
    values: dict[str, Any] = {
        "email": f"user-{suffix}@example.org",
        "display_name": f"User {suffix}",
    }
    values.update(kw)
    return await _save(session, User(**values))


async def make_membership(
    session: AsyncSession,
    *,
    workspace: Workspace | None = None,
    user: User | None = None,
    **kw: Any,
) -> Membership:
    await _workspace_id(session, workspace, kw)
    if "user_id" not in kw:
        kw["user_id"] = (user or await make_user(session)).id
    values: dict[str, Any] = {"role": Role.editor, **kw}
    return await _save(session, Membership(**values))


async def make_channel(
    session: AsyncSession, *, workspace: Workspace | None = None, **kw: Any
) -> Channel:
    await _workspace_id(session, workspace, kw)
    values: dict[str, Any] = {"network": Network.sandbox, "name": f"Channel {_n()}", **kw}
    return await _save(session, Channel(**values))


async def make_plan(
    session: AsyncSession, *, workspace: Workspace | None = None, **kw: Any
) -> Plan:
    await _workspace_id(session, workspace, kw)
    values: dict[str, Any] = {
        "kind": PlanKind.month,
        "period": "2026-12",
        "starts_on": date(2026, 12, 1),
        "ends_on": date(2026, 12, 31),
        "title": "December",
        **kw,
    }
    return await _save(session, Plan(**values))


async def make_label(
    session: AsyncSession, *, workspace: Workspace | None = None, **kw: Any
) -> Label:
    await _workspace_id(session, workspace, kw)
    values: dict[str, Any] = {"name": f"label-{_n()}", **kw}
    return await _save(session, Label(**values))


async def make_post(
    session: AsyncSession, *, workspace: Workspace | None = None, **kw: Any
) -> Post:
    await _workspace_id(session, workspace, kw)
    values: dict[str, Any] = {"title": f"Post {_n()}", "body": "Hello from Almanac", **kw}
    return await _save(session, Post(**values))


async def make_variant(
    session: AsyncSession,
    *,
    post: Post | None = None,
    channel: Channel | None = None,
    **kw: Any,
) -> Variant:
    """A variant of ``post`` for ``channel``; ``content_hash`` is computed unless given."""
    if post is None:
        if "post_id" in kw:
            post = await session.get(Post, kw["post_id"])
        else:
            workspace_id = channel.workspace_id if channel is not None else None
            post = await make_post(
                session, **({"workspace_id": workspace_id} if workspace_id else {})
            )
    assert post is not None
    if channel is None and "channel_id" not in kw:
        channel = await make_channel(session, workspace_id=post.workspace_id)
    values: dict[str, Any] = {"post_id": post.id}
    if channel is not None:
        values["channel_id"] = channel.id
    values.update(kw)
    if "content_hash" not in values:
        values["content_hash"] = content_hash(
            effective_content(
                base_text=post.body,
                base_media=post.media or [],
                base_link=post.link,
                text=values.get("text"),
                media=values.get("media"),
                link=values.get("link"),
            )
        )
    return await _save(session, Variant(**values))


async def make_delivery(
    session: AsyncSession, *, variant: Variant | None = None, **kw: Any
) -> Delivery:
    """A delivery of ``variant`` (made if missing); post, channel and workspace follow it."""
    if variant is None:
        if "variant_id" in kw:
            variant = await session.get(Variant, kw["variant_id"])
        else:
            variant = await make_variant(session)
    assert variant is not None
    post = await session.get(Post, variant.post_id)
    assert post is not None
    due_at = kw.pop("due_at", None) or datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(
        minutes=_n()
    )
    values: dict[str, Any] = {
        "workspace_id": post.workspace_id,
        "post_id": post.id,
        "variant_id": variant.id,
        "channel_id": variant.channel_id,
        "due_at": due_at,
        "next_attempt_at": due_at,
        **kw,
    }
    return await _save(session, Delivery(**values))
