"""Workflow steps on a post and the review inbox (thin: rules in ``service``).

Steps take the post's version like every write (``If-Match`` or ``version``) and
answer the post as ``GET`` would, with its new ETag. An impossible step is a 409
with the reason; a step the caller's role may not take, a 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.approvals import service
from app.approvals.schemas import (
    InboxItemRead,
    InboxRead,
    RequestChangesBody,
    StepBody,
    VariantChangeRead,
)
from app.approvals.workflow import TRANSITIONS, Step
from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import SessionDep
from app.models import Post
from app.posts import service as posts
from app.posts.api import IfMatch
from app.posts.schemas import PostRead

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["approvals"])

Reviewer = Annotated[Member, Depends(Authorize(TRANSITIONS[Step.request_changes].action))]

StepService = Callable[[AsyncSession, Member, Post, int | None], Awaitable[Post]]


async def _run(
    step: StepService,
    member: Member,
    post_id: uuid.UUID,
    db: AsyncSession,
    response: Response,
    if_match: str | None,
    body: StepBody | None,
) -> PostRead:
    post = await posts.get_post(db, member.workspace.id, post_id, for_update=True)
    version = posts.sent_version(if_match, body.version if body else None)
    post = await step(db, member, post, version)
    response.headers["ETag"] = posts.etag(post)
    return await posts.to_read(db, post)


_DESCRIPTIONS: dict[Step, str] = {
    Step.submit: "Send a draft (or a post whose changes were asked for) to the reviewers.",
    Step.approve: (
        "Approve the post's current content. With several approvals needed, the post is "
        "approved when enough distinct reviewers approved this exact content."
    ),
    Step.withdraw: "Take a post out of review, back to draft.",
    Step.schedule: "Workspaces without approval: a draft goes straight to approved (scheduled).",
    Step.unschedule: "Back to draft; its waiting deliveries are canceled.",
}
_SERVICES: dict[Step, StepService] = {
    Step.submit: service.submit,
    Step.approve: service.approve,
    Step.withdraw: service.withdraw,
    Step.schedule: service.schedule,
    Step.unschedule: service.unschedule,
}


def _add_step_route(step: Step) -> None:
    """One route per workflow step; who may take it comes from the workflow table."""

    async def take_step(
        post_id: uuid.UUID,
        member: Member,
        db: SessionDep,
        response: Response,
        if_match: IfMatch = None,
        body: Annotated[StepBody | None, Body()] = None,
    ) -> PostRead:
        return await _run(_SERVICES[step], member, post_id, db, response, if_match, body)

    # Set after the fact: with postponed annotations a closure's names cannot be resolved.
    take_step.__annotations__["member"] = Annotated[
        Member, Depends(Authorize(TRANSITIONS[step].action))
    ]
    router.add_api_route(
        f"/posts/{{post_id}}/{step.value}",
        take_step,
        methods=["POST"],
        response_model=PostRead,
        name=f"post_{step.name}",
        summary=f"{step.value.capitalize()} a post",
        description=_DESCRIPTIONS[step],
    )


for _step in _SERVICES:
    _add_step_route(_step)


@router.post("/posts/{post_id}/request-changes", response_model=PostRead)
async def post_request_changes(
    post_id: uuid.UUID,
    body: RequestChangesBody,
    member: Reviewer,
    db: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PostRead:
    """Send the post back to its author with a comment (required)."""

    async def step(db: AsyncSession, member: Member, post: Post, version: int | None) -> Post:
        return await service.request_changes(db, member, post, version, body.comment)

    return await _run(step, member, post_id, db, response, if_match, body)


@router.get("/approvals/inbox", response_model=InboxRead)
async def inbox(
    member: Annotated[Member, Depends(Authorize(Action.posts_read))], db: SessionDep
) -> InboxRead:
    """Posts waiting for the caller's review, soonest due first, with what changed
    since the last approval, per channel. Empty for roles that do not review."""
    items = await service.inbox(db, member)
    return InboxRead(
        items=[
            InboxItemRead(
                post_id=item.post.id,
                title=item.post.title,
                status=item.post.status,
                author_id=item.post.author_id,
                due_at=item.post.due_at,
                due_in_seconds=item.due_in_seconds,
                version=item.post.version,
                approvals=item.approvals,
                approvals_needed=item.approvals_needed,
                last_approved_at=item.last_approved_at,
                changes=[
                    VariantChangeRead(
                        channel_id=c.channel_id,
                        channel_name=c.channel_name,
                        network=c.network,
                        change=c.change,  # type: ignore[arg-type]
                        approved_text=c.approved_text,
                        text=c.text,
                        diff=c.diff,
                    )
                    for c in item.changes
                ],
            )
            for item in items
        ],
        count=len(items),
    )
