"""Bluesky rules (lexicon ``app.bsky.feed.post`` and its embeds, from platforms.md).

Text: at most 300 graphemes AND 3,000 UTF-8 bytes (``maxGraphemes``/``maxLength``);
empty only with an embed (media or a link card). Images: up to 4, 2,000,000 bytes each
(lexicon since April 2026; the posts guide still says 1,000,000), ``alt`` expected on
each. Video: one ``video/mp4``, 300 MB (lexicon; the duration limit is unconfirmed, so
not checked). Images and a video do not mix (they are different embeds).

The adapter (:class:`BlueskyAdapter`) speaks XRPC to the account's PDS. Credentials:

- ``identifier`` (the handle) and ``app_password`` — required;
- ``pds_url`` — the entryway or PDS to log in at (default ``https://bsky.social``;
  ``service_url``, the channel form's name for it, is read too);
- ``access_jwt``, ``refresh_jwt``, ``did`` — the stored session (optional), and
  ``service_endpoint`` — the account's PDS when the entryway named another one.

A session is reused while it lasts: an ``ExpiredToken`` answer refreshes it
(``refreshSession``) and the call is retried once; a refused refresh logs in again
with the app password (``createSession`` is limited to 30 per 5 minutes); a refused
app password is :class:`CredentialsExpiredError`. Whenever the tokens changed the
result carries them as ``refreshed_credentials`` for the publisher to store.

Exactly once: the post's record key is a TID derived from the delivery's
idempotency key, so a retry writes the same key, which the repository refuses to
create twice (the reference PDS answers 500 for it: the adapter then reads the record
back and takes it as published).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import regex
from PIL import Image

from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
    MediaItem,
    Metrics,
    Network,
    NetworkError,
    PermanentError,
    PublishRequest,
    PublishResult,
    TransientError,
)
from app.networks.counting import (
    MediaKind,
    MediaPolicy,
    check_media,
    grapheme_count,
    limit,
    measured,
    needs_content,
    text_length,
    utf8_bytes,
)
from app.networks.http import (
    epoch_reset,
    json_or_empty,
    raise_for_status,
    rate_limited,
    read_media,
    required_credential,
    retry_after,
    send,
)
from app.networks.rules import Check, Level, MediaFacts

NETWORK = Network.bluesky
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
IMAGE_BYTES = 2_000_000
VIDEO_BYTES = 300_000_000


def media_policy(limits: dict[str, Any]) -> MediaPolicy:
    image = MediaKind(
        "image",
        "images",
        prefix="image/",
        max_bytes=limit(limits, ("image_size_limit",), IMAGE_BYTES),
        max_items=4,
        alt=True,
    )
    video = MediaKind(
        "video",
        "videos",
        frozenset({"video/mp4"}),
        max_bytes=limit(limits, ("video_size_limit",), VIDEO_BYTES),
        max_items=1,
        alt=True,
    )
    return MediaPolicy(
        kinds=(image, video),
        mixing=False,
        alt_missing=Level.warning,
        accepted="images and MP4 videos",
        combos="up to 4 images or 1 video",
    )


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    max_graphemes = limit(limits, ("max_characters", "max_graphemes"), MAX_GRAPHEMES)
    max_bytes = limit(limits, ("max_bytes",), MAX_BYTES)
    count = grapheme_count(text)
    size = utf8_bytes(text)
    verdicts = text_length(NETWORK, count=count, maximum=max_graphemes, unit="characters")
    verdicts += text_length(
        NETWORK, count=size, maximum=max_bytes, unit="bytes of text", how="(UTF-8)"
    )
    if not text.strip() and not media and not link:
        verdicts.append(needs_content(NETWORK, "text, media or a link card"))
    verdicts += check_media(NETWORK, media, media_policy(limits))
    return measured(NETWORK, "characters", count, max_graphemes, verdicts)


# -- the adapter ---------------------------------------------------------------------

NAME = "Bluesky"
DEFAULT_PDS = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
# Errors an XRPC server gives for an access token it no longer takes (400 per the
# PDS's auth verifier; a 401 is a missing or refused authorization).
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
LINK_CARD_TIMEOUT = 5.0
LINK_CARD_BYTES = 512 * 1024

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# Derived TIDs carry a timestamp inside a fixed, past window (from 2023-01-01, 2**45
# microseconds ≈ 13 months long): deterministic per key, and never a date in the future.
TID_EPOCH_US = 1_672_531_200_000_000
TID_SPAN_US = 2**45


def record_key(idempotency_key: str) -> str:
    """The TID record key of the post published with ``idempotency_key``: the same
    key gives the same TID, so a retry can never create a second post."""
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    timestamp = TID_EPOCH_US + (digest >> 10) % TID_SPAN_US
    value = (timestamp << 10) | (digest & 0x3FF)
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


# -- rich text: facets with UTF-8 byte offsets (app.bsky.richtext.facet) -------------

_URL = re.compile(r"https?://[^\s<>\"'`]+")
_MENTION = re.compile(
    r"(?<![\w@./:])@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
_HASHTAG = regex.compile(r"(?:^|(?<=\s))[#＃]([^\s#＃]+)")
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
MAX_TAG_GRAPHEMES = 64


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of the text to decorate, in character offsets (end exclusive)."""

    start: int
    end: int
    kind: str  # "link" | "mention" | "tag"
    value: str  # the URL, the handle or the tag (without "#")


