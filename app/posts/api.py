"""Post routes: posts, their per-channel copies (variants), revisions and comments.

Reading needs ``posts.read`` (every member), writing ``posts.write`` (editors,
admins, owners). Comments need ``posts.read``: reviewers and viewers comment too.
Reads return ``ETag: W/"<version>"``; writes need it back as ``If-Match`` (or a
``version`` field / query parameter): 428 without it, 412 when it is stale.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import SessionDep
from app.models import Post, PostStatus
from app.posts import comments, revisions, service
from app.posts.schemas import (
    CommentCreate,
    CommentRead,
    PostCreate,
    PostPage,
    PostRead,
    PostUpdate,
    RevisionRead,
    RevisionSummary,
    ValidateRequest,
    ValidateResult,
    VariantPut,
    VersionBody,
)
from app.timeutil import ApiDatetime

router = APIRouter(prefix="/workspaces/{workspace_id}/posts", tags=["posts"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]
Writer = Annotated[Member, Depends(Authorize(Action.posts_write))]
IfMatch = Annotated[
    str | None,
    Header(description='The ETag read from the post (W/"<version>"): the version you change.'),
]
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="The version you change, when If-Match is not sent."),
]
# Far beyond any workspace's number of posts, well inside the database's integers.
MAX_OFFSET = 1_000_000_000


async def _readable_post(post_id: uuid.UUID, member: Reader, db: SessionDep) -> Post:
    return await service.get_post(db, member.workspace.id, post_id)


async def _writable_post(post_id: uuid.UUID, member: Writer, db: SessionDep) -> Post:
    return await service.get_post(db, member.workspace.id, post_id, for_update=True)


ReadablePost = Annotated[Post, Depends(_readable_post)]
WritablePost = Annotated[Post, Depends(_writable_post)]


def _tag(response: Response, post: Post) -> None:
    response.headers["ETag"] = service.etag(post)


@router.get("", response_model=PostPage)
async def list_posts(
    member: Reader,
    db: SessionDep,
    start: Annotated[
        ApiDatetime | None,
        Query(alias="from", description="Due at or after this instant (ISO; naive = UTC)."),
    ] = None,
    end: Annotated[
        ApiDatetime | None, Query(alias="to", description="Due before this instant (ISO).")
    ] = None,
    post_status: Annotated[PostStatus | None, Query(alias="status")] = None,
    channel: uuid.UUID | None = None,
    label: uuid.UUID | None = None,
    plan: uuid.UUID | None = None,
    undated: Annotated[
        bool, Query(description="Only the posts without a date (the backlog), newest first.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PostPage:
    """Posts by due time, undated ideas last. ``from``/``to`` are instants: posts
    whose due time lies in [from, to) (undated ideas are left out when either is given)."""
    posts, total = await service.list_posts(
        db,
        member.workspace.id,
        start=start,
        end=end,
        status=post_status,
        channel_id=channel,
        label_id=label,
        plan_id=plan,
        undated=undated,
        limit=limit,
        offset=offset,
    )
    return PostPage(
        items=[service.to_summary(post) for post in posts], total=total, limit=limit, offset=offset
    )


@router.post("", response_model=PostRead, status_code=status.HTTP_201_CREATED)
async def create_post(
    data: PostCreate, member: Writer, db: SessionDep, response: Response
) -> PostRead:
    """Create a post (an undated ``idea`` or a dated ``draft``) and one copy per channel
    given, each inheriting the base copy and checked against its network."""
    saved = await service.create_post(db, member, data)
    _tag(response, saved.post)
    return await service.to_read(db, saved.post, saved.warnings)


@router.post("/validate", response_model=ValidateResult)
async def validate_post(data: ValidateRequest, member: Writer, db: SessionDep) -> ValidateResult:
    """What each network's rules say of these copies, without saving: the count in the
    network's unit, its limit, errors and warnings."""
    return await service.validate(db, member, data)


@router.get("/{post_id}", response_model=PostRead)
async def read_post(
    member: Reader, post: ReadablePost, db: SessionDep, response: Response
) -> PostRead:
    """One post with its copies; the ETag header carries its version."""
    _tag(response, post)
    return await service.to_read(db, post)


