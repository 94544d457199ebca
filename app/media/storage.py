"""Media files on disk: sniffing, size limits, inspection and content-addressed storage.

A file is received into ``<media dir>/tmp/`` while it is hashed (SHA-256) and counted,
then renamed (atomically, same file system) to ``<media dir>/<sha[:2]>/<sha>``: no
path ever comes from the user. The type is sniffed from the first bytes, never taken
from the name or the client's ``Content-Type``; only the handful of types the
networks take are accepted (JPEG, PNG, GIF, WebP, MP4 and QuickTime video).

Images are opened and decoded with Pillow (a corrupt one is refused); videos are
described by ``ffprobe`` (Debian's ``ffmpeg`` package) when it is installed, and
otherwise stored without duration and codec.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
from anyio.to_thread import run_sync
from PIL import Image, UnidentifiedImageError

from app.errors import AppError, Invalid
from app.logging import get_logger

log = get_logger("almanac.media")

MB = 1024 * 1024
# Per kind; the networks' own limits are checked when a post is validated.
MAX_IMAGE_BYTES = 20 * MB
MAX_VIDEO_BYTES = 200 * MB
# Decoding a bigger image would take too much memory; no network takes one anyway.
MAX_IMAGE_PIXELS = 50_000_000
FFPROBE_TIMEOUT_SECONDS = 30.0
# Enough bytes to recognise every accepted type.
SNIFF_BYTES = 16

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
# Pillow's format name for each image type: the decoder must agree with the sniffing.
PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
# ISO base media brands (bytes 8-12 of an ``ftyp`` box) of MP4 video. HEIC/AVIF images
# and M4A audio share the container and are refused.
MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"dash",
        b"mmp4",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"MSNV",
        b"f4v ",
    }
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
ACCEPTED = "JPEG, PNG, GIF or WebP images, or MP4 or QuickTime (MOV) videos"


class TooLarge(AppError):
    status_code = 413


class UnsupportedType(AppError):
    status_code = 415


def sniff(head: bytes) -> str | None:
    """The MIME type of a file from its first bytes, among the accepted ones, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in MP4_BRANDS:
            return "video/mp4"
    return None


def limit_for(mime_type: str) -> int:
    return MAX_IMAGE_BYTES if mime_type in IMAGE_TYPES else MAX_VIDEO_BYTES


def max_upload_bytes() -> int:
    return max(MAX_IMAGE_BYTES, MAX_VIDEO_BYTES)


def _megabytes(size: int) -> str:
    return f"{size / MB:g} MB" if size >= MB else f"{size:,} bytes"


def too_large(limit: int, what: str = "file") -> TooLarge:
    return TooLarge(f"This {what} is too large: the limit is {_megabytes(limit)}.")


