"""Receiving an upload: the multipart body is parsed as it streams in, and the file
part goes straight into a :class:`~app.media.storage.Spool` in the media folder,
so a refused file (wrong type, too large) is refused after its first bytes, and no
copy of it waits in the system's temp folder.

Fields: ``file`` (required, exactly one), ``alt`` (optional), ``csrf_token``
(read by the CSRF check when the caller is a browser without the header).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.datastructures import UploadFile

from app.errors import Invalid
from app.media.storage import Received, Spool, copy_into, max_upload_bytes, too_large

MAX_PARTS = 10
MAX_FIELD_BYTES = 8 * 1024
# Multipart boundaries and part headers around the file.
ENVELOPE_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_ERROR = "Send the file as multipart/form-data, in a field named 'file'."


@dataclass
class Upload:
    received: Received
    filename: str
    alt: str | None


def safe_filename(raw: str | None) -> str:
    """The name to show and to offer on download: the last path component only, no
    control characters, at most 255 characters. Never used as a path."""
    name = unicodedata.normalize("NFC", raw or "")
    name = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:  # keep the extension
            return stem[: 254 - len(extension)] + "." + extension
    return name[:255]


def _missing_file() -> Invalid:
    return Invalid(_FIELD_ERROR, errors=[{"field": "file", "network": None, "message": "missing"}])


def _bad_alt() -> Invalid:
    return Invalid(
        "Alt text is limited to 1,500 characters.",
        errors=[{"field": "alt", "network": None, "message": "at most 1,500 characters"}],
    )


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    """Turns python-multipart's synchronous callbacks into events handled asynchronously
    (writing to the spool) after each chunk."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.events: list[tuple[str, Any]] = []
        self.parts = 0
        self.part: _Part | None = None
        self.file_seen = False
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.events.append(("headers", dict(self._headers))),
            "on_part_data": lambda d, s, e: self.events.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: self.events.append(("end", None)),
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    async def handle(self) -> None:
        events, self.events = self.events, []
        for kind, value in events:
            if kind == "headers":
                self._start(value)
            elif kind == "data":
                await self._data(value)
            else:
                self._end()

    def _start(self, headers: dict[bytes, bytes]) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Invalid(f"An upload has at most {MAX_PARTS} form fields.")
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.part = _Part(name, None if filename is None else filename.decode("utf-8", "replace"))
        if name == "file":
            if self.file_seen:
                raise Invalid("Send one file per upload.")
            self.file_seen = True
            self.filename = self.part.filename

    async def _data(self, data: bytes) -> None:
        part = self.part
        if part is None:
            return
        if part.name == "file":
            await self.spool.write(data)
            return
        part.data.extend(data)
        if len(part.data) > MAX_FIELD_BYTES:
            if part.name == "alt":
                raise _bad_alt()
            raise Invalid(f"The form field '{part.name}' is too long.")

    def _end(self) -> None:
        part, self.part = self.part, None
        if part is not None and part.name and part.name != "file":
            self.fields[part.name] = part.data.decode("utf-8", "replace")


async def _receive_streaming(request: Request, spool: Spool, boundary: bytes) -> Upload:
    receiver = _Receiver(spool)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
                await receiver.handle()
        parser.finalize()
    except MultipartParseError:
        raise Invalid("The upload is not valid multipart/form-data.") from None
    if parser.state != MultipartState.END:
        raise Invalid("The upload was cut short (the multipart body has no end); send it again.")
    await receiver.handle()
    if not receiver.file_seen:
        raise _missing_file()
    return Upload(
        await spool.finish(), safe_filename(receiver.filename), receiver.fields.get("alt")
    )


async def _receive_parsed(request: Request, spool: Spool) -> Upload:
    """The body was already parsed (a browser form whose CSRF token is a form field):
    feed the parsed file into the spool, with the same checks."""
    form = await request.form()
    try:
        uploads = [value for value in form.getlist("file") if isinstance(value, UploadFile)]
        if not uploads:
            raise _missing_file()
        if len(uploads) > 1:
            raise Invalid("Send one file per upload.")
        await copy_into(spool, uploads[0].file)
    finally:
        await form.close()  # the parsed files are temp files: close them now
    alt = form.get("alt")
    return Upload(
        await spool.finish(),
        safe_filename(uploads[0].filename),
        alt if isinstance(alt, str) else None,
    )


async def receive_upload(request: Request, root: Path) -> Upload:
    """The file and fields of a multipart upload; the file sits in the media folder's
    tmp directory (the caller stores or discards it)."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise _missing_file()
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_upload_bytes() + ENVELOPE_BYTES:
        raise too_large(max_upload_bytes())
    spool = await Spool(root).open()
    try:
        try:
            upload = await _receive_streaming(request, spool, options[b"boundary"])
        except RuntimeError as exc:  # "Stream consumed": the CSRF check parsed the form
            if "consumed" not in str(exc):
                raise
            upload = await _receive_parsed(request, spool)
    except BaseException:
        await spool.discard()
        raise
    if upload.alt is not None and len(upload.alt) > 1500:
        await spool.discard()
        raise _bad_alt()
    return upload
