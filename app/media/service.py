"""Media: the rules and the queries.

- One row per distinct file per workspace: the same bytes uploaded again give the
  existing row back. The bytes are stored once per install, by SHA-256, however many
  workspaces uploaded them.
- A file that a post or a variant uses cannot be deleted (409): detach it first.
- Public links (for networks that fetch media by URL) are signed with the secret key
  and expire: ``/m/{id}?exp=<unix time>&sig=<HMAC-SHA256>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import String, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.db import Database
from app.errors import AppError, Conflict, Forbidden, Invalid
from app.logging import get_logger
from app.media import storage
from app.media.schemas import MediaRead
from app.media.upload import Upload
from app.models import Media, Post, User, Variant
from app.settings import Settings

log = get_logger("almanac.media")

TARGET = "media"
_HEX_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class Gone(AppError):
    """The row exists but its bytes are not in the media folder (lost or removed by
    hand): nothing to serve until the file is uploaded again."""

    status_code = 410


DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 500


# -- reading ----------------------------------------------------------------------------


def content_path(workspace_id: uuid.UUID, media_id: uuid.UUID) -> str:
    return f"/api/v1/workspaces/{workspace_id}/media/{media_id}/content"


def to_read(media: Media, settings: Settings) -> MediaRead:
    return MediaRead(
        id=media.id,
        filename=media.filename,
        mime_type=media.mime_type,
        size_bytes=media.size_bytes,
        width=media.width,
        height=media.height,
        duration_seconds=media.duration_seconds,
        video_codec=media.video_codec,
        alt=media.alt,
        created_at=media.created_at,
        url=settings.base_url + content_path(media.workspace_id, media.id),
    )


async def list_media(
    db: AsyncSession, workspace_id: uuid.UUID, *, limit: int = DEFAULT_LIST_LIMIT
) -> list[Media]:
    query = (
        select(Media)
        .where(Media.workspace_id == workspace_id)
        .order_by(Media.created_at.desc(), Media.id.desc())
        .limit(limit)
    )
    return list((await db.scalars(query)).all())


async def media_in_workspace(
    db: AsyncSession, workspace_id: uuid.UUID, media_ids: Iterable[uuid.UUID | str]
) -> dict[uuid.UUID, Media]:
    """The workspace's media rows with these ids, for posts and variants that attach
    them (and for the networks' media rules). Unknown ids, or another workspace's,
    are refused with 422 naming the field."""
    wanted: list[uuid.UUID] = []
    for raw in media_ids:
        try:
            wanted.append(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        except ValueError:
            raise _unknown_media(str(raw)) from None
    if not wanted:
        return {}
    rows = await db.scalars(
        select(Media).where(Media.workspace_id == workspace_id, Media.id.in_(set(wanted)))
    )
    found = {row.id: row for row in rows}
    for media_id in wanted:
        if media_id not in found:
            raise _unknown_media(str(media_id))
    return found


def _unknown_media(media_id: str) -> Invalid:
    return Invalid(
        "A media file was not found in this workspace; upload it first.",
        errors=[{"field": "media", "network": None, "message": f"no media {media_id}"}],
    )


# -- uploading --------------------------------------------------------------------------


async def create_media(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    upload: Upload,
    root: Path,
    actor: User | None,
    request: Request | None = None,
) -> tuple[Media, bool]:
    """Store an uploaded file; returns the row and whether it is new (False: the same
    bytes were already in this workspace). Consumes the received temp file."""
    received = upload.received
    try:
        # Inspect before any SQL: on SQLite the first statement takes the write lock.
        described = await storage.describe(received)
        existing = await _by_sha(db, workspace_id, received.sha256)
        if existing is not None:
            return existing, False
        await storage.store(received, root)
    finally:
        await storage.discard(received.path)  # no-op once stored
    media = Media(
        workspace_id=workspace_id,
        uploaded_by_id=actor.id if actor else None,
        sha256=received.sha256,
        filename=upload.filename,
        mime_type=received.mime_type,
        size_bytes=received.size_bytes,
        width=described.width,
        height=described.height,
        duration_seconds=described.duration_seconds,
        video_codec=described.video_codec,
        alt=(upload.alt or "").strip(),
    )
    try:
        async with db.begin_nested():
            db.add(media)
            await db.flush()
    except IntegrityError:
        # The same bytes uploaded twice at once: the other request won.
        existing = await _by_sha(db, workspace_id, received.sha256)
        if existing is None:
            raise
        return existing, False
    await record(
        db,
        action="media.upload",
        actor=actor,
        request=request,
        workspace_id=workspace_id,
        target_type=TARGET,
        target_id=media.id,
        data={"filename": media.filename, "mime_type": media.mime_type, "size": media.size_bytes},
    )
    return media, True


async def _by_sha(db: AsyncSession, workspace_id: uuid.UUID, sha256: str) -> Media | None:
    return await db.scalar(
        select(Media).where(Media.workspace_id == workspace_id, Media.sha256 == sha256)
    )


# -- changing ---------------------------------------------------------------------------


async def update_alt(
    db: AsyncSession, media: Media, *, alt: str, actor: User, request: Request | None = None
) -> Media:
    media.alt = alt
    await db.flush()
    await record(
        db,
        action="media.update",
        actor=actor,
        request=request,
        workspace_id=media.workspace_id,
        target_type=TARGET,
        target_id=media.id,
        data={"fields": ["alt"]},
    )
    return media


def _uses(items: Any, media_id: str) -> bool:
    return isinstance(items, list) and any(
        isinstance(item, dict) and str(item.get("media_id")) == media_id for item in items
    )


async def users_of(db: AsyncSession, media: Media) -> list[str]:
    """Titles of the posts whose base copy or a variant uses this file."""
    needle = str(media.id)
    # The JSON as text contains the id: a cheap filter, then checked exactly.
    posts = await db.execute(
        select(Post.title, Post.media).where(
            Post.workspace_id == media.workspace_id,
            cast(Post.media, String).contains(needle),
        )
    )
    titles = [title for title, items in posts if _uses(items, needle)]
    variants = await db.execute(
        select(Post.title, Variant.media)
        .join(Post, Post.id == Variant.post_id)
        .where(
            Post.workspace_id == media.workspace_id, cast(Variant.media, String).contains(needle)
        )
    )
    titles += [title for title, items in variants if _uses(items, needle)]
    return sorted(set(titles))


async def delete_media(
    db: AsyncSession, media: Media, *, actor: User, request: Request | None = None
) -> str | None:
    """Delete the row; returns the SHA-256 whose file may now be unused (remove it
    after the commit with :func:`remove_file_if_unused`), or None."""
    titles = await users_of(db, media)
    if titles:
        shown = ", ".join(f"“{title}”" for title in titles[:3])
        more = f" and {len(titles) - 3} more" if len(titles) > 3 else ""
        raise Conflict(f"This file is used by {shown}{more}; remove it from those posts first.")
    sha256 = media.sha256
    await record(
        db,
        action="media.delete",
        actor=actor,
        request=request,
        workspace_id=media.workspace_id,
        target_type=TARGET,
        target_id=media.id,
        data={"filename": media.filename, "sha256": sha256},
    )
    await db.delete(media)
    await db.flush()
    return None if await _sha_in_use(db, sha256) else sha256


async def _sha_in_use(db: AsyncSession, sha256: str) -> bool:
    count = await db.scalar(select(func.count()).select_from(Media).where(Media.sha256 == sha256))
    return bool(count)


async def remove_file_if_unused(database: Database, root: Path, sha256: str) -> None:
    """Remove stored bytes no workspace uses any more; run after the deleting commit
    (checked again then: another workspace may have uploaded the same bytes meanwhile)."""
    async with database.read_session() as db:
        if await _sha_in_use(db, sha256):
            return
    await storage.remove(root, sha256)


# -- public signed links ----------------------------------------------------------------


def _signature(secret_key: str, media_id: uuid.UUID | str, expires: int) -> str:
    message = f"almanac-media:{media_id}:{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def signed_media_url(
    settings: Settings, media: Media, expires_in: timedelta = timedelta(hours=1)
) -> str:
    """A public link to the file that works until ``expires_in`` from now, for networks
    that fetch media by URL (Instagram, Threads). Anyone holding it can download."""
    expires = int(time.time() + expires_in.total_seconds())
    signature = _signature(settings.secret_key, media.id, expires)
    return f"{settings.base_url}/m/{media.id}?exp={expires}&sig={signature}"


def verify_media_signature(
    settings: Settings, media_id: uuid.UUID, exp: str | None, sig: str | None
) -> int:
    """The link's expiry (unix time) if its signature is right and it has not expired;
    otherwise 403."""
    if not exp or not sig or not exp.isdigit() or len(exp) > 12:
        raise Forbidden("This media link is not valid.")
    if not _HEX_SIGNATURE.match(sig):
        raise Forbidden("This media link is not valid.")
    expected = _signature(settings.secret_key, media_id, int(exp))
    if not hmac.compare_digest(expected, sig):
        raise Forbidden("This media link is not valid.")
    if int(exp) < time.time():
        raise Forbidden("This media link has expired; ask for a new one.")
    return int(exp)


def stored_path(root: Path, media: Media) -> Path:
    path = storage.path_for(root, media.sha256)
    if not path.is_file():
        log.warning("media file missing", media_id=str(media.id), sha256=media.sha256)
        raise Gone("This file's content is missing from the media folder; upload it again.")
    return path
