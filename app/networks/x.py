"""X (Twitter) rules: weighted length as twitter-text v3 counts it, media, cashtags.

Weighted length (twitter-text ``parseTweet`` with the v3 configuration): the text is
NFC-normalised; every URL twitter-text extracts counts ``transformedURLLength`` (23);
every emoji sequence counts ``defaultWeight`` (2) however many code points it has;
every other code point counts 1 inside the weight ranges below and 2 outside
(CJK, most symbols). The limit is 280 (``max_weighted_length`` overrides it, e.g.
for a Premium account, whose limit is unconfirmed). Checked against every
weighted-count case of twitter-text's ``conformance/validate.yml`` (tests/data).

URL extraction is twitter-text's own (the ``twitter-text-parser`` port, which passes
the conformance suite). Emoji sequences are recognised from the Unicode properties of
the installed ``regex`` module rather than the port's Emoji 12.0 table, so newer
emoji (e.g. 15.1 ZWJ sequences) count 2 as X counts them.

Adapter (X API v2, platforms.md §3): ``POST /2/tweets``; media through the chunked
upload (``/2/media/upload/initialize``, ``/{id}/append``, ``/{id}/finalize``, then
``GET /2/media/upload?command=STATUS`` while X processes it) and alt text through
``/2/media/metadata``; ``DELETE /2/tweets/:id``; ``GET /2/users/me``; metrics from
``public_metrics``. Errors are problem JSON (``{title, detail, type, status}``);
rate limits are 429 with ``x-rate-limit-reset`` (Unix seconds).

Credentials (OAuth 2.0 user context, from the connect flow)::

    access_token   required: the Bearer user token (2 hours)
    refresh_token  with the offline.access scope: renews the access token
    username       optional: builds the post's URL (x.com/<username>/status/<id>)

Idempotency: none. X keeps no key, so after a timeout nobody can tell whether the
post exists. :meth:`XAdapter.find_existing` says so (LookupUnsupported) rather than
search the timeline for the text: X rewrites what it stores (every URL becomes a
t.co link, the text is NFC-normalised), so an exact match can miss our post and
publish it twice, and a hand-written post with the same words would be taken for
ours. The publisher then marks the delivery ``uncertain`` and a person decides.
"""

from __future__ import annotations

import asyncio
import functools
import os
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import httpx
import regex

from app.networks.base import (
    AccountInfo,
    Checkpoint,
    LookupUnsupported,
    MediaItem,
    Metrics,
    Network,
    OAuthApp,
    PermanentError,
    PublishRequest,
    PublishResult,
    TransientError,
)
from app.networks.counting import (
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    error,
    limit,
    measured,
    needs_content,
    text_length,
    url_spans,
)
from app.networks.http import (
    epoch_reset,
    json_or_empty,
    raise_for_status,
    rate_limited,
    required_credential,
    send,
)
from app.networks.rules import Check, MediaFacts
from app.oauth.tokens import refresh

NETWORK = Network.x
MAX_WEIGHTED_LENGTH = 280
URL_LENGTH = 23
SCALE = 100
DEFAULT_WEIGHT = 200
# twitter-text v3 config "ranges": code points counted as one character.
WEIGHT_RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))
INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")

# One emoji code point on its own (emoji-test.txt's entries, components excluded).
_SINGLE_EMOJI = regex.compile(r"[\p{Emoji}--\p{Emoji_Component}]", regex.V1)
# What may follow the first code point inside one emoji sequence.
_SEQUENCE_TAIL = regex.compile(
    r"(?:\uFE0F|\u20E3|\u200D|\p{Emoji_Modifier}|[\U000E0020-\U000E007F]|\p{Emoji}"
    r"|\p{Extended_Pictographic})+",
    regex.V1,
)
_KEYCAP = regex.compile(r"[0-9#*]\uFE0F?\u20E3")
_FLAG = regex.compile(r"\p{Regional_Indicator}{2}")
_CASHTAG = regex.compile(r"(?:^|(?<=\s))\$[a-z]{1,6}(?:[._][a-z]{1,2})?(?=$|\s|\p{P})", regex.I)

