"""Workspaces, their members and invitations: the rules, once.

- A workspace's creator is its first owner; slugs are unique.
- The crisis switch (pause/resume) stops all publishing of a workspace.
- Roles: only an owner makes someone owner or changes or removes an owner (admins
  manage everyone else); the last owner can be neither removed nor demoted.
- Invitations are single-use links for one e-mail address, valid for seven days,
  stored only as the SHA-256 of their token.

Every change writes an audit event in the same transaction. Changes to members
and the pause flag first lock the workspace row (``FOR UPDATE`` on PostgreSQL;
SQLite write transactions are serialised already), so two admins acting at once
cannot, say, demote the last two owners together or pause twice.
Services flush; the request commits.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement

from app.audit.service import record
from app.auth.deps import Member
from app.auth.tokens import hash_secret, new_secret
from app.deliveries.overdue import park_overdue
from app.errors import AppError, Conflict, Forbidden, Invalid, NotFound
from app.models import Event, Invitation, Membership, Role, User, Workspace, utcnow
from app.notifications.service import notify, workspace_people
from app.users.service import create_user, get_user_by_email, normalize_email
from app.workspaces.schemas import WorkspaceCreate, WorkspaceUpdate

INVITATION_LIFETIME = timedelta(days=7)
SLUG_MAX = 64
# The order members are listed in.
ROLE_RANK = {role: rank for rank, role in enumerate(Role)}


class Gone(AppError):
    """The thing existed but cannot be used any more (an used or expired invitation)."""

    status_code = 410


# -- workspaces -------------------------------------------------------------------


def slugify(name: str) -> str:
    """'Café Zürich — News' → 'cafe-zurich-news' (ASCII, lower-case, dashes)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[: SLUG_MAX - 4].strip("-") or "workspace"


async def _slug_taken(db: AsyncSession, slug: str, *, other_than: uuid.UUID | None = None) -> bool:
    query = select(Workspace.id).where(Workspace.slug == slug)
    if other_than is not None:
        query = query.where(Workspace.id != other_than)
    return await db.scalar(query) is not None


async def _free_slug(db: AsyncSession, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``… whichever is free first."""
    taken = set(
        (
            await db.scalars(
                select(Workspace.slug).where(
                    or_(Workspace.slug == base, Workspace.slug.like(f"{base}-%"))
                )
            )
        ).all()
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _slug_conflict(slug: str) -> Conflict:
    return Conflict(
        f"The address name '{slug}' is already used by another workspace; choose another slug.",
        errors=[{"field": "slug", "network": None, "message": "already taken"}],
    )


async def _flush_checking_slug(db: AsyncSession, slug: str) -> None:
    # Two requests may pick the same free slug at once: the unique index decides.
    try:
        await db.flush()
    except IntegrityError as exc:
        if "slug" not in str(exc.orig):
            raise
        raise _slug_conflict(slug) from None


async def list_workspaces(db: AsyncSession, user: User) -> list[tuple[Workspace, Role]]:
    """The user's workspaces with their role in each, by name."""
    rows = await db.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id)
        .order_by(func.lower(Workspace.name), Workspace.id)
    )
    return [(workspace, role) for workspace, role in rows.all()]


async def create_workspace(
    db: AsyncSession, *, user: User, data: WorkspaceCreate, request: Request | None = None
) -> Workspace:
    """A new workspace, with ``user`` as its owner."""
    if data.slug is not None:
        if await _slug_taken(db, data.slug):
            raise _slug_conflict(data.slug)
        slug = data.slug
    else:
        slug = await _free_slug(db, slugify(data.name))
    workspace = Workspace(**data.model_dump(exclude={"slug"}), slug=slug)
    db.add(workspace)
    await _flush_checking_slug(db, slug)
    db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.owner))
    await db.flush()
    await record(
        db,
        action="workspace.created",
        actor=user,
        request=request,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        data={"name": workspace.name, "slug": workspace.slug, "timezone": workspace.timezone},
    )
    return workspace


