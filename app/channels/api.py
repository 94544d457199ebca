"""Channel routes: one connected account on one network, per workspace.

Reading needs ``channels.read`` (every member); everything else ``channels.manage``
(admins and owners). Credentials are write-only.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status

from app.auth.deps import Authorize, Member, in_workspace
from app.auth.policy import Action
from app.channels import service
from app.channels.schemas import ChannelCreate, ChannelPause, ChannelRead, ChannelUpdate
from app.crypto import CredentialBox
from app.deps import SessionDep
from app.models import Channel
from app.net.outbound import shared_client
from app.networks import AdapterContext
from app.oauth.service import adapter_context as oauth_adapter_context

router = APIRouter(prefix="/workspaces/{workspace_id}/channels", tags=["channels"])

Reader = Annotated[Member, Depends(Authorize(Action.channels_read))]
Manager = Annotated[Member, Depends(Authorize(Action.channels_manage))]


def credential_box(request: Request) -> CredentialBox:
    return CredentialBox(request.app.state.settings.encryption_keys)


def adapter_context(request: Request) -> AdapterContext:
    """Adapters on the app's one guarded client, with the configured OAuth applications."""
    app = request.app
    return oauth_adapter_context(
        app.state.settings, shared_client(app), app.state.database.write_session
    )


Box = Annotated[CredentialBox, Depends(credential_box)]
Adapters = Annotated[AdapterContext, Depends(adapter_context)]


async def _readable_channel(channel_id: uuid.UUID, member: Reader, db: SessionDep) -> Channel:
    return await in_workspace(db, Channel, channel_id, member, "channel")


async def _managed_channel(channel_id: uuid.UUID, member: Manager, db: SessionDep) -> Channel:
    return await in_workspace(db, Channel, channel_id, member, "channel")


ReadableChannel = Annotated[Channel, Depends(_readable_channel)]
ManagedChannel = Annotated[Channel, Depends(_managed_channel)]


@router.get("", response_model=list[ChannelRead])
async def list_channels(member: Reader, db: SessionDep, box: Box) -> list[ChannelRead]:
    """The workspace's channels. Credentials are never returned, only their field names."""
    channels = await service.list_channels(db, member.workspace.id)
    return [service.to_read(channel, box) for channel in channels]


@router.post("", response_model=ChannelRead, status_code=status.HTTP_201_CREATED)
async def create_channel(
    data: ChannelCreate, member: Manager, db: SessionDep, box: Box, request: Request
) -> ChannelRead:
    """Connect an account: its network, a name and its credentials (stored encrypted)."""
    channel = await service.create_channel(
        db,
        workspace_id=member.workspace.id,
        data=data,
        box=box,
        actor=member.user,
        request=request,
    )
    return service.to_read(channel, box)


@router.get("/{channel_id}", response_model=ChannelRead)
async def read_channel(member: Reader, channel: ReadableChannel, box: Box) -> ChannelRead:
    """One channel."""
    return service.to_read(channel, box)


@router.patch("/{channel_id}", response_model=ChannelRead)
async def update_channel(
    data: ChannelUpdate,
    member: Manager,
    channel: ManagedChannel,
    db: SessionDep,
    box: Box,
    request: Request,
) -> ChannelRead:
    """Rename a channel or replace its credentials (all of them: new ones replace the old)."""
    channel = await service.update_channel(
        db, channel, data=data, box=box, actor=member.user, request=request
    )
    return service.to_read(channel, box)


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    member: Manager, channel: ManagedChannel, db: SessionDep, request: Request
) -> Response:
    """Delete a channel that never had a delivery; one with a history can be paused."""
    await service.delete_channel(db, channel, actor=member.user, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{channel_id}/pause", response_model=ChannelRead)
async def pause_channel(
    member: Manager,
    channel: ManagedChannel,
    db: SessionDep,
    box: Box,
    request: Request,
    data: Annotated[ChannelPause | None, Body()] = None,
) -> ChannelRead:
    """Stop publishing to this channel; its deliveries wait until it is resumed."""
    channel = await service.pause_channel(
        db, channel, reason=data.reason if data else None, actor=member.user, request=request
    )
    return service.to_read(channel, box)


@router.post("/{channel_id}/resume", response_model=ChannelRead)
async def resume_channel(
    member: Manager, channel: ManagedChannel, db: SessionDep, box: Box, request: Request
) -> ChannelRead:
    """Publish to this channel again."""
    channel = await service.resume_channel(db, channel, actor=member.user, request=request)
    return service.to_read(channel, box)


@router.post("/{channel_id}/verify", response_model=ChannelRead)
async def verify_channel(
    member: Manager,
    channel: ManagedChannel,
    db: SessionDep,
    box: Box,
    adapters: Adapters,
    request: Request,
) -> ChannelRead:
    """Ask the network whether the credentials work. The channel's status says the
    answer: connected (with the account and its limits), expired or error."""
    channel = await service.verify_channel(
        db, channel, box=box, adapters=adapters, actor=member.user, request=request
    )
    return service.to_read(channel, box)
