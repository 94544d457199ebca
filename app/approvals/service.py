"""The approval workflow's rules: steps, the workspace's approval policy, exact content.

Approval is of exact content. Each variant keeps ``content_hash`` (what would be
published now) and ``approved_hash`` (what was approved): a delivery is claimable
only when the two are equal, so these services keep ``approved_hash`` right and the
scheduler compares two columns. ``approved_hash`` is set only while a post is
scheduled (approved, or back in review after an edit); a post that returns to draft
loses it, so nothing of a draft can go out.
"""

from __future__ import annotations

import difflib
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.approvals.workflow import TRANSITIONS, Step, refusal
from app.audit.service import record
from app.auth.deps import Member
from app.auth.policy import REVIEWERS, Action, allowed
from app.deliveries.wake import wake_dispatch
from app.errors import Conflict, Forbidden
from app.models import Approval, Channel, Delivery, DeliveryStatus, Post, PostStatus, Variant
from app.models.base import utcnow
from app.notifications.service import Event, notify, post_people
from app.posts.content import effective_content
from app.posts.deliveries import sync_deliveries
from app.posts.service import check_version

TARGET = "post"


# -- content ------------------------------------------------------------------------


def fingerprint(post: Post) -> str:
    """One hash of every variant's content: approvals count only for this content."""
    parts = sorted(f"{variant.channel_id}:{variant.content_hash}" for variant in post.variants)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def approved_content(post: Post) -> dict[str, dict[str, object]]:
    """Each variant's publishable copy, as kept with an approval (for later diffs)."""
    content: dict[str, dict[str, object]] = {}
    for variant in post.variants:
        effective = effective_content(
            base_text=post.body,
            base_media=post.media,
            base_link=post.link,
            text=variant.text,
            media=variant.media,
            link=variant.link,
        )
        content[str(variant.channel_id)] = {
            "hash": variant.content_hash,
            "text": effective.text,
            "link": effective.link,
            "media": list(effective.media),
        }
    return content


def approved_clause() -> ColumnElement[bool]:
    """SQL: the variant's current content is approved. The scheduler's claim uses it."""
    return and_(Variant.approved_hash.is_not(None), Variant.approved_hash == Variant.content_hash)


def unapproved_variants(post: Post) -> list[Variant]:
    return [v for v in post.variants if v.approved_hash != v.content_hash]


def may_review(member: Member, post: Post) -> bool:
    """Reviewer role, and not the author under four eyes."""
    if not allowed(member.role, Action.posts_approve):
        return False
    return member.workspace.authors_may_self_approve or post.author_id != member.user.id


def _approve_all(post: Post) -> None:
    for variant in post.variants:
        variant.approved_hash = variant.content_hash


def _clear_approval(post: Post) -> None:
    for variant in post.variants:
        variant.approved_hash = None


@dataclass(frozen=True, slots=True)
class ApprovalChange:
    """What :func:`after_content_change` decided, for the notifications after the flush."""

    sent_back: bool
    edited_channels: list[uuid.UUID]
    approved_now: bool = False  # the edit itself counts as approved: wake the scheduler


def after_content_change(member: Member, post: Post) -> ApprovalChange:
    """Called by the posts service after it wrote new content, before its flush.

    - approval off, post scheduled: every saved edit counts as approved;
    - approved post with a variant whose content changed (or a new variant): the
      post returns to ``in_review`` and only that variant waits; the others keep
      their approval and publish on time — unless the workspace lets a reviewer's
      own edit keep approval and the editor is such a reviewer.
    """
    workspace = member.workspace
    if post.status is not PostStatus.approved:
        return ApprovalChange(False, [])
    edited = unapproved_variants(post)
    if not edited:
        return ApprovalChange(False, [])
    if not workspace.approval_required or (
        workspace.reviewer_edit_keeps_approval and may_review(member, post)
    ):
        _approve_all(post)
        return ApprovalChange(False, [], approved_now=True)
    post.status = PostStatus.in_review
    return ApprovalChange(True, [variant.channel_id for variant in edited])


