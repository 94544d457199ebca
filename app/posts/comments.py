"""Comments on posts, with @mentions.

A mention is ``@`` followed by the local part of a member's e-mail address
(``@alice`` for alice@example.org), case-insensitive: display names have spaces
and repeat, e-mail addresses do not. Mentions of people who are not members of
the workspace are ignored. The mentioned user ids are stored with the comment,
and each of them is notified (``mentioned``), except the comment's author.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Member
from app.errors import Forbidden, NotFound
from app.models import Comment, Event, Membership, Post, Role, User
from app.notifications.service import notify
from app.posts.schemas import CommentRead

_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9][A-Za-z0-9._%+-]*)")


def mentioned_names(body: str) -> set[str]:
    """The local parts mentioned in a text, lower-cased (a trailing dot is punctuation)."""
    return {match.rstrip(".").lower() for match in _MENTION.findall(body)}


async def mentioned_members(
    db: AsyncSession, workspace_id: uuid.UUID, body: str
) -> list[uuid.UUID]:
    names = mentioned_names(body)
    if not names:
        return []
    rows = await db.execute(
        select(User.id, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
    )
    found = {user_id for user_id, email in rows if email.rpartition("@")[0].lower() in names}
    return sorted(found, key=str)


async def list_comments(db: AsyncSession, post: Post) -> list[Comment]:
    query = (
        select(Comment).where(Comment.post_id == post.id).order_by(Comment.created_at, Comment.id)
    )
    return list((await db.scalars(query)).all())


async def add_comment(db: AsyncSession, member: Member, post: Post, body: str) -> Comment:
    mentions = await mentioned_members(db, member.workspace.id, body)
    comment = Comment(
        post_id=post.id,
        author_id=member.user.id,
        body=body,
        mentions=[str(user_id) for user_id in mentions],
    )
    db.add(comment)
    await db.flush()
    if mentions:
        await notify(
            db,
            workspace_id=member.workspace.id,
            event=Event.mentioned,
            text=f"{member.user.display_name} mentioned you on “{post.title}”: {_excerpt(body)}",
            recipients=mentions,
            actor_id=member.user.id,
            post_id=post.id,
            data={"comment_id": str(comment.id), "comment": body},
        )
    return comment


def _excerpt(body: str, limit: int = 140) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def delete_comment(
    db: AsyncSession, member: Member, post: Post, comment_id: uuid.UUID
) -> None:
    """Authors delete their own comments; admins and owners any."""
    comment = await db.get(Comment, comment_id)
    if comment is None or comment.post_id != post.id:
        raise NotFound("No such comment on this post.")
    if comment.author_id != member.user.id and member.role not in (Role.owner, Role.admin):
        raise Forbidden("Only its author or an admin can delete a comment.")
    await db.delete(comment)
    await db.flush()


def to_read(comment: Comment) -> CommentRead:
    return CommentRead(
        id=comment.id,
        post_id=comment.post_id,
        author_id=comment.author_id,
        body=comment.body,
        mentions=[uuid.UUID(user_id) for user_id in comment.mentions],
        created_at=comment.created_at,
    )
