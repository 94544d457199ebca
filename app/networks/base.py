"""The seam every network implements.

Error tree (what the publisher does with each)::

    NetworkError
    ├── TransientError          retry with backoff (timeout, 5xx, connection reset)
    │   └── RateLimitedError    the channel waits until ``until``; nothing is sent before
    ├── PermanentError          fail at once with the platform's message (validation, 4xx)
    └── CredentialsExpiredError channel becomes ``expired``; its deliveries wait

Adapters do no database work and never log a URL or header that carries a
secret: the publisher owns every state change. (The sandbox is the one network
whose "platform" is a table of ours; it is given its own session factory.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Network(StrEnum):
    mastodon = "mastodon"
    bluesky = "bluesky"
    x = "x"
    linkedin = "linkedin"
    facebook = "facebook"
    instagram = "instagram"
    threads = "threads"
    tiktok = "tiktok"
    youtube = "youtube"
    telegram = "telegram"
    discord = "discord"
    matrix = "matrix"
    webhook = "webhook"
    sandbox = "sandbox"


# -- errors -------------------------------------------------------------------


class NetworkError(Exception):
    """Base of every adapter error. ``message`` is fit to show to a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(NetworkError):
    """Worth retrying later; ``retry_after`` when the network said how long to wait."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The network refused because of a rate limit, naming when it resets."""

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        if until.tzinfo is None:
            raise ValueError("RateLimitedError.until must be timezone-aware")
        self.until = until


class PermanentError(NetworkError):
    """Retrying cannot help: the platform refused the content or the request."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CredentialsExpiredError(NetworkError):
    """The account must be reconnected (revoked token, failed refresh)."""


class LookupUnsupported(NetworkError):
    """The network offers no safe way to check whether a post already exists."""


class RefreshUnsupported(NetworkError):
    """These credentials cannot be refreshed (no refresh token was granted): the
    account must be reconnected before its token expires."""


# -- values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaItem:
    path: str
    mime_type: str
    alt: str = ""
    public_url: str | None = None  # signed, expiring; for networks that fetch by URL


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """What to publish, read at claim time. ``checkpoint`` holds the intermediate
    ids a previous attempt stored, so the adapter resumes instead of re-creating."""

    idempotency_key: str
    text: str
    credentials: dict[str, Any]
    media: tuple[MediaItem, ...] = ()
    link: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class PublishResult:
    external_id: str
    url: str | None = None
    refreshed_credentials: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    handle: str
    display_name: str = ""
    limits: dict[str, Any] = field(default_factory=dict)
    refreshed_credentials: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Metrics:
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    views: int | None = None


# Called by an adapter with ids to keep before its next step (a media id, a
# container id). The publisher stores them at once so a retry resumes.
Checkpoint = Callable[[dict[str, Any]], Awaitable[None]]


@runtime_checkable
class NetworkAdapter(Protocol):
    network: Network
    # How long the network honours our idempotency key: a lease that expired
    # within this window may be retried safely. None: for ever (a client-chosen
    # record key); timedelta(0): no idempotency at all.
    idempotency_window: timedelta | None

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo: ...

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult: ...

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None: ...

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics: ...

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        """The post published with this request's key, None if there is none;
        raises LookupUnsupported where the network cannot tell safely."""
        ...


# -- optional capability: token refresh ------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The application registered with a network (client id and secret, from the
    settings) and the endpoints to use: the network's real ones unless overridden
    (tests point them at 127.0.0.1)."""

    client_id: str
    client_secret: str = ""
    authorize_url: str = ""
    token_url: str = ""
    api_base: str = ""
    scopes: tuple[str, ...] = ()
    # How the client authenticates at the token endpoint: HTTP Basic (X) or
    # client_id + client_secret in the form body (LinkedIn).
    client_auth: str = "basic"


@runtime_checkable
class RefreshableAdapter(Protocol):
    """An adapter whose network issues expiring tokens and a way to renew them."""

    async def refresh_credentials(
        self, credentials: dict[str, Any]
    ) -> tuple[dict[str, Any], datetime | None]:
        """New credentials and their expiry (None: they do not expire). Raises
        CredentialsExpiredError when the network refuses (the account must be
        reconnected), RefreshUnsupported when there is nothing to refresh with."""
        ...