async def announce_content_change(
    db: AsyncSession, member: Member, post: Post, change: ApprovalChange
) -> None:
    """Audit and notify an edit that sent an approved post back to review (after flush)."""
    if change.approved_now:
        await wake_dispatch(db)
    if not change.sent_back:
        return
    names = await _channel_names(db, change.edited_channels)
    await record(
        db,
        action="post.edited_after_approval",
        actor=member.user,
        workspace_id=post.workspace_id,
        target_type=TARGET,
        target_id=post.id,
        data={
            "channels": [str(c) for c in change.edited_channels],
            "content_hashes": _hashes(post),
        },
    )
    await notify(
        db,
        workspace_id=post.workspace_id,
        event=Event.edited_after_approval,
        text=(
            f"{member.user.display_name} edited “{post.title}” after it was approved: "
            f"the {', '.join(names)} copy waits for a new approval; the others stay scheduled."
        ),
        recipients=await post_people(db, post),
        actor_id=member.user.id,
        post_id=post.id,
        data={"channels": [str(c) for c in change.edited_channels]},
    )


# -- steps --------------------------------------------------------------------------


def _check_step(member: Member, post: Post, step: Step) -> None:
    transition = TRANSITIONS[step]
    if not member.may(transition.action):
        raise Forbidden(f"Your role ({member.role.value}) cannot {transition.verb} posts.")
    reason = refusal(step, post.status, approval_required=member.workspace.approval_required)
    if reason is not None:
        raise Conflict(reason)


def _check_publishable(post: Post, step: Step) -> None:
    verb = TRANSITIONS[step].verb
    if post.due_at is None:
        raise Conflict(f"Give this post a date and time before you {verb} it.")
    if not post.variants:
        raise Conflict(f"Add at least one channel to this post before you {verb} it.")


async def _audit(db: AsyncSession, member: Member, post: Post, step: Step, **data: object) -> None:
    await record(
        db,
        action=f"post.{step.value.replace('-', '_')}",
        actor=member.user,
        workspace_id=post.workspace_id,
        target_type=TARGET,
        target_id=post.id,
        data={"status": post.status.value, "content_hashes": _hashes(post), **data},
    )


def _hashes(post: Post) -> dict[str, str]:
    return {str(v.channel_id): v.content_hash for v in post.variants}


def _bump(post: Post) -> None:
    """A workflow step is a change of the post: its version moves (ETag clients see it)."""
    post.updated_at = utcnow()


async def submit(db: AsyncSession, member: Member, post: Post, version: int | None) -> Post:
    check_version(post, version)
    _check_step(member, post, Step.submit)
    _check_publishable(post, Step.submit)
    post.status = PostStatus.in_review
    _bump(post)
    await db.flush()
    await sync_deliveries(db, post)  # an unscheduled post's deliveries were canceled
    await _audit(db, member, post, Step.submit)
    await notify(
        db,
        workspace_id=post.workspace_id,
        event=Event.submitted,
        text=f"{member.user.display_name} submitted “{post.title}” for review.",
        recipients=await post_people(db, post),
        actor_id=member.user.id,
        post_id=post.id,
    )
    return post


async def approvals_of_current_content(db: AsyncSession, post: Post) -> list[Approval]:
    query = select(Approval).where(
        Approval.post_id == post.id,
        Approval.fingerprint == fingerprint(post),
        Approval.withdrawn.is_(False),
    )
    return list((await db.scalars(query.order_by(Approval.created_at))).all())


