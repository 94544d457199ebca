"""Generic outbound webhook: rules and adapter.

Rules: generous. The receiver decides; Almanac only holds the text to 100,000
characters (``max_characters`` overrides it) and the media count to ``max_media``
when the channel sets one.

Adapter — what the receiver gets (README-ready)
-----------------------------------------------

Almanac sends ``POST <url>`` with a JSON body and these headers:

- ``Content-Type: application/json``
- ``Idempotency-Key: <key>``: the same for every attempt of one delivery. The
  receiver must treat a second request with a key it has already accepted as the
  same post (answer 2xx again, with the same ``id``): Almanac retries after
  timeouts, so this is how a post is never published twice.
- ``Almanac-Event-Type: post.published`` (or ``post.deleted``, ``ping``) and
  ``Almanac-Event-Id`` (the body's ``id``), as the notification webhooks send them
  (docs/webhooks.md; the signature below is the same too)
- ``Almanac-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
  HMAC-SHA256 with the channel's secret over ``<t>.<raw body>`` (the bytes as
  sent), made by ``app.notifications.webhooks.sign``. Verify it with a
  constant-time comparison and refuse a ``t`` more than five minutes old
  (replays), as ``app.notifications.webhooks.verify_signature`` does::

      expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()

Bodies (``id`` is the event id, equal to the idempotency key for a publication)::

    {"type": "post.published", "id": "...", "created_at": "2026-05-01T09:00:00+00:00",
     "channel_id": "...", "post": {"text": "...", "link": "https://..." | null,
     "media": [{"url": "<signed, expiring>", "mime_type": "image/png", "alt": "..."}]}}
    {"type": "post.deleted", "id": "...", "created_at": "...", "post_id": "<id>"}
    {"type": "ping", "id": "...", "created_at": "..."}

The receiver answers 2xx when it accepted the event; its JSON ``{"id": ..., "url":
...}`` (both optional) become the post's id and link in Almanac, else the
idempotency key is the id. 408, 425, 429 (with ``Retry-After``) and 5xx are retried
later; 401 and 403 mean the signature (secret) is wrong: the channel is marked
expired until someone fixes it; any other 4xx fails the delivery with the
receiver's ``error``/``message``/``detail`` words.

Take-down: a ``post.deleted`` event, only when the channel's ``send_deletions`` is
true; otherwise Almanac cannot take a webhook post down (the receiver owns it) and
says so. There are no metrics.

Credentials: ``url`` (the receiver, user-given: sent through the guarded client, so
private addresses are refused unless the operator allows them), ``secret`` (the
HMAC key) and optional ``send_deletions`` (bool).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.net.outbound import DestinationRefused, check_url_shape
from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
    LookupUnsupported,
    Metrics,
    Network,
    PermanentError,
    PublishRequest,
    PublishResult,
)
from app.networks.counting import (
    MediaKind,
    MediaPolicy,
    check_media,
    limit,
    measured,
    text_length,
)
from app.networks.http import (
    json_or_empty,
    raise_for_status,
    rate_limited,
    required_credential,
    retry_after,
    send,
)
from app.networks.rules import Check, MediaFacts
from app.notifications import webhooks as signing

NETWORK = Network.webhook
MAX_CHARACTERS = 100_000


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    max_media = limit(limits, ("max_media",), 0) or None
    policy = MediaPolicy(
        kinds=(MediaKind("file", "files", prefix=""),), max_items=max_media, accepted="files"
    )
    verdicts += check_media(NETWORK, media, policy)
    return measured(NETWORK, "characters", count, maximum, verdicts)


# -- adapter ------------------------------------------------------------------------

_MAX_WORDS = 300  # of a receiver's error text kept in a message


class WebhookAdapter:
    """Posts signed JSON events to the channel's URL (see the module docstring)."""

    network = NETWORK
    # The receiver de-duplicates by Idempotency-Key, by contract, for ever.
    idempotency_window: timedelta | None = None

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _deliver(
        self, credentials: dict[str, Any], event: dict[str, Any], key: str
    ) -> httpx.Response:
        url = _url(credentials)
        required_credential(credentials, "secret", "webhook")
        secret = str(credentials["secret"])  # signed as given, blanks and all
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        # The notification webhooks' headers and signature (docs/webhooks.md).
        headers = signing.request_headers(
            secret,
            event_id=event["id"],
            event_type=event["type"],
            body=body,
            timestamp=int(time.time()),
        )
        headers["Idempotency-Key"] = key
        response = await send(
            self._http, "POST", url, network="the webhook", content=body, headers=headers
        )
        _raise_for_error(response)
        return response

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        """Sends a signed ``ping``: a 2xx proves the URL and the secret work."""
        url = _url(credentials)
        event_id = _event_id("ping", str(time.time_ns()))
        await self._deliver(credentials, _event("ping", event_id), event_id)
        return AccountInfo(handle=url.host, display_name=f"Webhook to {url.host}")

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        media = []
        for index, item in enumerate(request.media):
            if not item.public_url:
                raise PermanentError(
                    "the webhook sends media by URL, and this file has none (is the base URL set?)",
                    field=f"media[{index}]",
                )
            media.append({"url": item.public_url, "mime_type": item.mime_type, "alt": item.alt})
        event = _event("post.published", request.idempotency_key)
        event["channel_id"] = request.channel_id
        event["post"] = {"text": request.text, "link": request.link, "media": media}
        response = await self._deliver(request.credentials, event, request.idempotency_key)
        answer = json_or_empty(response)
        answer = answer if isinstance(answer, dict) else {}
        external_id = answer.get("id")
        url = answer.get("url")
        return PublishResult(
            external_id=str(external_id)
            if isinstance(external_id, str | int) and str(external_id)
            else request.idempotency_key,
            url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        )

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        if not _enabled(credentials.get("send_deletions")):
            raise PermanentError(
                "This webhook channel does not send deletions, so Almanac cannot take the "
                "post down: remove it where the receiver published it, or turn on "
                "deletion events for the channel."
            )
        event_id = _event_id("post.deleted", external_id)
        event = _event("post.deleted", event_id)
        event["post_id"] = external_id
        await self._deliver(credentials, event, event_id)

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        return Metrics()  # a webhook reports nothing back

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        raise LookupUnsupported("a webhook receiver cannot be asked what it already has")


