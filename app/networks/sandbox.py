"""The sandbox network: publishes into the local ``sandbox_post`` outbox table, so a
fresh install can be tried end to end without any account.

Its credentials may hold ``{"simulate": "transient" | "permanent" | "rate_limited"
| "expired"}`` to rehearse what Almanac does when a real network fails.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.base import utcnow
from app.models.sandbox import SandboxPost
from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
    Metrics,
    Network,
    PermanentError,
    PublishRequest,
    PublishResult,
    RateLimitedError,
    TransientError,
)

if TYPE_CHECKING:
    from app.networks.rules import Check, MediaFacts

SANDBOX_LIMITS = {"max_characters": 5000, "max_media": 10}


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    """The sandbox's rules: ``SANDBOX_LIMITS`` (characters are code points, as the
    adapter counts them), overridable by the channel's limits like any network."""
    from app.networks.counting import (
        MediaKind,
        MediaPolicy,
        check_media,
        limit,
        measured,
        text_length,
    )

    merged = {**SANDBOX_LIMITS, **limits}
    maximum = limit(merged, ("max_characters",), SANDBOX_LIMITS["max_characters"])
    count = len(text)
    verdicts = text_length(Network.sandbox, count=count, maximum=maximum, unit="characters")
    policy = MediaPolicy(
        kinds=(MediaKind("file", "files", prefix=""),),
        max_items=limit(merged, ("max_media",), SANDBOX_LIMITS["max_media"]),
        accepted="files",
    )
    verdicts += check_media(Network.sandbox, media, policy)
    return measured(Network.sandbox, "characters", count, maximum, verdicts)


SIMULATIONS = {"transient", "permanent", "rate_limited", "expired"}


class SandboxAdapter:
    network = Network.sandbox
    # The outbox refuses a second post with the same key, for ever.
    idempotency_window: timedelta | None = None

    def __init__(self, sessions: async_sessionmaker[AsyncSession], base_url: str) -> None:
        self._sessions = sessions
        self._base_url = base_url

    def _url(self, post_id: uuid.UUID) -> str:
        return f"{self._base_url}/sandbox/posts/{post_id}"

    @staticmethod
    def _simulate(credentials: dict[str, Any]) -> None:
        mode = credentials.get("simulate")
        if mode is None:
            return
        if mode not in SIMULATIONS:
            raise PermanentError(f"unknown sandbox simulation {mode!r}", field="simulate")
        if mode == "transient":
            raise TransientError("sandbox: simulated server error (503)")
        if mode == "permanent":
            raise PermanentError("sandbox: simulated refusal of the content (422)")
        if mode == "rate_limited":
            raise RateLimitedError(
                "sandbox: simulated rate limit", until=utcnow() + timedelta(minutes=5)
            )
        raise CredentialsExpiredError("sandbox: simulated expired credentials")

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        if credentials.get("simulate") == "expired":
            self._simulate(credentials)
        return AccountInfo(
            handle=str(credentials.get("handle", "sandbox")),
            display_name="Sandbox outbox",
            limits=dict(SANDBOX_LIMITS),
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        self._simulate(request.credentials)
        if len(request.text) > SANDBOX_LIMITS["max_characters"]:
            raise PermanentError("sandbox: text longer than 5000 characters", field="text")
        existing = await self.find_existing(request)
        if existing is not None:
            return existing
        post = SandboxPost(
            channel_id=uuid.UUID(request.channel_id),
            idempotency_key=request.idempotency_key,
            text=request.text,
            media=[{"path": m.path, "mime_type": m.mime_type, "alt": m.alt} for m in request.media],
            link=request.link,
        )
        async with self._sessions() as session:
            session.add(post)
            try:
                await session.commit()
            except IntegrityError:
                # Raced with another attempt of the same delivery: the first one won.
                await session.rollback()
                found = await self.find_existing(request)
                if found is None:
                    raise
                return found
        return PublishResult(external_id=str(post.id), url=self._url(post.id))

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        async with self._sessions() as session:
            post_id = await session.scalar(
                select(SandboxPost.id).where(SandboxPost.idempotency_key == request.idempotency_key)
            )
        return None if post_id is None else PublishResult(str(post_id), self._url(post_id))

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        async with self._sessions() as session:
            post = await session.get(SandboxPost, _parse_id(external_id))
            if post is None:
                raise PermanentError(f"sandbox: no post {external_id}")
            if post.removed_at is None:
                post.removed_at = utcnow()
            await session.commit()

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        async with self._sessions() as session:
            post = await session.get(SandboxPost, _parse_id(external_id))
        if post is None:
            raise PermanentError(f"sandbox: no post {external_id}")
        # Deterministic figures that grow with the post's age, so charts have a shape.
        minutes = int((utcnow() - post.published_at).total_seconds() // 60)
        return Metrics(
            likes=minutes // 3, reposts=minutes // 10, replies=minutes // 20, views=minutes * 7
        )


def _parse_id(external_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(external_id)
    except ValueError:
        raise PermanentError(f"sandbox: {external_id!r} is not a sandbox post id") from None