@router.patch("/{post_id}", response_model=PostRead)
async def update_post(
    data: PostUpdate,
    member: Writer,
    post: WritablePost,
    db: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PostRead:
    """Change some fields. Moving a post out of its plan's period needs ``plan_id``
    (another plan, or null) in the same request."""
    version = service.sent_version(if_match, data.version)
    saved = await service.update_post(db, member, post, data, version)
    _tag(response, saved.post)
    return await service.to_read(db, saved.post, saved.warnings)


@router.delete("/{post_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_post(
    member: Writer,
    post: WritablePost,
    db: SessionDep,
    if_match: IfMatch = None,
    version: VersionQuery = None,
) -> Response:
    """Delete a post (refused once one of its copies is being or has been published)."""
    await service.delete_post(db, post, service.sent_version(if_match, version))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{post_id}/variants/{channel_id}", response_model=PostRead)
async def put_variant(
    channel_id: uuid.UUID,
    data: VariantPut,
    member: Writer,
    post: WritablePost,
    db: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PostRead:
    """Set the copy for one channel: its own text (null inherits the base copy), media,
    link and time. Checked against the channel's network; bumps the post's version."""
    version = service.sent_version(if_match, data.version)
    saved = await service.put_variant(db, member, post, channel_id, data, version)
    _tag(response, saved.post)
    return await service.to_read(db, saved.post, saved.warnings)


@router.delete("/{post_id}/variants/{channel_id}", response_model=PostRead)
async def delete_variant(
    channel_id: uuid.UUID,
    member: Writer,
    post: WritablePost,
    db: SessionDep,
    response: Response,
    if_match: IfMatch = None,
    version: VersionQuery = None,
) -> PostRead:
    """Stop publishing this post to one channel."""
    saved = await service.delete_variant(
        db, member, post, channel_id, service.sent_version(if_match, version)
    )
    _tag(response, saved.post)
    return await service.to_read(db, saved.post)


@router.get("/{post_id}/revisions", response_model=list[RevisionSummary])
async def list_revisions(
    member: Reader, post: ReadablePost, db: SessionDep
) -> list[RevisionSummary]:
    """Every change of the post's content or time, newest first."""
    return [revisions.to_summary(r) for r in await revisions.list_revisions(db, post)]


@router.get("/{post_id}/revisions/{revision_id}", response_model=RevisionRead)
async def read_revision(
    revision_id: uuid.UUID, member: Reader, post: ReadablePost, db: SessionDep
) -> RevisionRead:
    """One revision: who, when, which fields, the post before and after."""
    return revisions.to_read(await revisions.get_revision(db, post, revision_id))


@router.post("/{post_id}/revisions/{revision_id}/restore", response_model=PostRead)
async def restore_revision(
    revision_id: uuid.UUID,
    member: Writer,
    post: WritablePost,
    db: SessionDep,
    response: Response,
    data: Annotated[VersionBody | None, Body()] = None,
    if_match: IfMatch = None,
) -> PostRead:
    """Bring the post back to how it was after that revision (a new revision itself)."""
    revision = await revisions.get_revision(db, post, revision_id)
    version = service.sent_version(if_match, data.version if data else None)
    saved = await revisions.restore(db, member, post, revision, version)
    _tag(response, saved.post)
    return await service.to_read(db, saved.post, saved.warnings)


@router.get("/{post_id}/comments", response_model=list[CommentRead])
async def list_comments(member: Reader, post: ReadablePost, db: SessionDep) -> list[CommentRead]:
    """The post's comments, oldest first."""
    return [comments.to_read(c) for c in await comments.list_comments(db, post)]


@router.post("/{post_id}/comments", response_model=CommentRead, status_code=status.HTTP_201_CREATED)
async def add_comment(
    data: CommentCreate, member: Reader, post: ReadablePost, db: SessionDep
) -> CommentRead:
    """Comment on a post; ``@alice`` mentions the member whose e-mail is alice@…"""
    return comments.to_read(await comments.add_comment(db, member, post, data.body))


@router.delete("/{post_id}/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_comment(
    comment_id: uuid.UUID, member: Reader, post: ReadablePost, db: SessionDep
) -> Response:
    """Delete your own comment (admins and owners: any)."""
    await comments.delete_comment(db, member, post, comment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