async def _lock_workspace(db: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    """The workspace row, re-read and locked until the transaction ends."""
    workspace = await db.scalar(
        select(Workspace)
        .where(Workspace.id == workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if workspace is None:
        raise NotFound("No such workspace.")
    return workspace


async def update_workspace(
    db: AsyncSession, *, member: Member, data: WorkspaceUpdate, request: Request | None = None
) -> Workspace:
    """Change the fields sent; the audit event lists each change (from → to)."""
    workspace = await _lock_workspace(db, member.workspace.id)
    changes: dict[str, dict[str, object]] = {}
    for field, value in data.changes().items():
        before = getattr(workspace, field)
        if before != value:
            changes[field] = {"from": before, "to": value}
    if not changes:
        return workspace
    new_slug = changes.get("slug", {}).get("to")
    if isinstance(new_slug, str) and await _slug_taken(db, new_slug, other_than=workspace.id):
        raise _slug_conflict(new_slug)
    for field, change in changes.items():
        setattr(workspace, field, change["to"])
    await _flush_checking_slug(db, workspace.slug)
    await record(
        db,
        action="workspace.updated",
        actor=member.user,
        request=request,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        data={"changes": changes},
    )
    return workspace


async def pause_workspace(
    db: AsyncSession, *, member: Member, reason: str, request: Request | None = None
) -> Workspace:
    """The crisis switch: nothing of this workspace is claimed for publishing until resumed."""
    workspace = await _lock_workspace(db, member.workspace.id)
    if workspace.paused:
        raise Conflict(
            "Publishing in this workspace is already paused"
            + (f" ({workspace.paused_reason})." if workspace.paused_reason else ".")
        )
    workspace.paused = True
    workspace.paused_reason = reason
    workspace.paused_at = utcnow()
    workspace.paused_by_id = member.user.id
    await db.flush()
    await record(
        db,
        action="workspace.paused",
        actor=member.user,
        request=request,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        data={"reason": reason},
    )
    because = f": {reason}" if reason else "."
    await notify(
        db,
        workspace_id=workspace.id,
        event=Event.workspace_paused,
        text=f"{member.user.display_name} paused all publishing in {workspace.name}{because}",
        recipients=await workspace_people(db, workspace.id),
        actor_id=member.user.id,
        data={"reason": reason},
    )
    return workspace


async def resume_workspace(
    db: AsyncSession, *, member: Member, request: Request | None = None
) -> Workspace:
    """Publishing starts again; the audit event keeps why and since when it was paused."""
    workspace = await _lock_workspace(db, member.workspace.id)
    if not workspace.paused:
        raise Conflict("Publishing in this workspace is not paused, so there is nothing to resume.")
    paused_at = workspace.paused_at
    data: dict[str, object] = {
        "reason": workspace.paused_reason,
        "paused_at": paused_at.isoformat() if paused_at else None,
        "paused_by_id": str(workspace.paused_by_id) if workspace.paused_by_id else None,
    }
    workspace.paused = False
    workspace.paused_reason = None
    workspace.paused_at = None
    workspace.paused_by_id = None
    await db.flush()
    # No burst: what is past its time now waits for a decision per post (GET .../overdue).
    data["overdue"] = await park_overdue(db, workspace_id=workspace.id)
    await record(
        db,
        action="workspace.resumed",
        actor=member.user,
        request=request,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        data=data,
    )
    await notify(
        db,
        workspace_id=workspace.id,
        event=Event.workspace_resumed,
        text=f"{member.user.display_name} resumed publishing in {workspace.name}.",
        recipients=await workspace_people(db, workspace.id),
        actor_id=member.user.id,
        data={"paused_reason": data["reason"], "paused_at": data["paused_at"]},
    )
    return workspace


# -- members ----------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    user: User
    membership: Membership


async def list_members(db: AsyncSession, workspace_id: uuid.UUID) -> list[MemberRow]:
    """Members by role (owners first), then by name."""
    rows = await db.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
    )
    members = [MemberRow(user=user, membership=membership) for membership, user in rows.all()]
    members.sort(
        key=lambda m: (ROLE_RANK[m.membership.role], m.user.display_name.lower(), m.user.email)
    )
    return members


async def _member_row(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> MemberRow:
    row = (
        await db.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound("This person is not a member of this workspace.")
    return MemberRow(membership=row[0], user=row[1])


async def _owner_count(db: AsyncSession, workspace_id: uuid.UUID) -> int:
    return (
        await db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.owner)
        )
        or 0
    )


async def _actor_role(db: AsyncSession, member: Member) -> Role:
    """The caller's role read again under the workspace lock (it may have just changed)."""
    role = await db.scalar(
        select(Membership.role).where(
            Membership.workspace_id == member.workspace.id, Membership.user_id == member.user.id
        )
    )
    if role is None:
        raise NotFound("No such workspace.")
    return role


def _owners_only(what: str) -> Forbidden:
    return Forbidden(f"Only an owner can {what}; admins manage the other members.")


async def change_role(
    db: AsyncSession,
    *,
    member: Member,
    user_id: uuid.UUID,
    role: Role,
    request: Request | None = None,
) -> MemberRow:
    workspace = await _lock_workspace(db, member.workspace.id)
    actor_role = await _actor_role(db, member)
    target = await _member_row(db, workspace.id, user_id)
    before = target.membership.role
    if before == role:
        return target
    if actor_role != Role.owner:
        if role == Role.owner:
            raise _owners_only("make someone an owner")
        if before == Role.owner:
            raise _owners_only("change an owner's role")
    if before == Role.owner and await _owner_count(db, workspace.id) <= 1:
        raise Conflict(
            f"{target.user.display_name} is the last owner of this workspace and cannot be "
            "given another role; make someone else an owner first."
        )
    target.membership.role = role
    await db.flush()
    await record(
        db,
        action="member.role_changed",
        actor=member.user,
        request=request,
        workspace_id=workspace.id,
        target_type="user",
        target_id=user_id,
        data={"email": target.user.email, "from": before.value, "to": role.value},
    )
    return target


async def remove_member(
    db: AsyncSession, *, member: Member, user_id: uuid.UUID, request: Request | None = None
) -> None:
    """Remove a member, or (``user_id`` is the caller) leave the workspace."""
    workspace = await _lock_workspace(db, member.workspace.id)
    actor_role = await _actor_role(db, member)
    target = await _member_row(db, workspace.id, user_id)
    leaving = user_id == member.user.id
    role = target.membership.role
    if not leaving and role == Role.owner and actor_role != Role.owner:
        raise _owners_only("remove an owner")
    if role == Role.owner and await _owner_count(db, workspace.id) <= 1:
        raise Conflict(
            "You are the last owner of this workspace and cannot leave it; make someone else "
            "an owner first."
            if leaving
            else f"{target.user.display_name} is the last owner of this workspace and cannot "
            "be removed; make someone else an owner first."
        )
    await db.delete(target.membership)
    await db.flush()
    await record(
        db,
        action="member.removed",
        actor=member.user,
        request=request,
        workspace_id=workspace.id,
        target_type="user",
        target_id=user_id,
        data={"email": target.user.email, "role": role.value, "left": leaving},
    )


# -- invitations ------------------------------------------------------------------


def invitation_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invitations/{token}"


async def is_member(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    found = await db.scalar(
        select(Membership.id).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    return found is not None


def _pending(workspace_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return (
        Invitation.workspace_id == workspace_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > utcnow(),
    )


async def create_invitation(
    db: AsyncSession,
    *,
    member: Member,
    email: str,
    role: Role,
    base_url: str,
    request: Request | None = None,
) -> tuple[Invitation, str]:
    """A new invitation and its link (the only time the token exists in clear).

    Inviting an address again replaces its pending invitation: the earlier link
    stops working, so an admin who lost a link simply invites again.
    """
    email = normalize_email(email)
    workspace = await _lock_workspace(db, member.workspace.id)
    if role == Role.owner and await _actor_role(db, member) != Role.owner:
        raise _owners_only("invite an owner")
    existing = await get_user_by_email(db, email)
    if existing is not None and await is_member(db, workspace.id, existing.id):
        raise Conflict(
            f"{email} is already a member of this workspace; change their role instead.",
            errors=[{"field": "email", "network": None, "message": "already a member"}],
        )
    now = utcnow()
    replaced = (
        await db.scalars(
            select(Invitation).where(*_pending(workspace.id), Invitation.email == email)
        )
    ).all()
    for old in replaced:
        old.revoked_at = now
    token = new_secret()
    invitation = Invitation(
        workspace_id=workspace.id,
        email=email,
        role=role,
        token_hash=hash_secret(token),
        invited_by_id=member.user.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    db.add(invitation)
    await db.flush()
    await record(
        db,
        action="invitation.created",
        actor=member.user,
        request=request,
        workspace_id=workspace.id,
        target_type="invitation",
        target_id=invitation.id,
        data={
            "email": email,
            "role": role.value,
            "expires_at": invitation.expires_at.isoformat(),
            "replaces": [str(old.id) for old in replaced],
        },
    )
    return invitation, invitation_link(base_url, token)


async def list_invitations(db: AsyncSession, workspace_id: uuid.UUID) -> list[Invitation]:
    """Pending invitations (not used, withdrawn or expired), newest first."""
    return list(
        (
            await db.scalars(
                select(Invitation)
                .where(*_pending(workspace_id))
                .order_by(Invitation.created_at.desc(), Invitation.id)
            )
        ).all()
    )


async def revoke_invitation(
    db: AsyncSession, *, member: Member, invitation: Invitation, request: Request | None = None
) -> None:
    """Withdraw an invitation: its link stops working. Withdrawing twice is harmless."""
    if invitation.accepted_at is not None:
        raise Conflict(
            f"{invitation.email} has already accepted this invitation; remove the member instead."
        )
    if invitation.revoked_at is not None:
        return
    if invitation.role == Role.owner and await _actor_role(db, member) != Role.owner:
        raise _owners_only("withdraw an invitation to become owner")
    invitation.revoked_at = utcnow()
    await db.flush()
    await record(
        db,
        action="invitation.revoked",
        actor=member.user,
        request=request,
        workspace_id=member.workspace.id,
        target_type="invitation",
        target_id=invitation.id,
        data={"email": invitation.email, "role": invitation.role.value},
    )


@dataclass(frozen=True)
class InvitationLookup:
    """An invitation found by its token, with what its page shows."""

    invitation: Invitation
    workspace: Workspace
    invited_by: User | None

    @property
    def problem(self) -> str | None:
        """Why the link cannot be used any more, as a sentence; None while it can."""
        invitation, name = self.invitation, self.workspace.name
        if invitation.accepted_at is not None:
            return (
                f"This invitation to {name} has already been used. Each link works once; "
                f"ask an admin of {name} for a new one if you still need to join."
            )
        if invitation.revoked_at is not None:
            return (
                f"This invitation to {name} was withdrawn. Ask an admin of {name} for a new "
                "one if you still need to join."
            )
        if invitation.expires_at <= utcnow():
            return (
                f"This invitation to {name} expired on "
                f"{invitation.expires_at:%d %B %Y at %H:%M} UTC. Invitations are valid for "
                f"seven days; ask an admin of {name} for a new one."
            )
        return None


async def find_invitation(db: AsyncSession, token: str) -> InvitationLookup:
    """The invitation of a link, usable or not; 404 for a token that never existed."""
    row = (
        await db.execute(
            select(Invitation, Workspace)
            .join(Workspace, Workspace.id == Invitation.workspace_id)
            .where(Invitation.token_hash == hash_secret(token))
        )
    ).first()
    if row is None:
        raise NotFound(
            "This invitation link is not valid. Check that you copied all of it, or ask for "
            "a new one."
        )
    invitation, workspace = row
    invited_by = await db.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
    return InvitationLookup(invitation=invitation, workspace=workspace, invited_by=invited_by)


async def usable_invitation(db: AsyncSession, token: str) -> InvitationLookup:
    found = await find_invitation(db, token)
    if found.problem:
        raise Gone(found.problem)
    return found


def wrong_account(found: InvitationLookup, user: User) -> str | None:
    """Why ``user`` may not accept this invitation (it is for another address), or None."""
    if normalize_email(user.email) == found.invitation.email:
        return None
    return (
        f"This invitation is for {found.invitation.email}, but you are signed in as "
        f"{user.email}. Sign out and sign in (or create an account) with "
        f"{found.invitation.email} to accept it."
    )


async def accept_invitation(
    db: AsyncSession,
    *,
    token: str,
    user: User,
    request: Request | None = None,
    new_account: bool = False,
) -> Workspace:
    """Make ``user`` a member with the invited role and use the link up."""
    found = await usable_invitation(db, token)
    invitation, workspace = found.invitation, found.workspace
    refusal = wrong_account(found, user)
    if refusal:
        raise Forbidden(refusal)
    await _lock_workspace(db, workspace.id)
    if await is_member(db, workspace.id, user.id):
        raise Conflict(f"You are already a member of {workspace.name}.")
    now = utcnow()
    # Single use even when two tabs accept at once: only one UPDATE matches.
    claimed = await db.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Gone(f"This invitation to {workspace.name} has just been used or withdrawn.")
    set_committed_value(invitation, "accepted_at", now)
    set_committed_value(invitation, "accepted_by_id", user.id)
    db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=invitation.role))
    await db.flush()
    await record(
        db,
        action="invitation.accepted",
        actor=user,
        request=request,
        workspace_id=workspace.id,
        target_type="invitation",
        target_id=invitation.id,
        data={"email": invitation.email, "role": invitation.role.value, "new_account": new_account},
    )
    return workspace


async def sign_up_and_accept(
    db: AsyncSession,
    *,
    token: str,
    display_name: str,
    password: str,
    request: Request | None = None,
) -> tuple[User, Workspace]:
    """Create the invited person's account (for the invited address) and accept."""
    found = await usable_invitation(db, token)
    email = found.invitation.email
    if await get_user_by_email(db, email) is not None:
        raise Conflict(f"An account for {email} already exists; sign in to accept the invitation.")
    display_name = display_name.strip()
    if not display_name or len(display_name) > 120:
        raise Invalid(
            "Enter your name (up to 120 characters): your team sees it next to your work.",
            errors=[{"field": "display_name", "network": None, "message": "required"}],
        )
    user = await create_user(db, email=email, display_name=display_name, password=password)
    workspace = await accept_invitation(
        db, token=token, user=user, request=request, new_account=True
    )
    return user, workspace
