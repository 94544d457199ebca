"""Delivery routes: the publishing side of posts (thin: the rules are in ``service``).

Reading needs ``posts.read`` (every member). Publish now, retry, mark published,
take down and the overdue decisions need ``posts.publish`` (editors, admins,
owners): the same people who may schedule a post may publish it now, and take it
down in a crisis. Every action is audited; a delivery that changed meanwhile
answers 409.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.channels.api import Adapters, Box
from app.deliveries import service
from app.deliveries.schemas import (
    ActionResult,
    DecisionResult,
    DeliveryPage,
    DeliveryRead,
    MarkPublishedBody,
    OverdueDecision,
    OverdueList,
    PostMetrics,
    PublishNowResult,
    RetryBody,
)
from app.deps import SessionDep
from app.models import DeliveryStatus
from app.posts import service as posts
from app.timeutil import ApiDatetime

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["deliveries"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]
Publisher = Annotated[Member, Depends(Authorize(Action.posts_publish))]
MAX_OFFSET = 1_000_000_000


class TakeDownBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    removed_by_hand: bool = Field(
        default=False,
        description="The post was removed on the network already (some networks offer "
        "no deletion through their API): only record it as removed.",
    )


@router.get("/posts/{post_id}/deliveries", response_model=list[DeliveryRead])
async def post_deliveries(post_id: uuid.UUID, member: Reader, db: SessionDep) -> list[DeliveryRead]:
    """Every delivery of the post, with its attempts (time, outcome, error, HTTP status)."""
    return await service.post_deliveries(db, member.workspace.id, post_id)


@router.get("/posts/{post_id}/metrics", response_model=PostMetrics)
async def post_metrics(post_id: uuid.UUID, member: Reader, db: SessionDep) -> PostMetrics:
    """How the post did on each channel: snapshots 1 h, 24 h and 7 days after publishing
    (figures a network does not give are null)."""
    return await service.post_metrics(db, member.workspace.id, post_id)


@router.post("/posts/{post_id}/publish-now", response_model=PublishNowResult)
async def publish_now(
    post_id: uuid.UUID, member: Publisher, db: SessionDep, request: Request
) -> PublishNowResult:
    """Every waiting delivery of the post whose content is approved goes out now; the
    others are listed in ``held`` with the reason. 409 when none can go."""
    post = await posts.get_post(db, member.workspace.id, post_id, for_update=True)
    return await service.publish_now(db, member, post, request)


@router.get("/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    member: Reader,
    db: SessionDep,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    channel: Annotated[uuid.UUID | None, Query(description="A channel id.")] = None,
    start: Annotated[
        ApiDatetime | None,
        Query(alias="from", description="Due at or after this instant (ISO; naive = UTC)."),
    ] = None,
    end: Annotated[
        ApiDatetime | None, Query(alias="to", description="Due before this instant (ISO).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DeliveryPage:
    """The workspace's deliveries, latest due first, with their attempts."""
    return await service.list_deliveries(
        db,
        member.workspace.id,
        status=delivery_status,
        channel_id=channel,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead)
async def read_delivery(delivery_id: uuid.UUID, member: Reader, db: SessionDep) -> DeliveryRead:
    """One delivery with its attempts."""
    row = await service.get_delivery(db, member.workspace.id, delivery_id)
    return (await service.read_deliveries(db, [row.delivery.id]))[0]


@router.post("/deliveries/{delivery_id}/retry", response_model=ActionResult)
async def retry(
    delivery_id: uuid.UUID,
    member: Publisher,
    db: SessionDep,
    request: Request,
    body: Annotated[RetryBody | None, Body()] = None,
) -> ActionResult:
    """A failed, missed or uncertain delivery is tried again now. An uncertain one (the
    post may already be out) needs ``{"confirm": true}``; the answer warns again."""
    delivery, warning = await service.retry(
        db, member, delivery_id, confirm=bool(body and body.confirm), request=request
    )
    return ActionResult(delivery=delivery, warning=warning)


@router.post("/deliveries/{delivery_id}/mark-published", response_model=ActionResult)
async def mark_published(
    delivery_id: uuid.UUID,
    body: MarkPublishedBody,
    member: Publisher,
    db: SessionDep,
    request: Request,
) -> ActionResult:
    """An uncertain delivery found on the network: record it as published at ``url``."""
    delivery = await service.mark_published(
        db, member, delivery_id, url=body.url, external_id=body.external_id, request=request
    )
    return ActionResult(delivery=delivery)


@router.post("/deliveries/{delivery_id}/take-down", response_model=ActionResult)
async def take_down(
    delivery_id: uuid.UUID,
    member: Publisher,
    db: SessionDep,
    box: Box,
    adapters: Adapters,
    request: Request,
    body: Annotated[TakeDownBody | None, Body()] = None,
) -> ActionResult:
    """Remove a published post from its network (``removed``). The network's refusal is
    a 409 with its words; a network that did not answer, a 502."""
    delivery = await service.take_down(
        db,
        member,
        delivery_id,
        box=box,
        adapters=adapters,
        removed_by_hand=bool(body and body.removed_by_hand),
        request=request,
    )
    return ActionResult(delivery=delivery)


@router.get("/overdue", response_model=OverdueList)
async def overdue(member: Reader, db: SessionDep) -> OverdueList:
    """Posts that were due while publishing was paused: after the resume, each waits for
    a decision (``POST .../overdue/{post_id}``) instead of going out in a burst."""
    return await service.overdue(db, member.workspace)


@router.post("/overdue/{post_id}", response_model=DecisionResult)
async def decide(
    post_id: uuid.UUID,
    body: OverdueDecision,
    member: Publisher,
    db: SessionDep,
    request: Request,
) -> DecisionResult:
    """Decide about one late post: ``publish_now``, ``shift`` (``minutes`` later than
    planned; the post's time moves) or ``skip`` (its late deliveries are canceled)."""
    return await service.decide(
        db, member, post_id, decision=body.decision, minutes=body.minutes, request=request
    )
