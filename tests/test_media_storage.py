"""Media storage without the API: sniffing, the spool's limits, image checks,
content-addressed paths, file names and link signatures."""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from app.errors import Forbidden, Invalid
from app.media import service, storage
from app.media.upload import safe_filename
from app.models import Media
from tests.conftest import make_settings


def image_bytes(kind: str, size: tuple[int, int] = (5, 4)) -> bytes:
    buffer = io.BytesIO()
    mode = "P" if kind == "GIF" else "RGB"
    Image.new(mode, size).save(buffer, kind)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_images_are_sniffed_and_measured(tmp_path: Path, kind: str, mime: str) -> None:
    content = image_bytes(kind, (7, 3))
    assert storage.sniff(content[:16]) == mime
    path = tmp_path / "file"
    path.write_bytes(content)
    described = storage.describe_image(path, mime)
    assert (described.width, described.height) == (7, 3)


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", None),  # HEIC image
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", None),  # AVIF image
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00", None),  # audio
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n12", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", None),
        (b"<html><script>alert(1)</script>", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"BM6\x00\x00\x00\x00\x00\x00\x006\x00\x00\x00", None),
        (b"", None),
    ],
)
def test_sniffing_accepts_only_the_listed_types(head: bytes, mime: str | None) -> None:
    assert storage.sniff(head) == mime


def test_a_decoder_that_disagrees_with_the_sniffing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(image_bytes("PNG"))
    with pytest.raises(Invalid):
        storage.describe_image(path, "image/jpeg")


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 80).convert("RGB").save(buffer, "JPEG")
    path = tmp_path / "file"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(Invalid, match="cannot be read"):
        storage.describe_image(path, "image/jpeg")


def test_too_many_pixels_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "file"
    path.write_bytes(image_bytes("PNG", (20, 20)))
    with pytest.raises(Invalid, match="too many pixels"):
        storage.describe_image(path, "image/png")


async def test_spool_hashes_counts_and_stores_by_content(tmp_path: Path) -> None:
    content = image_bytes("PNG", (9, 9))
    spool = await storage.Spool(tmp_path).open()
    for start in range(0, len(content), 7):  # tiny chunks: sniffing across chunks
        await spool.write(content[start : start + 7])
    received = await spool.finish()

    assert received.sha256 == hashlib.sha256(content).hexdigest()
    assert (received.size_bytes, received.mime_type) == (len(content), "image/png")
    target = await storage.store(received, tmp_path)
    assert target == tmp_path / received.sha256[:2] / received.sha256
    assert target.read_bytes() == content
    assert list(storage.tmp_dir(tmp_path).iterdir()) == []


async def test_spool_refuses_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = await storage.Spool(tmp_path).open()
    with pytest.raises(storage.UnsupportedType):
        await spool.write(b"just some text, long enough to sniff")
    await spool.discard()

    monkeypatch.setattr(storage, "MAX_IMAGE_BYTES", 100)
    spool = await storage.Spool(tmp_path).open()
    await spool.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 80)
    with pytest.raises(storage.TooLarge, match="100 bytes"):
        await spool.write(b"\x00" * 50)
    await spool.discard()
    assert list(storage.tmp_dir(tmp_path).iterdir()) == []

    spool = await storage.Spool(tmp_path).open()
    with pytest.raises(Invalid, match="empty"):
        await spool.finish()
    await spool.discard()


def test_paths_are_only_ever_hashes(tmp_path: Path) -> None:
    for bad in ("../../etc/passwd", "a" * 63, "A" * 64, "g" * 64, "../" + "a" * 61):
        with pytest.raises(ValueError):
            storage.path_for(tmp_path, bad)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("../../x", "x"),
        ("..\\..\\windows\\evil.png", "evil.png"),
        ("/etc/passwd", "passwd"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("bell\x07\x00.png", "bell.png"),
        ("  photo.jpg  ", "photo.jpg"),
        ("a" * 300 + ".jpeg", "a" * 250 + ".jpeg"),
        ("b" * 300, "b" * 255),
    ],
)
def test_safe_filename(raw: str | None, name: str) -> None:
    assert safe_filename(raw) == name
    assert len(safe_filename(raw)) <= 255


def test_signed_links(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    media = Media(id=uuid.uuid4(), sha256="0" * 64)
    url = service.signed_media_url(settings, media, timedelta(minutes=5))
    query = dict(part.split("=") for part in url.split("?", 1)[1].split("&"))
    expires = service.verify_media_signature(settings, media.id, query["exp"], query["sig"])
    assert time.time() + 290 < expires <= time.time() + 300
    with pytest.raises(Forbidden, match="not valid"):
        service.verify_media_signature(settings, uuid.uuid4(), query["exp"], query["sig"])
    other = make_settings(tmp_path / "other", secret_key="another-secret-key-" + "x" * 40)
    with pytest.raises(Forbidden, match="not valid"):
        service.verify_media_signature(other, media.id, query["exp"], query["sig"])
    old = service.signed_media_url(settings, media, timedelta(seconds=-5))
    query = dict(part.split("=") for part in old.split("?", 1)[1].split("&"))
    with pytest.raises(Forbidden, match="expired"):
        service.verify_media_signature(settings, media.id, query["exp"], query["sig"])