V2 = {"ranges": WEIGHT_RANGES, "emoji_parsing": False}
V3 = {"ranges": WEIGHT_RANGES, "emoji_parsing": True}


def _is_emoji_sequence(cluster: str) -> bool:
    if len(cluster) == 1 or "\ufe0e" in cluster:
        return False
    if _KEYCAP.fullmatch(cluster) or _FLAG.fullmatch(cluster):
        return True
    first = cluster[0]
    if not (_SINGLE_EMOJI.match(first) or regex.match(r"\p{Extended_Pictographic}", first)):
        return False
    return _SEQUENCE_TAIL.fullmatch(cluster, 1) is not None


@functools.lru_cache(maxsize=8192)
def _is_emoji(cluster: str) -> bool:
    return _is_emoji_sequence(cluster) or (len(cluster) == 1 and bool(_SINGLE_EMOJI.match(cluster)))


def is_emoji(cluster: str) -> bool:
    """Whether one grapheme cluster is an emoji as twitter-text v3 counts it."""
    # No ASCII-only cluster is an emoji: the ASCII code points with the Emoji property
    # (0-9, #, *) are emoji components, and a keycap needs U+20E3. Clusters repeat
    # (letters, the same emoji), so the rest are remembered.
    return not cluster.isascii() and _is_emoji(cluster)


# A grapheme cluster that holds a non-ASCII code point starts with one, or is an ASCII
# code point followed by one (a combining mark, U+FE0F, U+20E3...). Two ASCII code points
# in a row are always two clusters (or CR LF), so searching for this pattern finds every
# such cluster at its true boundaries, skipping the ASCII between them.
_NON_ASCII_CLUSTER = regex.compile(r"(?=[^\x00-\x7f]|.[^\x00-\x7f])\X", regex.DOTALL)


def _emoji_entities(text: str) -> dict[int, int]:
    """Start index → length (code points) of each emoji, as twitter-text's v3 parser sees it."""
    if text.isascii():
        return {}
    return {
        match.start(): len(cluster)
        for match in _NON_ASCII_CLUSTER.finditer(text)
        if is_emoji(cluster := match.group())
    }


def _weight(char: str, ranges: tuple[tuple[int, int, int], ...]) -> int:
    code = ord(char)
    for start, end, weight in ranges:
        if start <= code <= end:
            return weight
    return DEFAULT_WEIGHT


@functools.cache
def _ascii_weight(ranges: tuple[tuple[int, int, int], ...]) -> int | None:
    """The weight of every ASCII code point when the ranges give them all the same one."""
    weights = {_weight(chr(code), ranges) for code in range(128)}
    return weights.pop() if len(weights) == 1 else None


def _span_weight(text: str, ranges: tuple[tuple[int, int, int], ...]) -> int:
    if text.isascii():
        same = _ascii_weight(ranges)
        if same is not None:
            return same * len(text)
    return sum([_weight(char, ranges) for char in text])


def weighted_length(
    text: str,
    *,
    ranges: tuple[tuple[int, int, int], ...] = WEIGHT_RANGES,
    emoji_parsing: bool = True,
    url_length: int = URL_LENGTH,
) -> int:
    """twitter-text's ``weightedLength`` (v3 configuration unless told otherwise)."""
    normalized = unicodedata.normalize("NFC", text)
    ranges = tuple((low, high, weight) for low, high, weight in ranges)
    url_at = {start: end for start, end, _ in url_spans(normalized, True)}
    emoji_at = _emoji_entities(normalized) if emoji_parsing else {}
    # Walk from entity to entity (a URL first where both start at one index), weighing
    # the code points between them.
    total = 0
    i = 0
    for start in sorted(url_at.keys() | emoji_at.keys()):
        if start < i:  # inside the previous entity
            continue
        total += _span_weight(normalized[i:start], ranges)
        if start in url_at:
            total += url_length * SCALE
            i = url_at[start]
        else:
            total += DEFAULT_WEIGHT
            i = start + emoji_at[start]
    total += _span_weight(normalized[i:], ranges)
    return total // SCALE


