"""Matrix rules: generous. A whole event may not exceed 65,536 bytes (client-server
spec), so the body is held to 60,000 UTF-8 bytes to leave room for the envelope (an
approximation). Uploads: the homeserver's ``m.upload.size`` when the channel knows it
(``max_upload_size``), else unchecked.

Adapter (client-server API). Credentials: ``homeserver_url`` (https://matrix.example,
user-given: sent through the guarded client), ``access_token`` (of a device of the
account that posts) and ``room_id`` (``!opaque:server``, or ``!opaque`` from room
version 12; the account must have joined it).

A post is one event, or several: the text as ``m.text``, then one ``m.image`` /
``m.video`` / ``m.audio`` / ``m.file`` per media file (``body`` = its alt text, ``info``
= size, type and dimensions). The first event is the post's external id; the others
point at it with an ``m.reference`` relation, so a take-down finds and redacts them
all. Each event is sent with ``PUT .../send/m.room.message/{txnId}``, the txnId derived
from the delivery's idempotency key and the event's position: the homeserver returns
the event it already created for a (device, txnId) pair instead of creating another.
Synapse keeps those pairs for 24 hours (``_cleanup_old_transaction_ids``), hence the
window; past it, :meth:`MatrixAdapter.find_existing` looks for the txnId the server
echoes in ``unsigned.transaction_id`` of our own recent events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from app.net.outbound import DestinationRefused, check_url_shape
from app.networks.base import (
    AccountInfo,
    Checkpoint,
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
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
    needs_content,
    text_length,
    utf8_bytes,
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

NETWORK = Network.matrix
MAX_BYTES = 60_000


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_bytes", "max_characters"), MAX_BYTES)
    count = utf8_bytes(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="bytes of text")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or a file"))
    upload = limits.get("max_upload_size")
    kind = MediaKind(
        "file",
        "files",
        prefix="",
        max_bytes=limit(limits, ("max_upload_size",), 0) if upload else None,
    )
    verdicts += check_media(NETWORK, media, MediaPolicy(kinds=(kind,), accepted="files"))
    return measured(NETWORK, "bytes", count, maximum, verdicts)


# -- adapter ------------------------------------------------------------------------

CLIENT = "/_matrix/client/v3"
TXN_WINDOW = timedelta(hours=24)  # Synapse's event_txn_id_device_id retention
LOOKUP_PAGES = 5  # of 100 own events scanned by find_existing before giving up
RELATION_PAGES = 10  # of relations read for a take-down or metrics


class MatrixAdapter:
    """Posts into one room with de-duplicated transaction ids (see the module docstring)."""

    network = NETWORK
    idempotency_window: timedelta | None = TXN_WINDOW

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    # -- plumbing --

    async def _call(
        self, credentials: dict[str, Any], method: str, path: str, **kwargs: Any
    ) -> Any:
        token = required_credential(credentials, "access_token", "Matrix")
        headers = {
            "Authorization": f"Bearer {token}",
            **kwargs.pop("headers", {}),
        }
        response = await send(
            self._http,
            method,
            f"{_homeserver(credentials)}{path}",
            network="Matrix",
            headers=headers,
            **kwargs,
        )
        _raise_for_error(response)
        return json_or_empty(response)

    async def _user_id(self, credentials: dict[str, Any]) -> str:
        whoami = await self._call(credentials, "GET", f"{CLIENT}/account/whoami")
        user_id = whoami.get("user_id") if isinstance(whoami, dict) else None
        if not isinstance(user_id, str):
            raise PermanentError("the homeserver did not say who this token belongs to")
        return user_id

    # -- the seam --

    async def verify(self, credentials: dict[str, Any]) -> AccountInfo:
        room_id = _room(credentials)
        user_id = await self._user_id(credentials)
        joined = await self._call(credentials, "GET", f"{CLIENT}/joined_rooms")
        rooms = joined.get("joined_rooms") if isinstance(joined, dict) else None
        if not isinstance(rooms, list) or room_id not in rooms:
            raise PermanentError(
                f"{user_id} is not a member of the room {room_id}: invite the account "
                "and join the room with it first",
                field="room_id",
            )
        profile = await self._optional(
            credentials, f"{CLIENT}/profile/{quote(user_id, safe='')}/displayname"
        )
        config = await self._optional(credentials, "/_matrix/client/v1/media/config")
        if config is None:  # homeservers before authenticated media (spec v1.11)
            config = await self._optional(credentials, "/_matrix/media/v3/config")
        limits: dict[str, Any] = {}
        upload = (config or {}).get("m.upload.size")
        if isinstance(upload, int) and not isinstance(upload, bool) and upload > 0:
            limits["max_upload_size"] = upload
        display = (profile or {}).get("displayname")
        return AccountInfo(
            handle=user_id,
            display_name=display if isinstance(display, str) and display else user_id,
            limits=limits,
        )

    async def _optional(self, credentials: dict[str, Any], path: str) -> dict[str, Any] | None:
        """A GET whose 404 (not set, not implemented) is an answer, not a failure."""
        try:
            body = await self._call(credentials, "GET", path)
        except MatrixError as error:
            if error.status in (404, 405) or error.errcode == "M_UNRECOGNIZED":
                return None
            raise
        return body if isinstance(body, dict) else None

    async def publish(self, request: PublishRequest, checkpoint: Checkpoint) -> PublishResult:
        credentials = request.credentials
        room_id = _room(credentials)
        required_credential(credentials, "access_token", "Matrix")
        # Resume where an earlier attempt stopped: files uploaded, events sent.
        uploads: list[dict[str, Any]] = list(request.checkpoint.get("uploads") or [])
        events: list[str] = list(request.checkpoint.get("events") or [])

        async def save() -> None:
            await checkpoint({"uploads": list(uploads), "events": list(events)})

        for item in request.media[len(uploads) :]:
            uploads.append(await self._upload(credentials, item))
            await save()
        contents = _contents(request, uploads[: len(request.media)])
        base = txn_base(request.idempotency_key)
        for index in range(len(events), len(contents)):
            content = dict(contents[index])
            if index > 0:
                content["m.relates_to"] = {"rel_type": "m.reference", "event_id": events[0]}
            sent = await self._call(
                credentials,
                "PUT",
                f"{_room_path(room_id)}/send/m.room.message/{base}-{index}",
                json=content,
            )
            event_id = sent.get("event_id") if isinstance(sent, dict) else None
            if not isinstance(event_id, str):
                raise PermanentError("the homeserver accepted the message but returned no event id")
            events.append(event_id)
            if index + 1 < len(contents):
                await save()
        anchor = events[0]
        return PublishResult(external_id=anchor, url=event_link(room_id, anchor))

    async def _upload(self, credentials: dict[str, Any], item: MediaItem) -> dict[str, Any]:
        """Uploads one file; returns what its event needs (``url``, ``info``)."""
        content = await read_media(item, "Matrix")
        name = Path(item.path).name
        uploaded = await self._call(
            credentials,
            "POST",
            "/_matrix/media/v3/upload",
            params={"filename": name},
            content=content,
            headers={"Content-Type": item.mime_type},
        )
        uri = uploaded.get("content_uri") if isinstance(uploaded, dict) else None
        if not isinstance(uri, str) or not uri.startswith("mxc://"):
            raise PermanentError("the homeserver accepted the upload but returned no mxc:// URI")
        info: dict[str, Any] = {"mimetype": item.mime_type, "size": len(content)}
        if item.mime_type.startswith("image/"):
            size = await asyncio.to_thread(_image_size, item.path)
            if size is not None:
                info["w"], info["h"] = size
        return {"url": uri, "info": info, "alt": item.alt or name, "mime_type": item.mime_type}

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        """Redacts the post's media events (those of ours pointing at it), then it."""
        room_id = _room(credentials)
        event_id = _event_id(external_id)
        user_id = await self._user_id(credentials)
        parts = [
            event["event_id"]
            for event in await self._relations(credentials, room_id, event_id, "m.reference")
            if event.get("sender") == user_id and isinstance(event.get("event_id"), str)
        ]
        for target in [*parts, event_id]:
            txn = "redact-" + hashlib.sha256(target.encode()).hexdigest()[:32]
            try:
                await self._call(
                    credentials,
                    "PUT",
                    f"{_room_path(room_id)}/redact/{quote(target, safe='')}/{txn}",
                    json={"reason": "Taken down with Almanac"},
                )
            except MatrixError as error:
                if error.errcode != "M_NOT_FOUND":
                    raise

    async def _relations(
        self, credentials: dict[str, Any], room_id: str, event_id: str, rel_type: str
    ) -> list[dict[str, Any]]:
        path = f"/_matrix/client/v1/rooms/{quote(room_id, safe='')}/relations/"
        path += f"{quote(event_id, safe='')}/{rel_type}"
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        for _ in range(RELATION_PAGES):
            page = await self._call(credentials, "GET", path, params=params)
            chunk = page.get("chunk") if isinstance(page, dict) else None
            events += [event for event in chunk or [] if isinstance(event, dict)]
            following = page.get("next_batch") if isinstance(page, dict) else None
            if not following:
                break
            params = {"limit": 100, "from": following}
        return events

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        """Reactions count as likes, thread replies as replies (up to 1,000 each)."""
        room_id = _room(credentials)
        event_id = _event_id(external_id)
        reactions = await self._relations(credentials, room_id, event_id, "m.annotation")
        replies = await self._relations(credentials, room_id, event_id, "m.thread")
        return Metrics(likes=len(reactions), replies=len(replies))

    async def find_existing(self, request: PublishRequest) -> PublishResult | None:
        """Our recent events whose ``unsigned.transaction_id`` is this key's first txnId
        (the homeserver shows it to the device that sent the event)."""
        credentials = request.credentials
        room_id = _room(credentials)
        user_id = await self._user_id(credentials)
        wanted = f"{txn_base(request.idempotency_key)}-0"
        event_filter = json.dumps({"senders": [user_id], "types": ["m.room.message"]})
        params: dict[str, Any] = {"dir": "b", "limit": 100, "filter": event_filter}
        for _ in range(LOOKUP_PAGES):
            page = await self._call(
                credentials, "GET", f"{_room_path(room_id)}/messages", params=params
            )
            page = page if isinstance(page, dict) else {}
            for event in page.get("chunk") or []:
                unsigned = event.get("unsigned") if isinstance(event, dict) else None
                if isinstance(unsigned, dict) and unsigned.get("transaction_id") == wanted:
                    event_id = str(event["event_id"])
                    return PublishResult(event_id, event_link(room_id, event_id))
            if not page.get("end") or not page.get("chunk"):
                return None  # the whole history was read
            params = {**params, "from": page["end"]}
        raise LookupUnsupported(
            f"not among our last {LOOKUP_PAGES * 100} events in the room; cannot tell"
        )