def _event(kind: str, event_id: str) -> dict[str, Any]:
    return {"type": kind, "id": event_id, "created_at": datetime.now(UTC).isoformat()}


def _event_id(kind: str, seed: str) -> str:
    """Stable per (kind, seed): a retried take-down carries the same key."""
    return hashlib.sha256(f"{kind}:{seed}".encode()).hexdigest()[:32]


def _raise_for_error(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    words = _words(response)
    message = f"the webhook receiver answered HTTP {status}" + (f": {words}" if words else "")
    if status == 429:
        raise rate_limited("the webhook receiver", retry_after(response.headers), words)
    if status in (401, 403):
        raise CredentialsExpiredError(
            f"{message} (it refused the signature: check the channel's secret)"
        )
    raise_for_status(response, network="the webhook receiver", message=message)


def _words(response: httpx.Response) -> str:
    """The receiver's own explanation: a JSON ``error``/``message``/``detail`` string,
    else a short plain-text body."""
    body = json_or_empty(response)
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_MAX_WORDS]
        return ""
    if response.headers.get("content-type", "").startswith("text/plain"):
        return response.text.strip()[:_MAX_WORDS]
    return ""


def _url(credentials: dict[str, Any]) -> httpx.URL:
    try:
        return check_url_shape(required_credential(credentials, "url", "webhook"))
    except DestinationRefused as refused:
        raise PermanentError(f"url: {refused.message}", field="url") from None


def _enabled(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value is True