def find_spans(text: str) -> list[Span]:
    """Links, mentions and hashtags in ``text``, in order, never overlapping."""
    spans: list[Span] = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(".,;:!?'\"")
        if url.endswith(")") and "(" not in url:
            url = url[:-1]
        spans.append(Span(match.start(), match.start() + len(url), "link", url))

    def free(start: int, end: int) -> bool:
        return all(end <= span.start or start >= span.end for span in spans)

    for match in _MENTION.finditer(text):
        if free(match.start(), match.end()):
            spans.append(Span(match.start(), match.end(), "mention", match.group(1).lower()))
    for match in _HASHTAG.finditer(text):
        tag = _TRAILING_PUNCTUATION.sub("", match.group(1))
        end = match.start(1) + len(tag)
        if not tag or tag.isdigit() or grapheme_count(tag) > MAX_TAG_GRAPHEMES:
            continue
        if free(match.start(), end):
            spans.append(Span(match.start(), end, "tag", tag))
    return sorted(spans, key=lambda span: span.start)


def byte_index(text: str, start: int, end: int) -> dict[str, int]:
    """Character offsets as the facet's zero-based UTF-8 byte offsets."""
    byte_start = len(text[:start].encode())
    return {"byteStart": byte_start, "byteEnd": byte_start + len(text[start:end].encode())}


# -- link card ------------------------------------------------------------------------