def path_for(root: Path, sha256: str) -> Path:
    """Where the bytes with this hash live. Only ever a hash: never a user-given name."""
    if not _SHA256.match(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return root / sha256[:2] / sha256


def tmp_dir(root: Path) -> Path:
    return root / "tmp"


@dataclass(frozen=True)
class Received:
    """A file received into the media folder's tmp directory, not yet stored."""

    path: Path
    sha256: str
    size_bytes: int
    mime_type: str

    @property
    def is_image(self) -> bool:
        return self.mime_type in IMAGE_TYPES


class Spool:
    """Receives a file chunk by chunk into ``<root>/tmp``: hashes, counts, sniffs the
    type from the first bytes and refuses (415/413) as soon as it can."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = tmp_dir(root) / f"upload-{secrets.token_hex(16)}"
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = b""
        self._mime: str | None = None
        self._file: anyio.AsyncFile[bytes] | None = None

    async def open(self) -> Spool:
        await anyio.Path(self.path.parent).mkdir(parents=True, exist_ok=True)
        self._file = await anyio.open_file(self.path, "xb")
        return self

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        assert self._file is not None, "open() the spool first"
        self._size += len(chunk)
        if self._mime is None:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
        if self._mime is not None and self._size > limit_for(self._mime):
            raise too_large(
                limit_for(self._mime), "image" if self._mime in IMAGE_TYPES else "video"
            )
        if self._size > max_upload_bytes():
            raise too_large(max_upload_bytes())
        self._hash.update(chunk)
        await self._file.write(chunk)

    def _sniff(self) -> None:
        mime = sniff(self._head)
        if mime is None:
            raise UnsupportedType(
                f"This kind of file is not accepted; upload {ACCEPTED} "
                "(the type is read from the file's content, not its name)."
            )
        self._mime = mime

    async def finish(self) -> Received:
        assert self._file is not None, "open() the spool first"
        if self._size == 0:
            raise Invalid(
                "The file is empty.",
                errors=[{"field": "file", "network": None, "message": "empty"}],
            )
        if self._mime is None:
            self._sniff()  # shorter than SNIFF_BYTES: no accepted type is that small
        await self._file.flush()
        await run_sync(os.fsync, self._file.wrapped.fileno())
        await self._file.aclose()
        self._file = None
        assert self._mime is not None
        return Received(self.path, self._hash.hexdigest(), self._size, self._mime)

    async def discard(self) -> None:
        if self._file is not None:
            await self._file.aclose()
            self._file = None
        await discard(self.path)


async def discard(path: Path) -> None:
    await anyio.Path(path).unlink(missing_ok=True)


async def copy_into(spool: Spool, source: IO[bytes], chunk_size: int = MB) -> None:
    """Feed an already-received file object (a parsed form's upload) into a spool."""
    while chunk := await run_sync(source.read, chunk_size):
        await spool.write(chunk)


# -- storing ----------------------------------------------------------------------------


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # os.replace is atomic on one file system: readers see the whole file or none.
    # The same bytes already stored (another workspace's, an earlier upload): same name,
    # same content, so replacing is harmless and restores a file removed meanwhile.
    os.replace(source, target)


async def store(received: Received, root: Path) -> Path:
    """Move a received file to its content-addressed place; returns that path."""
    target = path_for(root, received.sha256)
    await run_sync(_place, received.path, target)
    return target


async def remove(root: Path, sha256: str) -> None:
    await discard(path_for(root, sha256))


# -- inspecting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    video_codec: str | None = None


def _corrupt(what: str) -> Invalid:
    return Invalid(
        f"This file looks like {what} but cannot be read; it may be damaged or incomplete.",
        errors=[{"field": "file", "network": None, "message": f"unreadable {what}"}],
    )


def describe_image(path: Path, mime_type: str) -> Described:
    """Width and height, after checking that Pillow can decode the whole image
    (blocking: run it in a thread)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                if image.format != PILLOW_FORMATS[mime_type]:
                    raise _corrupt("an image")
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise Invalid(
                        f"This image has too many pixels ({width}×{height}); the limit is "
                        f"{MAX_IMAGE_PIXELS:,} pixels."
                    )
                image.verify()
            # verify() leaves the image unusable and skips most decoding (JPEG): decode it.
            with Image.open(path) as image:
                if mime_type == "image/jpeg":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
        except Invalid:
            raise
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ):
            raise _corrupt("an image") from None
    return Described(width=width, height=height)


def ffprobe_path() -> str | None:
    return shutil.which("ffprobe")


async def describe_video(path: Path) -> Described:
    """Duration, codec and frame size from ffprobe; all None when ffprobe is not
    installed. A file ffprobe cannot read, or one without a video stream, is refused."""
    ffprobe = ffprobe_path()
    if ffprobe is None:
        log.warning("ffprobe not found: video duration and codec left unknown")
        return Described()
    process = await asyncio.create_subprocess_exec(
        ffprobe,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), FFPROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise Invalid("This video took too long to read; it may be damaged.") from None
    if process.returncode != 0:
        raise _corrupt("a video")
    try:
        report = json.loads(stdout or b"{}")
    except ValueError:
        raise _corrupt("a video") from None
    streams = [s for s in report.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise UnsupportedType("This file has no video track; upload a video or an image.")
    stream = streams[0]
    duration = _number(report.get("format", {}).get("duration")) or _number(stream.get("duration"))
    return Described(
        width=_integer(stream.get("width")),
        height=_integer(stream.get("height")),
        duration_seconds=duration,
        video_codec=str(stream.get("codec_name") or "")[:32] or None,
    )


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


async def describe(received: Received) -> Described:
    if received.is_image:
        return await run_sync(describe_image, received.path, received.mime_type)
    return await describe_video(received.path)
