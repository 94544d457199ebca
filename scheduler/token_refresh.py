"""The token-refresh job: renews expiring access tokens before they expire.

Every few minutes it looks for channels whose ``token_expires_at`` falls within their
margin, a tenth of the token's lifetime kept between 10 minutes and 24 hours (X's
2-hour tokens: 12 minutes ahead; LinkedIn's 60-day tokens: 24 hours ahead). Each is
claimed with a short lease (one conditional UPDATE, so two scheduler processes never
spend the same refresh token: X rotates them, and a second use would be refused),
its credentials opened, renewed by the network's adapter (``RefreshableAdapter``) and
sealed again, with the new expiry. The store is a compare-and-set on the ciphertext
that was read: credentials a person replaced meanwhile win.

Outcomes: renewed → stored, failures reset. Refused by the network (a revoked or
expired refresh token) → the channel becomes ``expired`` with the network's words and
the workspace is notified (``channel_expired``). No refresh token → the channel stays
usable until its token expires (one notification asks for a reconnect), then becomes
``expired``. Transient failures (timeouts, 5xx, rate limits) back off through the
lease (1, 2, 4… up to 30 minutes, or the rate limit's reset).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update

from app.channels.service import without_secrets
from app.crypto import CredentialBox, CredentialsUnreadable
from app.db import session_scope
from app.logging import get_logger
from app.models import Channel, ChannelStatus, Event, utcnow
from app.net.outbound import OutboundError
from app.networks import AdapterContext, NetworkUnavailable, get_adapter
from app.networks.base import (
    CredentialsExpiredError,
    NetworkError,
    RateLimitedError,
    RefreshableAdapter,
    RefreshUnsupported,
)
from app.notifications.service import notify, workspace_people
from scheduler.channel_state import expire_channel, same_credentials
from scheduler.runtime import SchedulerRuntime

log = get_logger("almanac.scheduler.token_refresh")

MIN_MARGIN = timedelta(minutes=10)
MAX_MARGIN = timedelta(hours=24)
# How long a process holds a channel while refreshing it (a refresh is one request).
LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(minutes=30)
BATCH = 50


def refresh_margin(expires_at: datetime, issued_at: datetime | None) -> timedelta:
    """How long before ``expires_at`` a token is renewed: a tenth of its lifetime,
    between 10 minutes and 24 hours (10 minutes when the lifetime is unknown)."""
    if issued_at is None or issued_at >= expires_at:
        return MIN_MARGIN
    return min(MAX_MARGIN, max(MIN_MARGIN, (expires_at - issued_at) / 10))


def _backoff(failures: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(failures - 1, 0)))


@dataclass
class RefreshRun:
    """What one run did, by channel id (for logs and tests)."""

    renewed: list[uuid.UUID]
    expired: list[uuid.UUID]
    failed: list[uuid.UUID]


async def refresh_tokens(runtime: SchedulerRuntime) -> RefreshRun:
    """The job: renew every token due for renewal now."""
    box = runtime.credential_box
    adapters = runtime.adapter_context
    run = RefreshRun([], [], [])
    for channel_id, expires_at in await _due(runtime):
        await _refresh_one(runtime, channel_id, expires_at, box, adapters, run)
    return run


async def _due(runtime: SchedulerRuntime) -> list[tuple[uuid.UUID, datetime]]:
    """Channels whose token is due for renewal, with the expiry seen now."""
    now = utcnow()
    async with session_scope(runtime.database.read_session) as session:
        rows = (
            await session.execute(
                select(Channel.id, Channel.token_expires_at, Channel.last_refresh_at)
                .where(
                    Channel.token_expires_at.is_not(None),
                    Channel.token_expires_at <= now + MAX_MARGIN,
                    Channel.status != ChannelStatus.expired,
                    or_(Channel.refresh_lease_until.is_(None), Channel.refresh_lease_until <= now),
                )
                .order_by(Channel.token_expires_at)
                .limit(BATCH)
            )
        ).all()
    return [
        (channel_id, expires_at)
        for channel_id, expires_at, issued_at in rows
        if expires_at - refresh_margin(expires_at, issued_at) <= now
    ]


async def _claim(
    runtime: SchedulerRuntime, channel_id: uuid.UUID, seen_expiry: datetime
) -> Channel | None:
    """The channel, leased to this process; None when another process holds it, or
    renewed it since we looked (its expiry moved: its refresh token is spent, and
    using it again would be refused and wrongly expire the channel)."""
    now = utcnow()
    async with session_scope(runtime.database.write_session) as session:
        claimed = await session.execute(
            update(Channel)
            .where(
                Channel.id == channel_id,
                Channel.token_expires_at == seen_expiry,
                Channel.status != ChannelStatus.expired,
                or_(Channel.refresh_lease_until.is_(None), Channel.refresh_lease_until <= now),
            )
            # A lease is not an edit of the channel.
            .values(refresh_lease_until=now + LEASE, updated_at=Channel.updated_at)
        )
        if claimed.rowcount != 1:
            return None
        return await session.get(Channel, channel_id)


async def _refresh_one(
    runtime: SchedulerRuntime,
    channel_id: uuid.UUID,
    seen_expiry: datetime,
    box: CredentialBox,
    adapters: AdapterContext,
    run: RefreshRun,
) -> None:
    channel = await _claim(runtime, channel_id, seen_expiry)
    if channel is None:
        return
    sealed = channel.credentials_encrypted
    try:
        adapter = get_adapter(channel.network, adapters)
    except NetworkUnavailable:
        adapter = None
    if not isinstance(adapter, RefreshableAdapter) or sealed is None:
        # Nothing can renew it: the publisher will find out at expiry (401 → expired).
        await _store(runtime, channel, sealed, token_expires_at=None, refresh_lease_until=None)
        return
    try:
        credentials = box.open(sealed)
    except CredentialsUnreadable:
        await _store(
            runtime,
            channel,
            sealed,
            status=ChannelStatus.error,
            status_message="The stored credentials cannot be decrypted with the configured "
            "encryption keys, so the token cannot be renewed; connect the account again.",
            refresh_lease_until=utcnow() + MAX_BACKOFF,
        )
        run.failed.append(channel.id)
        return

    now = utcnow()
    try:
        renewed, expires_at = await adapter.refresh_credentials(credentials)
    except CredentialsExpiredError as exc:
        message = without_secrets(exc.message, credentials)
        await _expire(runtime, channel, sealed, message)
        run.expired.append(channel.id)
        return
    except RefreshUnsupported as exc:
        expired = await _cannot_refresh(
            runtime, channel, sealed, without_secrets(exc.message, credentials)
        )
        (run.expired if expired else run.failed).append(channel.id)
        return
    except RateLimitedError as exc:
        await _failed(runtime, channel, sealed, until=exc.until)
        run.failed.append(channel.id)
        return
    except (NetworkError, OutboundError, httpx.HTTPError) as exc:
        words = getattr(exc, "message", type(exc).__name__)
        log.warning(
            "token refresh failed",
            channel_id=str(channel.id),
            network=channel.network.value,
            error=without_secrets(str(words), credentials),
        )
        await _failed(runtime, channel, sealed)
        run.failed.append(channel.id)
        return

    stored = await _store(
        runtime,
        channel,
        sealed,
        credentials_encrypted=box.seal(renewed),
        token_expires_at=expires_at,
        last_refresh_at=now,
        refresh_failures=0,
        refresh_lease_until=None,
    )
    if stored:
        log.info("token renewed", channel_id=str(channel.id), network=channel.network.value)
        run.renewed.append(channel.id)


async def _store(
    runtime: SchedulerRuntime, channel: Channel, sealed: bytes | None, **values: Any
) -> bool:
    """Write ``values`` if the credentials are still the ones read (compare-and-set)."""
    async with session_scope(runtime.database.write_session) as session:
        changed = await session.execute(
            update(Channel)
            .where(Channel.id == channel.id, same_credentials(sealed))
            # Renewed tokens and leases are not edits of the channel.
            .values(**values, updated_at=Channel.updated_at)
        )
        return changed.rowcount == 1


async def _failed(
    runtime: SchedulerRuntime,
    channel: Channel,
    sealed: bytes | None,
    *,
    until: datetime | None = None,
) -> None:
    failures = channel.refresh_failures + 1
    await _store(
        runtime,
        channel,
        sealed,
        refresh_failures=failures,
        refresh_lease_until=until or utcnow() + _backoff(failures),
    )


async def _expire(
    runtime: SchedulerRuntime, channel: Channel, sealed: bytes | None, message: str
) -> None:
    async with session_scope(runtime.database.write_session) as session:
        await expire_channel(
            session,
            channel.id,
            message,
            guard=(same_credentials(sealed),),
            values={"refresh_failures": channel.refresh_failures + 1, "refresh_lease_until": None},
        )


async def _cannot_refresh(
    runtime: SchedulerRuntime, channel: Channel, sealed: bytes | None, message: str
) -> bool:
    """No refresh token: usable until the token expires, then expired (True). One
    notification asks for a reconnect ahead of time."""
    expires_at = channel.token_expires_at
    if expires_at is None or expires_at <= utcnow():
        await _expire(runtime, channel, sealed, message)
        return True
    first = channel.refresh_failures == 0
    async with session_scope(runtime.database.write_session) as session:
        changed = await session.execute(
            update(Channel)
            .where(Channel.id == channel.id, same_credentials(sealed))
            .values(
                status_message=f"{message} (it expires at {expires_at:%Y-%m-%d %H:%M} UTC)",
                refresh_failures=channel.refresh_failures + 1,
                # Come back when it has expired, to mark it so.
                refresh_lease_until=expires_at,
            )
        )
        if changed.rowcount == 1 and first:
            await notify(
                session,
                workspace_id=channel.workspace_id,
                event=Event.channel_expired,
                text=(
                    f"{channel.name} ({channel.network.value}) must be reconnected before "
                    f"{expires_at:%Y-%m-%d %H:%M} UTC: {message}."
                ),
                recipients=await workspace_people(session, channel.workspace_id),
                channel_id=channel.id,
            )
    return False
