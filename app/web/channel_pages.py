"""The channels page (connect, verify, pause, resume) and the sandbox outbox.

The connect form is driven by :data:`CREDENTIAL_FIELDS`: per network, the credential
keys its adapter reads (``app/networks/<network>.py``). The form posts to the JSON
API, which seals the credentials; this page never shows a stored value. X, LinkedIn,
Facebook, Instagram and Threads also connect through OAuth (``OAUTH_NETWORKS``): their
button starts the flow (``POST .../channels/oauth/{network}/start``) and follows the
consent URL; the Meta networks keep their form for a token made by hand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.channels import service as channel_service
from app.channels.api import credential_box
from app.deps import SessionDep
from app.models import Channel, SandboxPost
from app.oauth.service import OAUTH_NETWORKS
from app.web.calendar_pages import NETWORK_NAMES
from app.web.workspace_frame import render_workspace

router = APIRouter()

ChannelsReader = Annotated[Member, Depends(Authorize(Action.channels_read, page=True))]


@dataclass(frozen=True)
class CredentialField:
    """One credential key an adapter reads, as a form field. ``help`` says where the
    person finds the value; secrets are password inputs."""

    key: str
    label: str
    help: str
    kind: Literal["text", "url", "secret", "checkbox", "choice"] = "text"
    required: bool = True
    placeholder: str = ""
    choices: tuple[tuple[str, str], ...] = ()


# Per network, exactly the credential keys its adapter reads (the module docstrings of
# app/networks/<network>.py). X and LinkedIn connect through OAuth only (OAUTH_NETWORKS):
# no form, a "Connect with …" button; Facebook, Instagram and Threads have both.
# Networks without an adapter are not offered.
CREDENTIAL_FIELDS: dict[str, list[CredentialField]] = {
    "mastodon": [
        CredentialField(
            "instance_url",
            "Instance URL",
            "The address of the server your account is on.",
            "url",
            placeholder="https://mastodon.social",
        ),
        CredentialField(
            "access_token",
            "Access token",
            "On your instance: Preferences → Development → New application, with the "
            "scopes read:accounts, write:statuses and write:media; then copy "
            "“Your access token”.",
            "secret",
        ),
    ],
    "bluesky": [
        CredentialField(
            "identifier",
            "Handle",
            "The account's handle, as shown on its profile.",
            placeholder="you.bsky.social",
        ),
        CredentialField(
            "app_password",
            "App password",
            "In Bluesky: Settings → Privacy and security → App passwords → Add App "
            "Password. Not the account's own password.",
            "secret",
        ),
        CredentialField(
            "pds_url",
            "PDS URL",
            "Only for an account hosted on its own server (PDS): that server's address. "
            "Leave empty for accounts on bsky.social.",
            "url",
            required=False,
            placeholder="https://bsky.social",
        ),
    ],
    "facebook": [
        CredentialField(
            "page_id",
            "Page ID",
            "On the Page: About → Page transparency, or Meta Business Suite → Settings "
            "→ Business assets.",
        ),
        CredentialField(
            "page_access_token",
            "Page access token",
            "A Page token with pages_manage_posts, from your Meta app (Graph API "
            "Explorer → Get Page Access Token, or GET /me/accounts).",
            "secret",
        ),
    ],
    "instagram": [
        CredentialField(
            "ig_user_id",
            "Instagram account ID",
            "The professional account's ID: in Graph API Explorer, GET "
            "/{page-id}?fields=instagram_business_account on the Facebook Page it is "
            "linked to.",
        ),
        CredentialField(
            "access_token",
            "Access token",
            "A user or Page token with instagram_content_publish, from your Meta app.",
            "secret",
        ),
    ],
    "threads": [
        CredentialField(
            "threads_user_id",
            "Threads user ID",
            "The id GET https://graph.threads.net/v1.0/me returns for your token.",
        ),
        CredentialField(
            "access_token",
            "Access token",
            "A long-lived Threads token (threads_basic, threads_content_publish and, to "
            "take posts down, threads_delete) from your Meta app's Threads use case.",
            "secret",
        ),
    ],
    "telegram": [
        CredentialField(
            "bot_token",
            "Bot token",
            "Talk to @BotFather in Telegram: /newbot, then copy the token it replies with.",
            "secret",
        ),
        CredentialField(
            "chat_id",
            "Chat",
            "The channel's @username, or a numeric chat ID for a private one. Add the "
            "bot to the channel as an administrator allowed to post.",
            placeholder="@yourchannel",
        ),
    ],
    "discord": [
        CredentialField(
            "webhook_url",
            "Webhook URL",
            "In Discord: the channel's Settings → Integrations → Webhooks → New Webhook → "
            "Copy Webhook URL. The URL is the webhook's password: keep it secret.",
            "secret",
        ),
    ],
    "matrix": [
        CredentialField(
            "homeserver_url",
            "Homeserver URL",
            "The address of the account's homeserver.",
            "url",
            placeholder="https://matrix.org",
        ),
        CredentialField(
            "access_token",
            "Access token",
            "Of the account that posts. In Element: Settings → Help & About → Advanced → "
            "Access token (a session of its own is best: signing it out revokes the token).",
            "secret",
        ),
        CredentialField(
            "room_id",
            "Room ID",
            "In Element: the room's Settings → Advanced → Internal room ID. The account "
            "must have joined the room.",
            placeholder="!abcdefghijklmnop:matrix.org",
        ),
    ],
    "webhook": [
        CredentialField(
            "url",
            "Receiver URL",
            "Your service's address: it receives a signed JSON POST for each post.",
            "url",
            placeholder="https://example.org/almanac-hook",
        ),
        CredentialField(
            "secret",
            "Signing secret",
            "Any long random string, shared with your receiver: it checks each request's "
            "Almanac-Signature (HMAC-SHA256) with it.",
            "secret",
        ),
        CredentialField(
            "send_deletions",
            "Send take-downs",
            "Also send a post.deleted event when a post is taken down.",
            "checkbox",
            required=False,
        ),
    ],
    "sandbox": [
        CredentialField(
            "handle",
            "Account name",
            "Any name: the sandbox publishes into this app's outbox, no account needed.",
            required=False,
            placeholder="sandbox",
        ),
        CredentialField(
            "simulate",
            "Rehearse a failure",
            "Make every publication fail this way, to see what Almanac does.",
            "choice",
            required=False,
            choices=(
                ("", "No: publish"),
                ("transient", "A temporary error (retried)"),
                ("permanent", "A refusal (fails at once)"),
                ("rate_limited", "A rate limit"),
                ("expired", "Expired credentials"),
            ),
        ),
    ],
}


@dataclass(frozen=True)
class OAuthConnect:
    network: str
    name: str
    start_url: str

    @property
    def signs_in_with(self) -> str:
        """Whose sign-in page the person sees: Instagram accounts connect through Facebook."""
        return "Facebook" if self.network == "instagram" else self.name


@dataclass(frozen=True)
class ChannelRow:
    id: str
    name: str
    network: str
    network_name: str
    status: str
    status_message: str | None
    handle: str | None
    paused: bool
    paused_reason: str | None
    verified_at: str | None
    credentials_readable: bool


@router.get("/w/{workspace_id}/channels", response_class=HTMLResponse)
async def channels_page(
    request: Request,
    member: ChannelsReader,
    db: SessionDep,
    connected: uuid.UUID | None = None,
    declined: bool = False,
) -> Response:
    """Connected accounts: status, verify, pause or resume, and connecting one
    (``connected``/``declined``: how an OAuth connect ended, app.oauth.service)."""
    box = credential_box(request)
    rows = []
    for channel in await channel_service.list_channels(db, member.workspace.id):
        read = channel_service.to_read(channel, box)
        rows.append(
            ChannelRow(
                id=str(read.id),
                name=read.name,
                network=read.network.value,
                network_name=NETWORK_NAMES.get(read.network.value, read.network.value),
                status=read.status.value,
                status_message=read.status_message,
                handle=read.account_handle,
                paused=read.paused,
                paused_reason=read.paused_reason,
                verified_at=read.verified_at.strftime("%Y-%m-%d %H:%M UTC")
                if read.verified_at
                else None,
                credentials_readable=read.credentials_readable,
            )
        )
    oauth = [
        OAuthConnect(
            network.value,
            name,
            f"/api/v1/workspaces/{member.workspace.id}/channels/oauth/{network.value}/start",
        )
        for network, name in OAUTH_NETWORKS.items()
    ]
    context = {
        "channels": rows,
        "fields": CREDENTIAL_FIELDS,
        "oauth": oauth,
        "connected": next((row for row in rows if row.id == str(connected)), None),
        "declined": declined,
        "network_names": NETWORK_NAMES,
        "may_manage": member.may(Action.channels_manage),
    }
    return await render_workspace(request, db, member, "channels.html", context)


@dataclass(frozen=True)
class OutboxItem:
    channel: str
    text: str
    link: str | None
    media: int
    published_at: str
    removed_at: str | None


@router.get("/w/{workspace_id}/sandbox", response_class=HTMLResponse)
async def sandbox_page(request: Request, member: ChannelsReader, db: SessionDep) -> Response:
    """What the workspace's sandbox channels "published", newest first."""
    rows = await db.execute(
        select(SandboxPost, Channel.name)
        .join(Channel, Channel.id == SandboxPost.channel_id)
        .where(Channel.workspace_id == member.workspace.id)
        .order_by(SandboxPost.published_at.desc())
        .limit(200)
    )
    items = [
        OutboxItem(
            channel=name,
            text=post.text,
            link=post.link,
            media=len(post.media or []),
            published_at=post.published_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            removed_at=post.removed_at.strftime("%Y-%m-%d %H:%M UTC") if post.removed_at else None,
        )
        for post, name in rows
    ]
    return await render_workspace(request, db, member, "sandbox.html", {"items": items})