_META = re.compile(r"<meta\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def card_from_html(url: str, page: str) -> dict[str, str]:
    """The external embed for ``url`` from its page's Open Graph tags (the server
    does not unfurl links: the client must), falling back to <title> and the URL."""
    tags: dict[str, str] = {}
    for meta in _META.findall(page):
        attributes = {
            name.lower(): html.unescape(double or single)
            for name, double, single in _ATTRIBUTE.findall(meta)
        }
        key = attributes.get("property") or attributes.get("name")
        if key and "content" in attributes:
            tags.setdefault(key.lower(), attributes["content"].strip())
    title = tags.get("og:title") or tags.get("twitter:title")
    if not title and (found := _TITLE.search(page)):
        title = html.unescape(" ".join(found.group(1).split()))
    description = tags.get("og:description") or tags.get("description") or ""
    return {"uri": url, "title": (title or url)[:300], "description": description[:1000]}


# -- sessions -------------------------------------------------------------------------


class _Session:
    """One call's view of the account's session; remembers whether tokens changed."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        self.original = credentials
        self.identifier = required_credential(credentials, "identifier", NAME)
        self.app_password = required_credential(credentials, "app_password", NAME)
        entryway = credentials.get("pds_url") or credentials.get("service_url") or DEFAULT_PDS
        self.entryway = str(entryway).rstrip("/")
        self.service = str(credentials.get("service_endpoint") or self.entryway).rstrip("/")
        self.access: str | None = credentials.get("access_jwt") or None
        self.refresh: str | None = credentials.get("refresh_jwt") or None
        self.did: str | None = credentials.get("did") or None
        self.handle: str | None = None
        self.changed = False

    def take(self, body: dict[str, Any]) -> None:
        """Keep the tokens of a createSession/refreshSession answer."""
        try:
            self.access, self.refresh = str(body["accessJwt"]), str(body["refreshJwt"])
            self.did = str(body["did"])
        except KeyError as missing:
            raise TransientError(f"{NAME} answered a session without {missing}") from None
        self.handle = body.get("handle") or self.handle
        endpoint = _pds_endpoint(body.get("didDoc"))
        if endpoint:
            self.service = endpoint.rstrip("/")
        self.changed = True

    def refreshed_credentials(self) -> dict[str, Any] | None:
        if not self.changed:
            return None
        refreshed = {
            **self.original,
            "access_jwt": self.access,
            "refresh_jwt": self.refresh,
            "did": self.did,
        }
        if self.service != self.entryway:
            refreshed["service_endpoint"] = self.service
        return refreshed


def _pds_endpoint(did_doc: Any) -> str | None:
    """The account's own PDS named in its DID document (the entryway may differ)."""
    if not isinstance(did_doc, dict):
        return None
    for service in did_doc.get("service") or []:
        if isinstance(service, dict) and str(service.get("id", "")).endswith("#atproto_pds"):
            endpoint = service.get("serviceEndpoint")
            if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")):
                return endpoint
    return None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The XRPC error body ``{"error": ..., "message": ...}``."""
    body = json_or_empty(response)
    if not isinstance(body, dict):
        return "", ""
    error = str(body.get("error") or "")
    return error, str(body.get("message") or error)


def _refused_token(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 400 and _error_of(response)[0] in TOKEN_ERRORS


def _raise(response: httpx.Response) -> None:
    """Map an XRPC error answer to the seam's typed errors, with the network's words."""
    if response.status_code < 400:
        return
    error, message = _error_of(response)
    if response.status_code == 429:
        reset = epoch_reset(response.headers.get("ratelimit-reset"))
        raise rate_limited(NAME, reset or retry_after(response.headers), message)
    if _refused_token(response):
        raise CredentialsExpiredError(f"{NAME} refused the session: {message or error}")
    words = f"{NAME}: {message}" if message else ""
    raise_for_status(response, network=NAME, message=words)


def _parse_uri(external_id: str) -> tuple[str, str, str]:
    """``at://<did>/<collection>/<rkey>`` as its three parts."""
    parts = external_id.removeprefix("at://").split("/")
    if not external_id.startswith("at://") or len(parts) != 3 or not all(parts):
        raise PermanentError(
            f"{external_id!r} is not a Bluesky post URI (at://did/collection/rkey)"
        )
    return parts[0], parts[1], parts[2]


def post_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{did}/post/{rkey}"


class BlueskyAdapter:
    network = Network.bluesky
    # A client-chosen record key is refused twice by the repository, for ever.
    idempotency_window: timedelta | None = None

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    # -- XRPC ----------------------------------------------------------------------

    async def _send(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await send(self._http, method, url, network=NAME, headers=headers, **kwargs)

    async def _create_session(self, session: _Session) -> None:
        response = await self._send(
            "POST",
            f"{session.entryway}/xrpc/com.atproto.server.createSession",
            json={"identifier": session.identifier, "password": session.app_password},
        )
        if response.status_code in (400, 401):
            _error, message = _error_of(response)
            raise CredentialsExpiredError(
                f"{NAME} refused the app password of {session.identifier}: {message}"
            )
        _raise(response)
        session.take(response.json())

    async def _renew(self, session: _Session) -> None:
        """Refresh the session; log in again when the refresh token is refused."""
        if session.refresh:
            response = await self._send(
                "POST",
                f"{session.entryway}/xrpc/com.atproto.server.refreshSession",
                token=session.refresh,
            )
            if response.status_code < 400:
                session.take(response.json())
                return
            if not _refused_token(response):
                _raise(response)
        await self._create_session(session)

    async def _ready(self, session: _Session) -> None:
        if not session.access or not session.did:
            await self._renew(session)

    async def _xrpc(
        self, session: _Session, method: str, nsid: str, **kwargs: Any
    ) -> httpx.Response:
        """An authenticated call; a refused access token is renewed and the call sent
        once more. Returns the answer unchecked (callers map errors with _raise)."""
        await self._ready(session)
        response = await self._send(
            method, f"{session.service}/xrpc/{nsid}", token=session.access, **kwargs
        )
        if _refused_token(response):
            await self._renew(session)
            response = await self._send(
                method, f"{session.service}/xrpc/{nsid}", token=session.access, **kwargs
            )
        return response

    async def _get_record(self, session: _Session, rkey: str) -> dict[str, Any] | None:
        """The post record with this key in the account's repository, or None."""
        await self._ready(session)
        response = await self._send(
            "GET",
            f"{session.service}/xrpc/com.atproto.repo.getRecord",
            params={"repo": session.did, "collection": POST_COLLECTION, "rkey": rkey},
        )
        if response.status_code == 400 and _error_of(response)[0] == "RecordNotFound":
            return None
        _raise(response)
        body = response.json()
        return body if isinstance(body, dict) else None

    # -- the seam --------------------------------------------------------------------

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        session = _Session(credentials)
        response = await self._xrpc(session, "GET", "com.atproto.server.getSession")
        _raise(response)
        body = response.json()
        session.did = body.get("did") or session.did
        handle = str(body.get("handle") or session.identifier)
        return AccountInfo(
            handle=handle,
            display_name=await self._display_name(session),
            refreshed_credentials=session.refreshed_credentials(),
        )

    async def _display_name(self, session: _Session) -> str:
        """From the profile record in the repository (the PDS itself has no profile
        view; that lives in the AppView)."""
        response = await self._send(
            "GET",
            f"{session.service}/xrpc/com.atproto.repo.getRecord",
            params={"repo": session.did, "collection": "app.bsky.actor.profile", "rkey": "self"},
        )
        if response.status_code >= 400:
            return ""
        value = json_or_empty(response).get("value") or {}
        return str(value.get("displayName") or "") if isinstance(value, dict) else ""

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        session = _Session(request.credentials)
        rkey = record_key(request.idempotency_key)
        saved = dict(request.checkpoint)
        await self._ready(session)
        did = session.did or ""  # set by every session answer (_Session.take)
        uri = f"at://{did}/{POST_COLLECTION}/{rkey}"

        def result() -> PublishResult:
            return PublishResult(
                external_id=uri,
                url=post_url(did, rkey),
                refreshed_credentials=session.refreshed_credentials(),
            )

        if saved.get("rkey") == rkey and await self._get_record(session, rkey) is not None:
            return result()  # a previous attempt created it; its answer was lost

        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": request.text,
            "createdAt": saved.get("created_at") or _now_iso(),
        }
        facets = await self._facets(session, request.text)
        if facets:
            record["facets"] = facets
        langs = _langs(request.limits.get("langs"))
        if langs:
            record["langs"] = langs
        if request.media:
            record["embed"] = await self._images(session, request, saved, checkpoint)
        elif request.link:
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": saved.get("card") or await self._link_card(request.link),
            }
        saved.update(rkey=rkey, created_at=record["createdAt"])
        if request.link and not request.media:
            saved["card"] = record["embed"]["external"]
        await checkpoint(dict(saved))

        response = await self._create(session, rkey, record)
        if (
            response.status_code == 400
            and request.checkpoint.get("blobs")
            and "blob" in _error_of(response)[1].lower()
        ):
            # The PDS deletes blobs that no record references after a while: a late
            # retry uploads its images again.
            saved.pop("blobs", None)
            record["embed"] = await self._images(session, request, saved, checkpoint)
            response = await self._create(session, rkey, record)
        # The reference PDS answers 500 for a key that already exists: a retry of a
        # post whose first answer was lost. Read it back before failing.
        if response.status_code >= 500 and await self._get_record(session, rkey) is not None:
            return result()
        _raise(response)
        return result()

    async def _create(self, session: _Session, rkey: str, record: dict[str, Any]) -> httpx.Response:
        return await self._xrpc(
            session,
            "POST",
            "com.atproto.repo.createRecord",
            json={
                "repo": session.did,
                "collection": POST_COLLECTION,
                "rkey": rkey,
                "record": record,
            },
        )

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        session = _Session(request.credentials)
        rkey = record_key(request.idempotency_key)
        found = await self._get_record(session, rkey)
        if found is None:
            return None
        return PublishResult(
            external_id=str(found.get("uri") or f"at://{session.did}/{POST_COLLECTION}/{rkey}"),
            url=post_url(session.did or "", rkey),
            refreshed_credentials=session.refreshed_credentials(),
        )

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        repo, collection, rkey = _parse_uri(external_id)
        session = _Session(credentials)
        response = await self._xrpc(
            session,
            "POST",
            "com.atproto.repo.deleteRecord",
            json={"repo": repo, "collection": collection, "rkey": rkey},
        )
        _raise(response)

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        """Likes, reposts (quotes counted as reposts) and replies; Bluesky has no views."""
        _parse_uri(external_id)
        session = _Session(credentials)
        response = await self._xrpc(
            session, "GET", "app.bsky.feed.getPosts", params={"uris": external_id}
        )
        _raise(response)
        posts = json_or_empty(response).get("posts") or []
        if not posts:
            raise PermanentError(f"{NAME}: the post {external_id} is gone")
        post = posts[0]
        return Metrics(
            likes=int(post.get("likeCount") or 0),
            reposts=int(post.get("repostCount") or 0) + int(post.get("quoteCount") or 0),
            replies=int(post.get("replyCount") or 0),
        )

    # -- content ----------------------------------------------------------------------

    async def _facets(self, session: _Session, text: str) -> list[dict[str, Any]]:
        facets: list[dict[str, Any]] = []
        dids: dict[str, str | None] = {}
        for span in find_spans(text):
            if span.kind == "link":
                feature = {"$type": "app.bsky.richtext.facet#link", "uri": span.value}
            elif span.kind == "tag":
                feature = {"$type": "app.bsky.richtext.facet#tag", "tag": span.value}
            else:
                if span.value not in dids:
                    dids[span.value] = await self._resolve_handle(session, span.value)
                did = dids[span.value]
                if did is None:
                    continue  # an unknown handle stays plain text
                feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
            facets.append({"index": byte_index(text, span.start, span.end), "features": [feature]})
        return facets

    async def _resolve_handle(self, session: _Session, handle: str) -> str | None:
        response = await self._send(
            "GET",
            f"{session.service}/xrpc/com.atproto.identity.resolveHandle",
            params={"handle": handle},
        )
        if response.status_code == 400:
            return None  # HandleNotFound / InvalidRequest: not an account
        _raise(response)
        did = json_or_empty(response).get("did")
        return did if isinstance(did, str) and did.startswith("did:") else None

    async def _link_card(self, url: str) -> dict[str, str]:
        """A card built from the page's Open Graph tags; a page that cannot be read
        still gets a card with its URL as title (the post is not held back for it)."""
        try:
            response = await send(
                self._http,
                "GET",
                url,
                network="the linked site",
                timeout=LINK_CARD_TIMEOUT,
                follow_redirects=True,
            )
        except NetworkError:
            return card_from_html(url, "")
        kind = response.headers.get("content-type", "")
        if response.status_code >= 400 or "html" not in kind:
            return card_from_html(url, "")
        return card_from_html(url, response.content[:LINK_CARD_BYTES].decode("utf-8", "replace"))

    async def _images(
        self,
        session: _Session,
        request: PublishRequest,
        saved: dict[str, Any],
        checkpoint: Checkpoint,
    ) -> dict[str, Any]:
        """Upload each image once (blob refs kept in the checkpoint) and build the
        ``app.bsky.embed.images`` embed."""
        if any(not item.mime_type.startswith("image/") for item in request.media):
            raise PermanentError(
                f"{NAME}: only images can be published for now (videos need the video service)",
                field="media",
            )
        if len(request.media) > 4:
            raise PermanentError(f"{NAME} takes at most 4 images per post", field="media")
        blobs: list[dict[str, Any]] = list(saved.get("blobs") or [])
        images = []
        for index, item in enumerate(request.media):
            if index < len(blobs) and blobs[index].get("path") == item.path:
                uploaded = blobs[index]
            else:
                uploaded = await self._upload(session, item)
                blobs = [*blobs[:index], uploaded]
                saved["blobs"] = blobs
                await checkpoint(dict(saved))
            image: dict[str, Any] = {"image": uploaded["blob"], "alt": item.alt}
            if uploaded.get("aspectRatio"):
                image["aspectRatio"] = uploaded["aspectRatio"]
            images.append(image)
        return {"$type": "app.bsky.embed.images", "images": images}

    async def _upload(self, session: _Session, item: MediaItem) -> dict[str, Any]:
        data = await read_media(item, NAME)
        response = await self._xrpc(
            session,
            "POST",
            "com.atproto.repo.uploadBlob",
            content=data,
            headers={"Content-Type": item.mime_type},
        )
        _raise(response)
        blob = json_or_empty(response).get("blob")
        if not isinstance(blob, dict):
            raise TransientError(f"{NAME} answered an upload without a blob")
        ratio = await asyncio.to_thread(_aspect_ratio, item.path)
        return {"path": item.path, "blob": blob, "aspectRatio": ratio}


def _aspect_ratio(path: str) -> dict[str, int] | None:
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError):
        return None  # optional in the lexicon: a file Pillow cannot read goes without
    return {"width": width, "height": height} if width and height else None


def _langs(value: Any) -> list[str]:
    """Up to 3 BCP-47 tags, from a list or a comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return []
    return [str(tag).strip() for tag in value if str(tag).strip()][:3]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
