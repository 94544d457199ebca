"""Plumbing shared by the adapters: one place that turns transport failures and
generic status codes into the seam's typed errors, parses rate-limit resets, checks
the credentials a channel must hold and reads the media files a post carries.

Messages never carry a URL or a header value: Telegram and Discord put their secret
in the URL, every other network in a header. Network modules map their own error
bodies first (Graph codes, X problem JSON, Telegram ``ok:false``) and call
:func:`raise_for_status` for what is left.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.logging import redact_library_records
from app.net.outbound import DestinationRefused, HostNotFound
from app.networks.base import (
    CredentialsExpiredError,
    MediaItem,
    PermanentError,
    RateLimitedError,
    TransientError,
)

# httpx logs every request URL (at INFO); whatever level a deployment or a test sets,
# a secret in the URL is redacted before any handler sees the record.
redact_library_records("httpx")

# When a 429 names no reset at all, wait this long before trying the channel again.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)
# The longest wait a reset header may impose: the server (for a webhook channel, a
# receiver the user chose) names it, and an absurd value must neither crash the
# parse nor park the channel for years.
MAX_RESET_WAIT = timedelta(days=7)


async def send(
    http: httpx.AsyncClient, method: str, url: str, *, network: str, **kwargs: Any
) -> httpx.Response:
    """``http.request`` with transport failures typed: timeouts and connection errors
    are transient, a refused destination is permanent. Never raises on a status."""
    try:
        return await http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise TransientError(f"{network} did not answer in time") from None
    except DestinationRefused as refused:
        raise PermanentError(refused.message) from None
    except HostNotFound as missing:
        raise TransientError(missing.message) from None
    except httpx.TransportError as error:
        raise TransientError(f"could not reach {network} ({type(error).__name__})") from None


def _clamped(until: datetime, now: datetime | None) -> datetime:
    """``until``, but never further than :data:`MAX_RESET_WAIT` from ``now``."""
    latest = (now or datetime.now(UTC)) + MAX_RESET_WAIT
    return min(until, latest)


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> datetime | None:
    """The instant named by a ``Retry-After`` header (seconds or an HTTP date), at
    most :data:`MAX_RESET_WAIT` away."""
    value = headers.get("retry-after")
    if not value:
        return None
    now = now or datetime.now(UTC)
    value = value.strip()
    if value.isdigit():
        # Compare as integers first: a huge value overflows timedelta.
        seconds = min(int(value), int(MAX_RESET_WAIT.total_seconds()))
        return now + timedelta(seconds=seconds)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return _clamped(parsed, now)


def epoch_reset(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """A reset given as Unix seconds (X ``x-rate-limit-reset``, Bluesky
    ``ratelimit-reset``), at most :data:`MAX_RESET_WAIT` away."""
    if not value:
        return None
    try:
        return _clamped(datetime.fromtimestamp(float(value), UTC), now)
    except (ValueError, OverflowError, OSError):
        return None


def iso_reset(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """A reset given as an ISO 8601 instant (Mastodon ``X-RateLimit-Reset``), at most
    :data:`MAX_RESET_WAIT` away."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _clamped(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), now)


def rate_limited(network: str, until: datetime | None, detail: str = "") -> RateLimitedError:
    until = until or datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT
    message = f"{network} rate limit reached; the channel waits until {until:%H:%M:%S} UTC"
    if detail:
        message += f" ({detail})"
    return RateLimitedError(message, until=until)


def raise_for_status(
    response: httpx.Response,
    *,
    network: str,
    message: str = "",
    reset: datetime | None = None,
) -> None:
    """The generic mapping for a response the network module did not handle itself.
    ``message`` is the network's own words taken from its error body."""
    status = response.status_code
    if status < 400:
        return
    words = message or f"{network} answered HTTP {status}"
    if status == 429:
        raise rate_limited(network, reset or retry_after(response.headers), message)
    if status == 401:
        raise CredentialsExpiredError(f"{network} refused the credentials: {words}")
    if status in (408, 425) or status >= 500:
        raise TransientError(words, retry_after=_seconds(retry_after(response.headers)))
    raise PermanentError(words)


def _seconds(until: datetime | None) -> timedelta | None:
    if until is None:
        return None
    return max(until - datetime.now(UTC), timedelta(0))


def json_or_empty(response: httpx.Response) -> Any:
    """The body as JSON, or {} when it is not JSON (an HTML error page from a proxy)."""
    try:
        return response.json()
    except ValueError:
        return {}


def whole_number(value: Any) -> int | None:
    """A count from a JSON body: an integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def required_credential(credentials: Mapping[str, Any], key: str, network: str) -> str:
    """A credential the channel must hold, as text without surrounding blanks; the
    error names the key (the form field to fill in), never a value."""
    value = credentials.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise PermanentError(f"{network}: the channel's credentials lack {key!r}", field=key)
    return str(value).strip()


async def read_media(item: MediaItem, network: str) -> bytes:
    """The bytes of one media file of a post (read off the event loop); a file gone
    from the media folder is permanent: a retry would not find it either."""
    try:
        return await asyncio.to_thread(Path(item.path).read_bytes)
    except OSError as error:
        raise PermanentError(
            f"{network}: cannot read the media file {Path(item.path).name} ({error.strerror})",
            field="media",
        ) from None