async def approve(db: AsyncSession, member: Member, post: Post, version: int | None) -> Post:
    check_version(post, version)
    _check_step(member, post, Step.approve)
    workspace = member.workspace
    if post.author_id == member.user.id and not workspace.authors_may_self_approve:
        raise Forbidden(
            "You wrote this post, and this workspace asks for four eyes: another reviewer "
            "must approve it."
        )
    current = await approvals_of_current_content(db, post)
    if any(a.reviewer_id == member.user.id for a in current):
        missing = workspace.approvals_needed - len(current)
        raise Conflict(
            f"You have already approved this version; it needs {missing} more approval"
            f"{'s' if missing != 1 else ''} from other reviewers."
        )
    db.add(
        Approval(
            post_id=post.id,
            reviewer_id=member.user.id,
            fingerprint=fingerprint(post),
            content=approved_content(post),
        )
    )
    count = len(current) + 1
    complete = count >= workspace.approvals_needed
    if complete:
        _approve_all(post)
        post.status = PostStatus.approved
    _bump(post)
    await db.flush()
    if complete:
        await wake_dispatch(db)  # approved minutes before its slot: do not wait for a poll
    await _audit(db, member, post, Step.approve, approvals=count, needed=workspace.approvals_needed)
    if complete:
        await notify(
            db,
            workspace_id=post.workspace_id,
            event=Event.approved,
            text=f"{member.user.display_name} approved “{post.title}”: it is scheduled.",
            recipients=await post_people(db, post),
            actor_id=member.user.id,
            post_id=post.id,
            data={"approvals": count},
        )
    return post


async def request_changes(
    db: AsyncSession, member: Member, post: Post, version: int | None, comment: str
) -> Post:
    from app.posts.comments import add_comment

    check_version(post, version)
    _check_step(member, post, Step.request_changes)
    post.status = PostStatus.changes_requested
    _bump(post)
    await db.flush()
    note = await add_comment(db, member, post, comment)
    await _audit(db, member, post, Step.request_changes, comment_id=str(note.id))
    await notify(
        db,
        workspace_id=post.workspace_id,
        event=Event.changes_requested,
        text=f"{member.user.display_name} asked for changes to “{post.title}”: {comment}",
        recipients=await post_people(db, post),
        actor_id=member.user.id,
        post_id=post.id,
        data={"comment": comment},
    )
    return post


async def withdraw(db: AsyncSession, member: Member, post: Post, version: int | None) -> Post:
    check_version(post, version)
    _check_step(member, post, Step.withdraw)
    return await _back_to_draft(db, member, post, Step.withdraw)


async def unschedule(db: AsyncSession, member: Member, post: Post, version: int | None) -> Post:
    check_version(post, version)
    _check_step(member, post, Step.unschedule)
    return await _back_to_draft(db, member, post, Step.unschedule)