def has_invalid_characters(text: str) -> bool:
    return any(c in INVALID_CHARACTERS for c in unicodedata.normalize("NFC", text))


def cashtags(text: str) -> list[str]:
    return _CASHTAG.findall(text)


IMAGE = MediaKind(
    "image",
    "images",
    frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=5 * MB,
    max_items=4,
)
GIF = MediaKind("GIF", "GIFs", frozenset({"image/gif"}), max_bytes=15 * MB, max_items=1)
VIDEO = MediaKind(
    "video",
    "videos",
    frozenset({"video/mp4", "video/quicktime"}),
    max_bytes=512 * MB,
    max_items=1,
    min_seconds=0.5,
    max_seconds=140,
)
MEDIA = MediaPolicy(
    kinds=(IMAGE, GIF, VIDEO),
    mixing=False,
    accepted="JPEG, PNG, WEBP and GIF images and MP4 or MOV videos",
    combos="up to 4 images, or 1 GIF, or 1 video",
)


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_weighted_length", "max_characters"), MAX_WEIGHTED_LENGTH)
    count = weighted_length(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="weighted characters")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or media"))
    if has_invalid_characters(text):
        verdicts.append(
            error(
                NETWORK,
                "text",
                "X refuses the invisible characters U+FFFE, U+FEFF and U+FFFF; "
                "this copy has at least one.",
            )
        )
    tags = cashtags(text)
    if len(tags) > 1:
        verdicts.append(
            error(
                NETWORK,
                "text",
                f"X allows 1 cashtag per post through its API; this copy has {len(tags)}.",
                len(tags),
                1,
            )
        )
    verdicts += check_media(NETWORK, media, MEDIA)
    return measured(NETWORK, "weighted characters", count, maximum, verdicts)


# -- adapter ------------------------------------------------------------------------------

API_BASE = "https://api.x.com"
TOKEN_PATH = "/2/oauth2/token"
SETTINGS_PREFIX = "ALMANAC_X_"
# APPEND segments: X takes up to 5 MB a segment (media best practices); 4 MiB leaves room.
CHUNK_SIZE = 4 * 1024 * 1024
# How long one publish waits for X to process a video before giving up for this
# attempt (the finalized media id is kept, so the retry only polls again).
PROCESSING_PATIENCE = timedelta(minutes=5)
_CATEGORIES = {"image/gif": "tweet_gif"}


def _category(mime_type: str) -> str:
    if mime_type in _CATEGORIES:
        return _CATEGORIES[mime_type]
    return "tweet_video" if mime_type.startswith("video/") else "tweet_image"


def problem_message(body: Any) -> str:
    """The person-readable words of an X error body: problem JSON's ``detail`` (or
    ``title``), else the first entry of ``errors[]``."""
    if not isinstance(body, dict):
        return ""
    words = body.get("detail") or body.get("title")
    errors = body.get("errors")
    if not words and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        words = errors[0].get("detail") or errors[0].get("message")
    return str(words or "")


def _check(response: httpx.Response, doing: str) -> None:
    if response.status_code < 400:
        return
    words = problem_message(json_or_empty(response))
    if response.status_code == 429:
        reset = epoch_reset(response.headers.get("x-rate-limit-reset"))
        raise rate_limited("X", reset, words)
    message = f"X refused to {doing}: {words}" if words else ""
    raise_for_status(response, network="X", message=message)