def txn_base(idempotency_key: str) -> str:
    """The transaction id stem of a delivery: stable, URL-safe, not the key itself."""
    return "almanac-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def event_link(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{quote(room_id, safe='')}/{quote(event_id, safe='')}"


def _contents(request: PublishRequest, uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    text = request.text
    if request.link and request.link not in text:
        text = f"{text}\n\n{request.link}" if text.strip() else request.link
    contents: list[dict[str, Any]] = []
    if text.strip():
        contents.append({"msgtype": "m.text", "body": text})
    for upload in uploads:
        kind = str(upload.get("mime_type", "")).split("/", 1)[0]
        msgtype = {"image": "m.image", "video": "m.video", "audio": "m.audio"}.get(kind, "m.file")
        contents.append(
            {
                "msgtype": msgtype,
                "body": upload["alt"],
                "url": upload["url"],
                "info": upload["info"],
            }
        )
    if not contents:
        raise PermanentError("a Matrix message needs text or a file", field="text")
    return contents


def _image_size(path: str) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError):
        return None


class MatrixError(PermanentError):
    """A refusal from the homeserver, with its ``errcode`` and HTTP status."""

    def __init__(self, message: str, *, errcode: str, status: int) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.status = status


_EXPIRED = {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_USER_DEACTIVATED", "M_USER_LOCKED"}


def _raise_for_error(response: httpx.Response) -> None:
    """``{"errcode": "M_...", "error": "..."}`` bodies (client-server spec, API standards)."""
    status = response.status_code
    if status < 400:
        return
    body = json_or_empty(response)
    body = body if isinstance(body, dict) else {}
    errcode = str(body.get("errcode") or "")
    words = str(body.get("error") or "")
    detail = f"{words} ({errcode})" if words and errcode else words or errcode
    message = f"Matrix: {detail}" if detail else f"Matrix answered HTTP {status}"
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        wait_ms = body.get("retry_after_ms")
        until = retry_after(response.headers)
        if isinstance(wait_ms, int | float) and not isinstance(wait_ms, bool):
            until = datetime.now(UTC) + timedelta(milliseconds=wait_ms)
        raise rate_limited("Matrix", until, detail)
    if errcode in _EXPIRED or status == 401:
        raise CredentialsExpiredError(f"the homeserver refused the access token: {detail}")
    if status < 500 and status not in (408, 425):
        raise MatrixError(message, errcode=errcode, status=status)
    raise_for_status(response, network="Matrix", message=message)


def _homeserver(credentials: dict[str, Any]) -> str:
    try:
        url = check_url_shape(required_credential(credentials, "homeserver_url", "Matrix"))
    except DestinationRefused as refused:
        raise PermanentError(f"homeserver_url: {refused.message}", field="homeserver_url") from None
    return str(url).rstrip("/")


def _room(credentials: dict[str, Any]) -> str:
    room_id = required_credential(credentials, "room_id", "Matrix")
    # Room versions 12+ drop the ":server" part; an alias starts with "#".
    if not room_id.startswith("!") or len(room_id) < 2:
        raise PermanentError(
            "room_id must be a room id starting with ! (room settings, Advanced), not an alias",
            field="room_id",
        )
    return room_id


def _room_path(room_id: str) -> str:
    return f"{CLIENT}/rooms/{quote(room_id, safe='')}"


def _event_id(external_id: str) -> str:
    if not external_id.startswith("$"):
        raise PermanentError(f"{external_id!r} is not a Matrix event id")
    return external_id
