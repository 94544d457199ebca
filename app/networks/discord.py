"""Discord webhook rules (platforms.md §11).

``content``: up to 2,000 characters (code points). Files: 10 MiB each by default
(``max_upload_size`` overrides it for boosted servers), at most 10 per message
(Discord's attachment limit, from its API docs rather than platforms.md). A message
needs content or a file.

Adapter (webhook execution). Credentials: ``webhook_url``
(``https://discord.com/api/webhooks/<id>/<token>``, from the channel's Settings →
Integrations → Webhooks → Copy Webhook URL; a ``?thread_id=`` it carries is kept).
The token in the path is the only authentication, so the URL is a secret: it is
never put in a message; ``app.networks.http`` redacts httpx's own request lines.

- Publish: ``POST <webhook_url>?wait=true`` (``wait`` makes Discord answer with the
  message, or with an error instead of dropping a message it could not save); JSON
  ``{"content"}``, or multipart ``files[n]`` + ``payload_json`` whose ``attachments``
  carry each file's alt text as ``description``. A link not in the text is appended.
- External id: the message id; URL ``https://discord.com/channels/<guild>/<channel>/<id>``
  (the guild comes from the webhook itself, read after publishing).
- No idempotency (``nonce`` exists only for bots): a lost answer makes the delivery
  ``uncertain``.
- Take-down: ``DELETE <webhook_url>/messages/<id>``.
- Metrics: the reactions on the message (``GET <webhook_url>/messages/<id>``),
  reported as likes; Discord gives no views.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from app.logging import get_logger
from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
    LookupUnsupported,
    Metrics,
    Network,
    NetworkError,
    PermanentError,
    PublishRequest,
    PublishResult,
)
from app.networks.counting import (
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    limit,
    measured,
    needs_content,
    text_length,
)
from app.networks.http import (
    json_or_empty,
    raise_for_status,
    rate_limited,
    read_media,
    required_credential,
    retry_after,
    send,
)
from app.networks.rules import Check, MediaFacts

NETWORK = Network.discord
MAX_CHARACTERS = 2000


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or a file"))
    policy = MediaPolicy(
        kinds=(
            MediaKind(
                "file", "files", prefix="", max_bytes=limit(limits, ("max_upload_size",), 10 * MB)
            ),
        ),
        max_items=limit(limits, ("max_media",), 10),
        accepted="files",
    )
    verdicts += check_media(NETWORK, media, policy)
    return measured(NETWORK, "characters", count, maximum, verdicts)


# -- adapter ------------------------------------------------------------------------

NAME = "Discord"
MAX_DESCRIPTION = 1024  # an attachment's alt text
# JSON error codes (discord-api-docs reference.mdx, "JSON Error Codes").
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027

log = get_logger(__name__)


class _Webhook:
    """The parts of a webhook URL: ``base`` (up to the token) and its own query."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        parts = urlsplit(required_credential(credentials, "webhook_url", NAME))
        segments = parts.path.rstrip("/").split("/")
        try:
            at = segments.index("webhooks")
            webhook_id, token = segments[at + 1], segments[at + 2]
        except (ValueError, IndexError):
            webhook_id = token = ""
        if parts.scheme not in ("http", "https") or not webhook_id.isdigit() or not token:
            raise PermanentError(
                f"{NAME}: webhook_url is not a webhook URL (…/api/webhooks/<id>/<token>)",
                field="webhook_url",
            )
        path = "/".join(segments[: at + 3])
        self.base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.query = parts.query

    def url(self, suffix: str = "", **params: str) -> str:
        # Built here: httpx's ``params=`` would replace the URL's own query (thread_id).
        own = [(key, value) for key, value in parse_qsl(self.query) if key not in params]
        query = urlencode([*own, *params.items()])
        return f"{self.base}{suffix}" + (f"?{query}" if query else "")


def _with_link(text: str, link: str | None, maximum: int) -> str:
    if not link or link in text:
        return text
    joined = f"{text.rstrip()}\n\n{link}" if text.strip() else link
    if len(joined) > maximum:
        raise PermanentError(
            f"{NAME}: the text and its link do not fit in {maximum:,} characters; "
            "shorten the text or put the link in it",
            field="link",
        )
    return joined


