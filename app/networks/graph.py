"""What the Meta Graph family (Facebook Pages, Instagram, Threads) shares: calls with
the token in a header, Graph error objects turned into the seam's typed errors, the
usage headers that name when a throttled app regains access, and container polling.

A Graph error body (developers.facebook.com/docs/graph-api/guides/error-handling)::

    {"error": {"message", "type", "code", "error_subcode", "error_user_msg",
               "fbtrace_id", "is_transient"?}}

Mapping (platforms.md §5–7):

- code 190 (any subcode: 458/459/460/463/464/467) or 102 → CredentialsExpiredError;
- throttling codes 4, 17, 32, 613, 80001–80014 and the Instagram publishing limit
  (code 9 / subcode 2207042) → RateLimitedError, with the reset taken from
  ``X-Business-Use-Case-Usage`` / ``X-App-Usage``-style headers
  (``estimated_time_to_regain_access`` is in minutes);
- codes 1 and 2, ``is_transient: true``, the container subcodes that say "try again"
  and any 5xx → TransientError;
- code 100 and every other 4xx → PermanentError with Meta's words.

The access token travels in an ``Authorization`` header, never in the URL, so no
request line that httpx logs can carry it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.logging import get_logger
from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    Network,
    NetworkError,
    OAuthApp,
    PermanentError,
    PublishRequest,
    PublishResult,
    RateLimitedError,
    TransientError,
)
from app.networks.http import (
    _seconds,
    json_or_empty,
    rate_limited,
    required_credential,
    retry_after,
    send,
)

log = get_logger(__name__)

EXPIRED_CODES = frozenset({102, 190})
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
# Instagram container subcodes whose documented remedy is "try again" (2207027: the
# container is not ready yet; 2207003/2207020/2207008: retry or make a new container;
# 2207052: the media URL could not be fetched this time).
TRANSIENT_SUBCODES = frozenset({2207003, 2207008, 2207020, 2207027, 2207052})
PUBLISHING_LIMIT_SUBCODE = 2207042  # Instagram: too many posts in 24 h (code 9)
# A rolling 24-hour publishing quota frees slots gradually: look again in an hour.
PUBLISHING_LIMIT_WAIT = timedelta(hours=1)
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- errors ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GraphError:
    code: int | None
    subcode: int | None
    message: str
    transient_flag: bool

    @classmethod
    def of(cls, body: Any) -> GraphError | None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        user_msg = error.get("error_user_msg")
        message = str(error.get("message") or "")
        if isinstance(user_msg, str) and user_msg and user_msg not in message:
            message = f"{message} ({user_msg})" if message else user_msg
        return cls(
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            message=message,
            transient_flag=error.get("is_transient") is True,
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def usage_reset(headers: Mapping[str, str], *, now: datetime | None = None) -> datetime | None:
    """When a throttled caller regains access, from the usage headers: the longest
    ``estimated_time_to_regain_access`` (minutes) of any business-use-case entry, or of
    the flat app/ad-account usage objects. None when no header names one."""
    now = now or datetime.now(UTC)
    minutes: list[float] = []
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        minutes += _regain_minutes(usage)
    if not minutes:
        return None
    return now + timedelta(minutes=max(minutes))


def _regain_minutes(usage: Any) -> list[float]:
    found: list[float] = []
    if isinstance(usage, list):
        for item in usage:
            found += _regain_minutes(item)
    elif isinstance(usage, dict):
        value = usage.get("estimated_time_to_regain_access")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            found.append(float(value))
        for nested in usage.values():
            if isinstance(nested, list | dict):
                found += _regain_minutes(nested)
    return found


def error_for(response: httpx.Response, *, network: str) -> NetworkError:
    """The typed error for a Graph response that is not a success."""
    status = response.status_code
    error = GraphError.of(json_or_empty(response))
    words = (error.message if error else "") or f"{network} answered HTTP {status}"
    code = error.code if error else None
    subcode = error.subcode if error else None
    if code in EXPIRED_CODES or (error is None and status == 401):
        return CredentialsExpiredError(f"{network} refused the access token: {words}")
    if code in THROTTLE_CODES or status == 429:
        reset = usage_reset(response.headers) or retry_after(response.headers)
        return rate_limited(network, reset, words)
    if subcode == PUBLISHING_LIMIT_SUBCODE:
        reset = usage_reset(response.headers) or datetime.now(UTC) + PUBLISHING_LIMIT_WAIT
        return rate_limited(network, reset, words)
    if (
        code in TRANSIENT_CODES
        or subcode in TRANSIENT_SUBCODES
        or (error is not None and error.transient_flag)
        or status >= 500
        or status in (408, 425)
    ):
        return TransientError(
            f"{network}: {words}", retry_after=_seconds(retry_after(response.headers))
        )
    return PermanentError(f"{network}: {words}")


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    network: str,
    token: str,
    **kwargs: Any,
) -> dict[str, Any]:
    """One Graph call: the token in a header, the JSON body back, or a typed error.
    A 200 that carries an error object is an error too (Graph batch-style answers)."""
    headers = {**auth(token), **kwargs.pop("headers", {})}
    response = await send(http, method, url, network=network, headers=headers, **kwargs)
    body = json_or_empty(response)
    if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
        raise error_for(response, network=network)
    if not isinstance(body, dict):
        raise TransientError(f"{network} answered with a body that is not a JSON object")
    return body


def id_of(body: Mapping[str, Any], key: str, *, network: str, what: str) -> str:
    """The id in a success body. Without one the call may still have worked, so this
    is permanent (a person checks the account) rather than a retry that could post twice."""
    value = body.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise PermanentError(
            f"{network} answered success without the {what}'s {key!r}; check the account "
            "before publishing again"
        )
    return str(value)


# -- containers (Instagram, Threads) -------------------------------------------------


class ContainerPublished(Exception):
    """The container was already published (a previous attempt's answer was lost)."""


@dataclass(frozen=True, slots=True)
class ContainerPolling:
    """How to wait for a container: ``status_field`` is ``status_code`` on Instagram
    and ``status`` on Threads; ``error_field`` carries the reason of an ERROR."""

    status_field: str
    error_field: str
    interval: float = 3.0
    max_wait: float = 120.0


async def container_status(
    http: httpx.AsyncClient,
    base: str,
    container_id: str,
    *,
    polling: ContainerPolling,
    network: str,
    token: str,
) -> tuple[str, str]:
    fields = polling.status_field
    if polling.error_field != polling.status_field:
        fields += f",{polling.error_field}"
    body = await call(
        http,
        "GET",
        f"{base}/{container_id}",
        params={"fields": fields},
        network=network,
        token=token,
    )
    status = str(body.get(polling.status_field) or "").upper()
    detail = ""
    if polling.error_field != polling.status_field:
        detail = str(body.get(polling.error_field) or "")
    return status, detail


async def wait_until_finished(
    http: httpx.AsyncClient,
    base: str,
    container_id: str,
    *,
    polling: ContainerPolling,
    network: str,
    token: str,
) -> None:
    """Poll the container until FINISHED. IN_PROGRESS waits; ERROR and EXPIRED are
    permanent (with the platform's reason); PUBLISHED raises ContainerPublished so the
    caller never publishes twice; still in progress after ``max_wait`` is transient
    (the container id is checkpointed, so the retry resumes polling)."""
    deadline = time.monotonic() + polling.max_wait
    while True:
        status, detail = await container_status(
            http, base, container_id, polling=polling, network=network, token=token
        )
        if status == "FINISHED":
            return
        if status == "PUBLISHED":
            raise ContainerPublished(container_id)
        if status in ("ERROR", "EXPIRED"):
            reason = f": {detail}" if detail else ""
            if status == "EXPIRED":
                reason = (
                    " (containers expire 24 hours after they are made; "
                    f"this one was never published){reason}"
                )
            raise PermanentError(f"{network}: the media container {status.lower()}{reason}")
        if time.monotonic() >= deadline:
            raise TransientError(
                f"{network}: the media container is still being processed "
                f"({status or 'no status'}); it will be checked again on retry"
            )
        await asyncio.sleep(polling.interval)


async def find_published(
    http: httpx.AsyncClient,
    edge_url: str,
    *,
    text_field: str,
    text: str,
    since: float | None,
    network: str,
    token: str,
) -> tuple[str, str | None] | None:
    """The (id, permalink) of the account's recent post whose text is ``text`` and that
    was made no earlier than ``since`` (unix seconds, the container's creation): how a
    container known to be PUBLISHED is tied to its media id. None when not among the
    last 25 posts."""
    body = await call(
        http,
        "GET",
        edge_url,
        params={"fields": f"id,{text_field},timestamp,permalink", "limit": "25"},
        network=network,
        token=token,
    )
    matches: list[tuple[float, str, str | None]] = []
    for item in body.get("data") or []:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        if str(item.get(text_field) or "").strip() != text.strip():
            continue
        made = graph_time(item.get("timestamp"))
        # A minute of slack for clocks that disagree.
        if since is not None and made is not None and made < since - 60:
            continue
        permalink = item.get("permalink")
        matches.append(
            (made or 0.0, str(item["id"]), permalink if isinstance(permalink, str) else None)
        )
    if not matches:
        return None
    _, media_id, permalink = min(matches)
    return media_id, permalink


def graph_time(value: Any) -> float | None:
    """A Graph timestamp (``2026-05-01T10:00:00+0000``) as unix seconds."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class ContainerAdapter:
    """The publishing flow Instagram and Threads share: create a container per media
    item (children of a carousel first), wait until FINISHED, publish the container,
    read its permalink. Every container id is checkpointed before the next step, so a
    retry resumes with the same containers and asks the container's status before it
    publishes: a PUBLISHED container is looked up, never published again.

    Subclasses set the class attributes and build the parameters of each container."""

    network: Network
    idempotency_window: timedelta | None = timedelta(0)  # Graph has no idempotency keys
    version: str
    user_key: str  # the credential holding the account id
    create_edge: str  # POST /{user}/<create_edge> makes a container
    publish_edge: str  # POST /{user}/<publish_edge>?creation_id= publishes it
    list_edge: str  # GET /{user}/<list_edge> lists recent posts
    text_field: str  # the post's text field in that list
    status_field: str
    error_field: str
    max_characters: int  # verify() reports these as the account's limits
    max_media: int

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base: str,
        poll_interval: float = 3.0,
        max_wait: float = 120.0,
        oauth: OAuthApp | None = None,
    ) -> None:
        self._http = http
        self._oauth = oauth
        # The configured app's API base wins (tests point it at 127.0.0.1).
        self._root = (oauth.api_base if oauth and oauth.api_base else api_base).rstrip("/")
        self._base = f"{self._root}/{self.version}"
        self._polling = ContainerPolling(
            self.status_field, self.error_field, interval=poll_interval, max_wait=max_wait
        )

    # -- hooks -----------------------------------------------------------------------

    def check_request(self, request: PublishRequest) -> None:
        """Refuse, before any call, what the network cannot publish."""

    def single_params(self, request: PublishRequest) -> dict[str, str]:
        raise NotImplementedError

    def child_params(self, item: MediaItem) -> dict[str, str]:
        raise NotImplementedError

    def carousel_params(self, request: PublishRequest, children: list[str]) -> dict[str, str]:
        raise NotImplementedError

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self.network.value

    def _credentials(self, credentials: Mapping[str, Any]) -> tuple[str, str]:
        return (
            required_credential(credentials, self.user_key, self._name),
            required_credential(credentials, "access_token", self._name),
        )

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        return await call(
            self._http, method, f"{self._base}/{path}", network=self._name, token=token, **kwargs
        )

    def public_url(self, item: MediaItem) -> str:
        if not item.public_url:
            raise PermanentError(
                f"{self._name} fetches media by URL and this file has no public link "
                "(is ALMANAC_BASE_URL an address the network can reach?)",
                field="media",
            )
        return item.public_url

    async def _create(self, user: str, token: str, params: dict[str, str]) -> str:
        body = await self._call("POST", f"{user}/{self.create_edge}", token, data=params)
        return id_of(body, "id", network=self._name, what="container")

    async def _wait(self, container: str, token: str) -> None:
        await wait_until_finished(
            self._http,
            self._base,
            container,
            polling=self._polling,
            network=self._name,
            token=token,
        )

    # -- the seam ----------------------------------------------------------------------

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        user, token = self._credentials(credentials)
        body = await self._call("GET", user, token, params={"fields": "id,username,name"})
        handle = str(body.get("username") or body.get("id") or user)
        return AccountInfo(
            handle=handle,
            display_name=str(body.get("name") or handle),
            limits={"max_characters": self.max_characters, "max_media": self.max_media},
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        self.check_request(request)
        user, token = self._credentials(request.credentials)
        state: dict[str, Any] = dict(request.checkpoint)
        container = state.get("container_id")
        try:
            if not container:
                container = await self._make_container(request, user, token, state, checkpoint)
            await self._wait(str(container), token)
            try:
                body = await self._call(
                    "POST",
                    f"{user}/{self.publish_edge}",
                    token,
                    data={"creation_id": str(container)},
                )
            except (PermanentError, TransientError) as refused:
                if isinstance(refused, RateLimitedError):
                    raise
                # Whatever the network answers for a container that is already
                # published (undocumented), or when its answer was lost, the
                # container's status tells the truth.
                status, _ = await container_status(
                    self._http,
                    self._base,
                    str(container),
                    polling=self._polling,
                    network=self._name,
                    token=token,
                )
                if status == "PUBLISHED":
                    raise ContainerPublished(str(container)) from None
                raise
        except ContainerPublished:
            found = await self._resolve(request, user, token, state)
            if found is None:
                raise PermanentError(
                    f"{self._name}: this post was already published by an earlier attempt, "
                    "but it is not among the account's recent posts; mark the delivery "
                    "as published with its URL"
                ) from None
            return found
        media_id = id_of(body, "id", network=self._name, what="published post")
        return PublishResult(external_id=media_id, url=await self._permalink(media_id, token))

    async def _make_container(
        self,
        request: PublishRequest,
        user: str,
        token: str,
        state: dict[str, Any],
        checkpoint: Checkpoint,
    ) -> str:
        if len(request.media) > 1:
            children = [str(c) for c in state.get("children") or []]
            for item in request.media[len(children) :]:
                children.append(await self._create(user, token, self.child_params(item)))
                state["children"] = list(children)
                await checkpoint(dict(state))
            for child in children:
                await self._wait(child, token)
            params = self.carousel_params(request, children)
        else:
            params = self.single_params(request)
        # Noted before the call: the post can be no older than this.
        state["created_at"] = time.time()
        container = await self._create(user, token, params)
        state["container_id"] = container
        await checkpoint(dict(state))
        return container

    async def _resolve(
        self, request: PublishRequest, user: str, token: str, state: Mapping[str, Any]
    ) -> PublishResult | None:
        since = state.get("created_at")
        found = await find_published(
            self._http,
            f"{self._base}/{user}/{self.list_edge}",
            text_field=self.text_field,
            text=request.text,
            since=float(since) if isinstance(since, int | float) else None,
            network=self._name,
            token=token,
        )
        if found is None:
            return None
        media_id, permalink = found
        return PublishResult(external_id=media_id, url=permalink)

    async def _permalink(self, media_id: str, token: str) -> str | None:
        """The post's public URL. The post exists already, so a failure here must not
        fail the delivery (a retry would find it published): the URL is then left out."""
        try:
            body = await self._call("GET", media_id, token, params={"fields": "permalink"})
        except NetworkError as error:
            log.warning("permalink not read", network=self._name, reason=error.message)
            return None
        permalink = body.get("permalink")
        return permalink if isinstance(permalink, str) and permalink else None

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        """Only a checkpointed container can be asked about: PUBLISHED → the post it
        became; any other status → None (never published, the retry resumes it)."""
        container = request.checkpoint.get("container_id")
        if not container:
            raise LookupUnsupported(
                f"{self._name} has no idempotency key and no container was recorded, "
                "so whether the post went out cannot be checked"
            )
        user, token = self._credentials(request.credentials)
        status, _ = await container_status(
            self._http,
            self._base,
            str(container),
            polling=self._polling,
            network=self._name,
            token=token,
        )
        if status != "PUBLISHED":
            return None
        found = await self._resolve(request, user, token, request.checkpoint)
        if found is None:
            raise LookupUnsupported(
                f"{self._name}: the container was published but the post is not among "
                "the account's recent posts"
            )
        return found


# -- tokens (Facebook Login, Threads) ---------------------------------------------------

# Graph answers a refused app id or secret with these codes ("Error validating client
# secret", "Error validating application"): the operator's settings, not the account.
APP_REFUSED_CODES = frozenset({1, 101})


async def token_exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    network: str,
    settings_hint: str,
    token: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A call to a Meta token endpoint (``oauth/access_token``, ``access_token``): the
    JSON answer holding ``access_token`` (and ``expires_in`` where the token expires).

    A refused code or token (Graph code 100/190, e.g. a used authorization code or an
    expired token) is :class:`CredentialsExpiredError`; a refused app id or secret is
    :class:`PermanentError` naming ``settings_hint``; throttling and 5xx as usual."""
    headers = auth(token) if token else {}
    response = await send(http, method, url, network=network, headers=headers, **kwargs)
    body = json_or_empty(response)
    if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
        error = GraphError.of(body)
        if error is not None and error.code in APP_REFUSED_CODES and response.status_code < 500:
            raise PermanentError(
                f"{network} refused this server's app credentials ({error.message}); "
                f"check {settings_hint}"
            )
        typed = error_for(response, network=network)
        if isinstance(typed, PermanentError):
            raise CredentialsExpiredError(f"{network} refused the authorization: {typed.message}")
        raise typed
    if not isinstance(body, dict):
        raise TransientError(f"{network} answered with a body that is not a JSON object")
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise PermanentError(f"{network}'s token endpoint answered without an access token")
    return body