async def _back_to_draft(db: AsyncSession, member: Member, post: Post, step: Step) -> Post:
    """Draft again: no approval is kept, and the waiting deliveries are canceled (a
    delivery already sending or published is history and stays)."""
    post.status = PostStatus.draft
    _clear_approval(post)
    _bump(post)
    await db.flush()
    await db.execute(
        update(Approval)
        .where(Approval.post_id == post.id, Approval.withdrawn.is_(False))
        .values(withdrawn=True)
        .execution_options(synchronize_session=False)
    )
    canceled = await db.execute(
        update(Delivery)
        .where(
            Delivery.post_id == post.id,
            Delivery.status.in_((DeliveryStatus.pending, DeliveryStatus.retrying)),
        )
        .values(status=DeliveryStatus.canceled, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await _audit(db, member, post, step, canceled_deliveries=canceled.rowcount)
    return post


async def schedule(db: AsyncSession, member: Member, post: Post, version: int | None) -> Post:
    """Approval off: a draft goes straight to approved, its current content approved."""
    check_version(post, version)
    _check_step(member, post, Step.schedule)
    _check_publishable(post, Step.schedule)
    post.status = PostStatus.approved
    _approve_all(post)
    _bump(post)
    await db.flush()
    await sync_deliveries(db, post)  # unscheduling canceled them: queue new ones
    await wake_dispatch(db)
    await _audit(db, member, post, Step.schedule)
    return post


async def _channel_names(db: AsyncSession, channel_ids: list[uuid.UUID]) -> list[str]:
    if not channel_ids:
        return []
    rows = await db.execute(
        select(Channel.id, Channel.name, Channel.network).where(Channel.id.in_(channel_ids))
    )
    names = {row.id: f"{row.name} ({row.network.value})" for row in rows}
    return [names.get(cid, str(cid)) for cid in channel_ids]


# -- the review inbox ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantChange:
    channel_id: uuid.UUID
    channel_name: str
    network: str
    change: str  # "new" | "changed" | "unchanged"
    approved_text: str | None
    text: str
    diff: list[str]  # unified diff lines of the text, empty when unchanged


@dataclass(frozen=True, slots=True)
class InboxItem:
    post: Post
    due_in_seconds: int | None
    approvals: int
    approvals_needed: int
    last_approved_at: datetime | None
    changes: list[VariantChange]


async def inbox(
    db: AsyncSession, member: Member, *, now: datetime | None = None
) -> list[InboxItem]:
    """Posts waiting for the caller's review, soonest due first (undated last)."""
    if member.role not in REVIEWERS:
        return []
    from sqlalchemy.orm import selectinload

    now = now or utcnow()
    posts = (
        await db.scalars(
            select(Post)
            .where(Post.workspace_id == member.workspace.id, Post.status == PostStatus.in_review)
            .options(selectinload(Post.variants), selectinload(Post.labels))
            .order_by(Post.due_at.is_(None), Post.due_at, Post.created_at)
        )
    ).all()
    posts = [post for post in posts if may_review(member, post)]
    if not posts:
        return []
    ids = [post.id for post in posts]
    approvals = (
        await db.scalars(
            select(Approval).where(Approval.post_id.in_(ids)).order_by(Approval.created_at)
        )
    ).all()
    by_post: dict[uuid.UUID, list[Approval]] = {}
    for approval in approvals:
        by_post.setdefault(approval.post_id, []).append(approval)
    channel_rows = await db.execute(
        select(Channel.id, Channel.name, Channel.network).where(
            Channel.workspace_id == member.workspace.id
        )
    )
    channels = {row.id: (row.name, row.network.value) for row in channel_rows}
    items: list[InboxItem] = []
    for post in posts:
        history = by_post.get(post.id, [])
        current_print = fingerprint(post)
        current = [a for a in history if a.fingerprint == current_print and not a.withdrawn]
        if any(a.reviewer_id == member.user.id for a in current):
            continue  # already approved by the caller; waiting for someone else
        last = history[-1] if history else None
        items.append(
            InboxItem(
                post=post,
                due_in_seconds=(
                    int((post.due_at - now).total_seconds()) if post.due_at is not None else None
                ),
                approvals=len(current),
                approvals_needed=member.workspace.approvals_needed,
                last_approved_at=last.created_at if last else None,
                changes=_changes(post, last, channels),
            )
        )
    return items


def _changes(
    post: Post, last: Approval | None, channels: dict[uuid.UUID, tuple[str, str]]
) -> list[VariantChange]:
    before = last.content if last is not None else {}
    now_content = approved_content(post)
    changes = []
    for channel_id, content in sorted(now_content.items()):
        cid = uuid.UUID(channel_id)
        name, network = channels.get(cid, (channel_id, ""))
        old = before.get(channel_id)
        text = str(content["text"])
        if old is None:
            kind, old_text, diff = "new", None, []
        elif old.get("hash") == content["hash"]:
            kind, old_text, diff = "unchanged", str(old.get("text", "")), []
        else:
            old_text = str(old.get("text", ""))
            kind = "changed"
            diff = list(
                difflib.unified_diff(
                    old_text.splitlines(),
                    text.splitlines(),
                    fromfile="approved",
                    tofile="now",
                    lineterm="",
                )
            )
            if old.get("link") != content["link"]:
                diff.append(f"link: {old.get('link')} → {content['link']}")
            if old.get("media") != content["media"]:
                diff.append("media changed")
        changes.append(VariantChange(cid, name, network, kind, old_text, text, diff))
    return changes


async def count_in_review(db: AsyncSession, workspace_id: uuid.UUID) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Post)
            .where(Post.workspace_id == workspace_id, Post.status == PostStatus.in_review)
        )
        or 0
    )