class DiscordAdapter:
    network = Network.discord
    # Webhook execution takes no idempotency key: a message sent twice is two messages.
    idempotency_window: timedelta | None = timedelta(0)

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _call(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        response = await send(self._http, method, url, network=NAME, **kwargs)
        _raise_for_error(response, what)
        return response

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        hook = _Webhook(credentials)
        webhook = json_or_empty(await self._call("GET", hook.url(), "the webhook"))
        if not isinstance(webhook, dict):
            raise PermanentError(f"{NAME}: the webhook URL did not answer with a webhook")
        name = str(webhook.get("name") or "webhook")
        channel = webhook.get("channel_id")
        return AccountInfo(
            handle=name, display_name=f"{name} (channel {channel})" if channel else name
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        hook = _Webhook(request.credentials)
        maximum = limit(request.limits, ("max_characters",), MAX_CHARACTERS)
        payload: dict[str, Any] = {"content": _with_link(request.text, request.link, maximum)}
        kwargs: dict[str, Any]
        if request.media:
            files: list[tuple[str, tuple[str, bytes, str]]] = []
            attachments = []
            for i, item in enumerate(request.media):
                name = Path(item.path).name
                files.append((f"files[{i}]", (name, await read_media(item, NAME), item.mime_type)))
                attachment: dict[str, Any] = {"id": i, "filename": name}
                if item.alt:
                    attachment["description"] = item.alt[:MAX_DESCRIPTION]
                attachments.append(attachment)
            payload["attachments"] = attachments
            kwargs = {"data": {"payload_json": json.dumps(payload)}, "files": files}
        else:
            kwargs = {"json": payload}
        response = await self._call("POST", hook.url(wait="true"), "the message", **kwargs)
        message = json_or_empty(response)
        if not isinstance(message, dict) or not message.get("id"):
            raise PermanentError(f"{NAME} published the message but did not return its id")
        return PublishResult(
            external_id=str(message["id"]), url=await self._message_url(hook, message)
        )

    async def _message_url(self, hook: _Webhook, message: dict[str, Any]) -> str | None:
        """The message's link, which needs the guild: not in the message a webhook
        returns, so read from the webhook. The post is out already: a failure here
        costs the link, never the delivery."""
        guild = message.get("guild_id")
        if guild is None:
            try:
                webhook = json_or_empty(await self._call("GET", hook.url(), "the webhook"))
            except NetworkError as error:
                log.warning("discord message link unavailable", reason=error.message)
                return None
            guild = webhook.get("guild_id") if isinstance(webhook, dict) else None
        if not guild or not message.get("channel_id"):
            return None
        return f"https://discord.com/channels/{guild}/{message['channel_id']}/{message['id']}"

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        hook = _Webhook(credentials)
        url = hook.url(f"/messages/{_message_id(external_id)}")
        response = await send(self._http, "DELETE", url, network=NAME)
        if response.status_code == 404 and _code(response) == UNKNOWN_MESSAGE:
            return  # deleted by hand already: the post is down
        _raise_for_error(response, "the take-down")

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        hook = _Webhook(credentials)
        url = hook.url(f"/messages/{_message_id(external_id)}")
        message = json_or_empty(await self._call("GET", url, "the message"))
        reactions = message.get("reactions") or [] if isinstance(message, dict) else []
        return Metrics(likes=sum(int(r.get("count", 0)) for r in reactions))

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        raise LookupUnsupported(f"{NAME}: a webhook cannot list the messages it sent")


def _message_id(external_id: str) -> str:
    if not external_id.isdigit():
        raise PermanentError(f"{NAME}: {external_id!r} is not a Discord message id")
    return external_id


def _code(response: httpx.Response) -> int | None:
    body = json_or_empty(response)
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def _form_errors(errors: Any, path: str = "") -> list[str]:
    """Discord's nested ``errors`` object as ``field: message`` lines."""
    if not isinstance(errors, dict):
        return []
    out = []
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list):
            out += [f"{path}: {e.get('message')}" if path else str(e.get("message")) for e in value]
        else:
            out += _form_errors(value, f"{path}.{key}" if path else str(key))
    return out


def _raise_for_error(response: httpx.Response, what: str) -> None:
    """Discord's error bodies (``{code, message, errors}``; a 429's ``{message,
    retry_after, global}``) mapped to the seam's errors (platforms.md §11)."""
    status = response.status_code
    if status < 400:
        return
    body = json_or_empty(response)
    if not isinstance(body, dict):
        body = {}
    words = str(body.get("message") or "")
    details = _form_errors(body.get("errors"))
    if details:
        words = f"{words} ({'; '.join(details)})"
    if status == 429:
        raise rate_limited(NAME, _reset(response, body), "global" if body.get("global") else "")
    code = body.get("code")
    if (
        status == 401
        or code in (UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN)
        or (status == 404 and code != UNKNOWN_MESSAGE)
    ):
        raise CredentialsExpiredError(
            f"{NAME} no longer knows this webhook ({words or f'HTTP {status}'}); "
            "it was deleted or its URL changed: connect the channel with a new webhook URL"
        )
    verb = "could not take" if status >= 500 else "refused"
    raise_for_status(response, network=NAME, message=words and f"{NAME} {verb} {what}: {words}")


def _reset(response: httpx.Response, body: dict[str, Any]) -> datetime | None:
    """When a 429 ends: the body's ``retry_after`` (seconds, with decimals), else the
    ``X-RateLimit-Reset-After`` or ``Retry-After`` header."""
    now = datetime.now(UTC)
    for value in (body.get("retry_after"), response.headers.get("x-ratelimit-reset-after")):
        try:
            return now + timedelta(seconds=float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            continue
    return retry_after(response.headers, now=now)
