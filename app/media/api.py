"""Media routes: upload, list, read, describe (alt text), delete, download.

Reading and downloading need ``posts.read`` (every member); uploading, changing and
deleting ``posts.write``. ``GET /m/{media_id}`` is public: a signed, expiring link
(see :func:`app.media.service.signed_media_url`) is its permission.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse

from app.auth.deps import Authorize, Member, in_workspace
from app.auth.policy import Action
from app.deps import SessionDep
from app.errors import NotFound
from app.media import service
from app.media.schemas import MediaRead, MediaUpdate
from app.media.storage import ACCEPTED
from app.media.upload import receive_upload
from app.models import Media
from app.settings import Settings

router = APIRouter(prefix="/workspaces/{workspace_id}/media", tags=["media"])
public_router = APIRouter(tags=["media"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]
Writer = Annotated[Member, Depends(Authorize(Action.posts_write))]

# Content-addressed: the bytes behind an id never change.
MEMBER_CACHE = "private, max-age=31536000, immutable"

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ACCEPTED},
                        "alt": {"type": "string", "maxLength": 1500},
                    },
                }
            }
        },
    }
}


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _root(request: Request) -> Path:
    return _settings(request).media_path


async def _readable_media(media_id: uuid.UUID, member: Reader, db: SessionDep) -> Media:
    return await in_workspace(db, Media, media_id, member, "media file")


async def _writable_media(media_id: uuid.UUID, member: Writer, db: SessionDep) -> Media:
    return await in_workspace(db, Media, media_id, member, "media file")


ReadableMedia = Annotated[Media, Depends(_readable_media)]
WritableMedia = Annotated[Media, Depends(_writable_media)]


@router.post(
    "",
    response_model=MediaRead,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": MediaRead, "description": "The same file was already uploaded."},
        413: {"description": "The file is too large."},
        415: {"description": "Not an accepted type (read from the content)."},
    },
)
async def upload_media(
    member: Writer, db: SessionDep, request: Request, response: Response
) -> MediaRead:
    """Upload one file (multipart field ``file``, optional ``alt``): JPEG, PNG, GIF or
    WebP images up to 20 MB, MP4 or QuickTime videos up to 200 MB. The type is read from
    the bytes. The same bytes again answer 200 with the existing file."""
    # End the transaction the membership check opened before receiving the file: a slow
    # upload must not hold the database (on SQLite, the write lock) while it streams.
    await db.commit()
    upload = await receive_upload(request, _root(request))
    media, created = await service.create_media(
        db,
        workspace_id=member.workspace.id,
        upload=upload,
        root=_root(request),
        actor=member.user,
        request=request,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return service.to_read(media, _settings(request))


@router.get("", response_model=list[MediaRead])
async def list_media(
    member: Reader,
    db: SessionDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = service.DEFAULT_LIST_LIMIT,
) -> list[MediaRead]:
    """The workspace's files, newest first."""
    rows = await service.list_media(db, member.workspace.id, limit=limit)
    return [service.to_read(media, _settings(request)) for media in rows]


@router.get("/{media_id}", response_model=MediaRead)
async def read_media(member: Reader, media: ReadableMedia, request: Request) -> MediaRead:
    """One file's description (the bytes are at its ``url``)."""
    return service.to_read(media, _settings(request))


@router.patch("/{media_id}", response_model=MediaRead)
async def update_media(
    data: MediaUpdate, member: Writer, media: WritableMedia, db: SessionDep, request: Request
) -> MediaRead:
    """Change the alt text (read aloud by screen readers; at most 1,500 characters)."""
    media = await service.update_alt(db, media, alt=data.alt, actor=member.user, request=request)
    return service.to_read(media, _settings(request))


@router.delete("/{media_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_media(
    member: Writer,
    media: WritableMedia,
    db: SessionDep,
    request: Request,
    background: BackgroundTasks,
) -> Response:
    """Delete a file no post or variant uses (409 otherwise: detach it first)."""
    unused_sha = await service.delete_media(db, media, actor=member.user, request=request)
    if unused_sha is not None:
        # Background tasks run after the response, so after the commit.
        background.add_task(
            service.remove_file_if_unused, request.app.state.database, _root(request), unused_sha
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT, background=background)


def _file_response(path: Path, media: Media, cache_control: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=media.mime_type,
        filename=media.filename,
        content_disposition_type="inline",
        headers={"cache-control": cache_control, "etag": f'"{media.sha256}"'},
    )


@router.get(
    "/{media_id}/content",
    response_class=FileResponse,
    responses={200: {"description": "The file's bytes, with its sniffed type."}},
)
async def media_content(member: Reader, media: ReadableMedia, request: Request) -> FileResponse:
    """The file itself, for members of the workspace."""
    path = service.stored_path(_root(request), media)
    return _file_response(path, media, MEMBER_CACHE)


@public_router.get(
    "/m/{media_id}",
    response_class=FileResponse,
    responses={
        200: {"description": "The file's bytes."},
        403: {"description": "The link is not valid or has expired."},
    },
)
async def public_media(
    media_id: uuid.UUID,
    db: SessionDep,
    request: Request,
    exp: Annotated[str | None, Query(max_length=20)] = None,
    sig: Annotated[str | None, Query(max_length=128)] = None,
) -> FileResponse:
    """A file behind a signed, expiring link, for networks that fetch media by URL
    (Instagram, Threads). No sign-in: the signature is the permission."""
    expires = service.verify_media_signature(_settings(request), media_id, exp, sig)
    media = await db.get(Media, media_id)
    if media is None:
        raise NotFound("This file no longer exists.")
    path = service.stored_path(_root(request), media)
    remaining = max(0, expires - int(time.time()))
    return _file_response(path, media, f"public, max-age={remaining}")