class XAdapter:
    network = Network.x
    # X honours no idempotency key: a post whose answer was lost cannot be retried safely.
    idempotency_window: timedelta | None = timedelta(0)

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base: str = API_BASE,
        oauth: OAuthApp | None = None,
        chunk_size: int = CHUNK_SIZE,
        poll_interval: float | None = None,
    ) -> None:
        self._http = http
        self._api = (oauth.api_base if oauth and oauth.api_base else api_base).rstrip("/")
        self._oauth = oauth
        self._chunk_size = chunk_size
        self._poll_interval = poll_interval  # None: as X says (check_after_secs)

    # -- plumbing -----------------------------------------------------------------------

    @staticmethod
    def _token(credentials: dict[str, Any]) -> str:
        return required_credential(credentials, "access_token", "X")

    async def _call(
        self, method: str, path: str, credentials: dict[str, Any], doing: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {self._token(credentials)}"}
        response = await send(
            self._http, method, self._api + path, network="X", headers=headers, **kwargs
        )
        _check(response, doing)
        return response

    def _url(self, credentials: dict[str, Any], post_id: str) -> str:
        username = credentials.get("username")
        if isinstance(username, str) and username:
            return f"https://x.com/{username}/status/{post_id}"
        return f"https://x.com/i/web/status/{post_id}"

    # -- the seam -------------------------------------------------------------------------

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        response = await self._call("GET", "/2/users/me", credentials, "read the account")
        data = json_or_empty(response).get("data") or {}
        username = str(data.get("username") or "")
        if not username:
            raise PermanentError(f"X answered {response.status_code} without the account")
        refreshed = None
        if credentials.get("username") != username:
            refreshed = {**credentials, "username": username}
        return AccountInfo(
            handle=username,
            display_name=str(data.get("name") or ""),
            refreshed_credentials=refreshed,
        )

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        credentials = request.credentials
        self._token(credentials)
        media_ids = await self._upload_all(request, checkpoint)
        body: dict[str, Any] = {"text": request.text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        response = await self._call("POST", "/2/tweets", credentials, "publish the post", json=body)
        payload = json_or_empty(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        post_id = str((data or {}).get("id") or "")
        if not post_id:
            words = problem_message(payload) or f"HTTP {response.status_code} without a post id"
            raise PermanentError(f"X refused to publish the post: {words}")
        return PublishResult(external_id=post_id, url=self._url(credentials, post_id))

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        raise LookupUnsupported(
            "X keeps no idempotency key and rewrites what it stores (links become t.co "
            "links), so whether a post whose answer was lost exists cannot be checked "
            "safely; look at the account and mark the delivery published or retry it"
        )

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        headers = {"authorization": f"Bearer {self._token(credentials)}"}
        response = await send(
            self._http,
            "DELETE",
            f"{self._api}/2/tweets/{_post_id(external_id)}",
            network="X",
            headers=headers,
        )
        if response.status_code == 404:
            return  # already gone: what a take-down wants
        _check(response, "delete the post")
        data = json_or_empty(response).get("data") or {}
        if data.get("deleted") is not True:
            raise PermanentError(f"X did not delete post {external_id}")

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        response = await self._call(
            "GET",
            f"/2/tweets/{_post_id(external_id)}",
            credentials,
            "read the post",
            params={"tweet.fields": "public_metrics"},
        )
        data = json_or_empty(response).get("data") or {}
        counts = data.get("public_metrics") or {}
        return Metrics(
            likes=_count(counts, "like_count"),
            reposts=_count(counts, "retweet_count"),
            replies=_count(counts, "reply_count"),
            views=_count(counts, "impression_count"),
        )

    async def refresh_credentials(
        self, credentials: dict[str, Any]
    ) -> tuple[dict[str, Any], datetime | None]:
        """OAuth 2.0 ``refresh_token`` grant at ``POST /2/oauth2/token`` (access tokens
        live 2 hours; a refresh token comes with the ``offline.access`` scope)."""
        return await refresh(
            self._http,
            self._oauth,
            credentials,
            network="X",
            settings_prefix=SETTINGS_PREFIX,
            default_token_url=self._api + TOKEN_PATH,
        )

    # -- media --------------------------------------------------------------------------------

    async def _upload_all(self, request: PublishRequest, checkpoint: Checkpoint) -> list[str]:
        """Every media item uploaded (or resumed from the checkpoint) and processed."""
        state: dict[str, Any] = dict(request.checkpoint)
        uploads: dict[str, dict[str, Any]] = {
            key: dict(value) for key, value in dict(state.get("x_media") or {}).items()
        }

        async def save(index: int, upload: dict[str, Any]) -> None:
            uploads[str(index)] = upload
            state["x_media"] = {key: dict(value) for key, value in uploads.items()}
            await checkpoint(dict(state))

        ids = []
        for index, item in enumerate(request.media):
            upload = uploads.get(str(index), {})
            ids.append(await self._upload(request.credentials, index, item, upload, save))
        return ids

    async def _upload(
        self,
        credentials: dict[str, Any],
        index: int,
        item: MediaItem,
        upload: dict[str, Any],
        save: Any,
    ) -> str:
        try:
            size = await asyncio.to_thread(os.path.getsize, item.path)
        except OSError:
            raise PermanentError(f"media file {os.path.basename(item.path)} is missing") from None
        media_id = upload.get("media_id")
        if not media_id:
            response = await self._call(
                "POST",
                "/2/media/upload/initialize",
                credentials,
                "start the media upload",
                json={
                    "media_type": item.mime_type,
                    "total_bytes": size,
                    "media_category": _category(item.mime_type),
                },
            )
            media_id = str((json_or_empty(response).get("data") or {}).get("id") or "")
            if not media_id:
                raise TransientError("X answered the media upload without a media id")
            upload = {"media_id": media_id, "segments": 0, "finalized": False}
            await save(index, upload)
        if not upload.get("finalized"):
            upload = await self._append(credentials, index, item, upload, save)
            response = await self._call(
                "POST",
                f"/2/media/upload/{media_id}/finalize",
                credentials,
                "finish the media upload",
            )
            upload = {**upload, "finalized": True}
            await save(index, upload)
            info = (json_or_empty(response).get("data") or {}).get("processing_info")
        else:
            info = await self._status(credentials, media_id)
        await self._wait_processed(credentials, media_id, info)
        if item.alt and not item.mime_type.startswith("video/"):
            await self._call(
                "POST",
                "/2/media/metadata",
                credentials,
                "set the alt text",
                json={"id": media_id, "metadata": {"alt_text": {"text": item.alt[:1000]}}},
            )
        return media_id

    async def _append(
        self,
        credentials: dict[str, Any],
        index: int,
        item: MediaItem,
        upload: dict[str, Any],
        save: Any,
    ) -> dict[str, Any]:
        """APPEND the segments not yet sent, recording each one done so a retry resumes."""
        media_id = upload["media_id"]
        done = int(upload.get("segments") or 0)
        while chunk := await asyncio.to_thread(_segment, item.path, done, self._chunk_size):
            await self._call(
                "POST",
                f"/2/media/upload/{media_id}/append",
                credentials,
                "upload the media",
                data={"segment_index": str(done)},
                files={"media": ("chunk", chunk, "application/octet-stream")},
            )
            done += 1
            upload = {**upload, "segments": done}
            await save(index, upload)
        return upload

    async def _status(self, credentials: dict[str, Any], media_id: str) -> dict[str, Any] | None:
        response = await self._call(
            "GET",
            "/2/media/upload",
            credentials,
            "read the media's processing state",
            params={"command": "STATUS", "media_id": media_id},
        )
        return (json_or_empty(response).get("data") or {}).get("processing_info")

    async def _wait_processed(
        self, credentials: dict[str, Any], media_id: str, info: dict[str, Any] | None
    ) -> None:
        waited = 0.0
        while info and info.get("state") in ("pending", "in_progress"):
            if waited >= PROCESSING_PATIENCE.total_seconds():
                raise TransientError("X is still processing the media; trying again later")
            delay = self._poll_interval
            if delay is None:
                delay = float(info.get("check_after_secs") or 1)
            await asyncio.sleep(delay)
            waited += max(delay, 0.01)
            info = await self._status(credentials, media_id)
        if info and info.get("state") == "failed":
            error = info.get("error") or {}
            words = error.get("message") or error.get("name") or "processing failed"
            raise PermanentError(f"X could not process the media: {words}")


def _segment(path: str, index: int, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(index * size)
        return handle.read(size)


def _post_id(external_id: str) -> str:
    if not external_id.isdigit():
        raise PermanentError(f"{external_id!r} is not an X post id")
    return external_id


def _count(counts: dict[str, Any], name: str) -> int | None:
    value = counts.get(name)
    return value if isinstance(value, int) else None
