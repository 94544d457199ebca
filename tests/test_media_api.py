"""Media over the API, on both databases: upload (sniffing, limits, dimensions,
de-duplication), alt text, delete rules, member downloads and signed public links."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from app.db import Database, session_scope
from app.media import service, storage
from app.models import AuditEvent, Media, Post, Role, Variant, utcnow
from app.settings import Settings
from tests.authz import add_api_token, bearer, sign_in_browser
from tests.factories import (
    make_channel,
    make_membership,
    make_post,
    make_user,
    make_variant,
    make_workspace,
)

# -- fixtures -------------------------------------------------------------------------


def png_bytes(
    width: int = 3, height: int = 2, color: tuple[int, int, int] = (200, 10, 10)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def noisy_png(width: int = 64, height: int = 64) -> bytes:
    """A PNG that does not compress away (for size limits)."""
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 100).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Team:
    workspace_id: uuid.UUID
    headers: dict[Role, dict[str, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}/media"

    @property
    def owner(self) -> dict[str, str]:
        return self.headers[Role.owner]


async def make_team(database: Database, roles: tuple[Role, ...] = tuple(Role)) -> Team:
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session)
        team = Team(workspace.id)
        for role in roles:
            user = await make_user(session)
            await make_membership(session, workspace_id=workspace.id, user_id=user.id, role=role)
            token, row = await add_api_token(session, user)
            # Used just now: no separate last-use write during a request.
            row.last_used_at = utcnow()
            team.headers[role] = bearer(token)
    return team


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.editor, Role.viewer))


async def upload(
    client: httpx.AsyncClient,
    team: Team,
    content: bytes,
    filename: str = "picture.png",
    *,
    headers: dict[str, str] | None = None,
    alt: str | None = None,
    content_type: str = "image/png",
) -> httpx.Response:
    data = {"alt": alt} if alt is not None else None
    return await client.post(
        team.url,
        files={"file": (filename, content, content_type)},
        data=data,
        headers=headers or team.owner,
    )


def leftovers(settings: Settings) -> list[Path]:
    tmp = storage.tmp_dir(settings.media_path)
    return list(tmp.iterdir()) if tmp.exists() else []


async def media_count(database: Database) -> int:
    async with database.read_session() as session:
        return (await session.scalar(select(func.count()).select_from(Media))) or 0


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["detail"].endswith("."), body
    return body


# -- uploading ------------------------------------------------------------------------


async def test_png_upload_reads_dimensions_and_stores_by_content(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    content = png_bytes(3, 2)
    response = await upload(client, team, content, "red.png", alt="A red rectangle")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mime_type"] == "image/png"
    assert (body["width"], body["height"]) == (3, 2)
    assert body["size_bytes"] == len(content)
    assert body["filename"] == "red.png"
    assert body["alt"] == "A red rectangle"
    assert body["duration_seconds"] is None and body["video_codec"] is None
    assert body["url"].endswith(f"{team.url}/{body['id']}/content")

    async with database.read_session() as session:
        media = await session.get(Media, uuid.UUID(body["id"]))
        assert media is not None
        stored = settings.media_path / media.sha256[:2] / media.sha256
        events = (await session.scalars(select(AuditEvent.action))).all()
    assert stored.read_bytes() == content
    assert "media.upload" in events
    assert leftovers(settings) == []


async def test_jpeg_upload_whatever_the_client_says(client: httpx.AsyncClient, team: Team) -> None:
    # The name and the client's Content-Type say PNG; the bytes say JPEG.
    response = await upload(client, team, jpeg_bytes(40, 30), "photo.png", content_type="image/png")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mime_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (40, 30)


async def test_text_named_png_is_refused_415(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    response = await upload(client, team, b"hello, I am only text pretending\n" * 10, "fake.png")
    body = assert_error(response, 415)
    assert "not accepted" in body["detail"]
    assert await media_count(database) == 0
    assert leftovers(settings) == []


async def test_corrupt_image_is_refused_422(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    truncated = noisy_png(32, 32)[:200]
    body = assert_error(await upload(client, team, truncated, "broken.png"), 422)
    assert "cannot be read" in body["detail"]
    assert await media_count(database) == 0
    assert leftovers(settings) == []


async def test_oversize_is_refused_413(
    client: httpx.AsyncClient,
    team: Team,
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = noisy_png(64, 64)
    assert len(content) > 4096
    monkeypatch.setattr(storage, "MAX_IMAGE_BYTES", 4096)
    body = assert_error(await upload(client, team, content), 413)
    assert "4,096 bytes" in body["detail"]
    assert await media_count(database) == 0
    assert leftovers(settings) == []
    # A declared length past every limit is refused before the body is read.
    monkeypatch.setattr(storage, "MAX_VIDEO_BYTES", 1024)
    response = await client.post(
        team.url,
        content=b"x" * 100,
        headers={
            **team.owner,
            "content-type": "multipart/form-data; boundary=abc",
            "content-length": str(10 * 1024 * 1024),
        },
    )
    assert_error(response, 413)


async def test_missing_file_is_refused_422(client: httpx.AsyncClient, team: Team) -> None:
    body = assert_error(await client.post(team.url, headers=team.owner), 422)
    assert body["errors"][0]["field"] == "file"
    response = await client.post(
        team.url, files={"other": ("a.png", png_bytes(), "image/png")}, headers=team.owner
    )
    assert_error(response, 422)
    response = await client.post(team.url, json={"file": "x"}, headers=team.owner)
    assert_error(response, 422)
    # A body without its closing boundary.
    raw = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        + png_bytes()
    )
    response = await client.post(
        team.url,
        content=raw,
        headers={**team.owner, "content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert "cut short" in assert_error(response, 422)["detail"]


async def test_same_bytes_are_one_file_per_workspace(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    content = png_bytes(5, 5)
    first = await upload(client, team, content, "one.png")
    again = await upload(client, team, content, "two.png")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["filename"] == "one.png"

    other = await make_team(database, (Role.owner,))
    elsewhere = await upload(client, other, content, "three.png")
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != first.json()["id"]
    assert await media_count(database) == 2
    stored = [p for p in settings.media_path.rglob("*") if p.is_file()]
    assert len(stored) == 1  # the bytes once, however many workspaces


async def test_filename_is_a_name_never_a_path(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    response = await upload(client, team, png_bytes(4, 4), "../../x")
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "x"
    # Built by hand: httpx would percent-encode the control characters.
    raw = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="..\\..\\evil\x07\x1b.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png_bytes(4, 5) + b"\r\n--b0undary--\r\n"
    )
    response = await client.post(
        team.url,
        content=raw,
        headers={**team.owner, "content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "evil.png"
    response = await upload(client, team, png_bytes(4, 6), "..")
    assert response.json()["filename"] == "upload"
    files = [p for p in settings.data_dir.parent.rglob("*") if p.is_file()]
    media_root = settings.media_path.resolve()
    for path in files:
        if path.name not in {"secrets.json", "almanac.db"} and not path.name.startswith(
            "almanac.db"
        ):
            assert path.resolve().is_relative_to(media_root), path
    assert not (settings.data_dir.parent / "x").exists()


async def test_quotes_in_filename_are_safe_in_content_disposition(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    response = await upload(client, team, png_bytes(2, 2), 'say "hi"; x=1.png')
    download = await client.get(local(response.json()["url"], settings), headers=team.owner)
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("inline; filename*=utf-8''")
    assert '"' not in disposition.removeprefix("inline; ")


async def test_video_is_described_by_ffprobe(
    client: httpx.AsyncClient, team: Team, tmp_path: Path
) -> None:
    if shutil.which("ffmpeg") is None or storage.ffprobe_path() is None:
        pytest.skip("ffmpeg/ffprobe not installed (Debian package ffmpeg)")
    target = tmp_path / "clip.mp4"
    await asyncio.to_thread(
        subprocess.run,
        [
            "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x24:d=1:r=10",
            "-c:v", "mpeg4", "-y", str(target),
        ],
        check=True,
        timeout=30,
    )  # fmt: skip
    response = await upload(client, team, target.read_bytes(), "clip.mp4", content_type="video/mp4")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mime_type"] == "video/mp4"
    assert body["video_codec"] == "mpeg4"
    assert (body["width"], body["height"]) == (32, 24)
    assert body["duration_seconds"] == pytest.approx(1.0, abs=0.2)


async def test_broken_video_is_refused_422(client: httpx.AsyncClient, team: Team) -> None:
    if storage.ffprobe_path() is None:
        pytest.skip("ffprobe not installed (Debian package ffmpeg)")
    fake = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 8 + b"not really a movie" * 20
    assert_error(await upload(client, team, fake, "clip.mp4", content_type="video/mp4"), 422)


# -- reading, alt text, deleting ---------------------------------------------------------


async def test_list_is_newest_first_with_a_limit(client: httpx.AsyncClient, team: Team) -> None:
    ids = [(await upload(client, team, png_bytes(i + 1, 1))).json()["id"] for i in range(3)]
    listed = await client.get(team.url, headers=team.headers[Role.viewer])
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()] == ids[::-1]
    limited = await client.get(team.url, params={"limit": 2}, headers=team.owner)
    assert [m["id"] for m in limited.json()] == ids[:0:-1]
    one = await client.get(f"{team.url}/{ids[0]}", headers=team.headers[Role.viewer])
    assert one.status_code == 200 and one.json()["width"] == 1


async def test_alt_text_update_and_validation(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    media_id = (await upload(client, team, png_bytes())).json()["id"]
    response = await client.patch(
        f"{team.url}/{media_id}", json={"alt": "  A red square.  "}, headers=team.owner
    )
    assert response.status_code == 200, response.text
    assert response.json()["alt"] == "A red square."
    too_long = await client.patch(
        f"{team.url}/{media_id}", json={"alt": "x" * 1501}, headers=team.owner
    )
    body = assert_error(too_long, 422)
    assert body["errors"][0]["field"] == "alt"
    ok = await client.patch(f"{team.url}/{media_id}", json={"alt": "é" * 1500}, headers=team.owner)
    assert ok.status_code == 200
    viewer = await client.patch(
        f"{team.url}/{media_id}", json={"alt": "x"}, headers=team.headers[Role.viewer]
    )
    assert_error(viewer, 403)
    # At upload too.
    refused = await upload(client, team, png_bytes(9, 9), alt="y" * 1501)
    assert_error(refused, 422)


async def test_delete_refused_while_a_post_or_variant_uses_it(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    content = png_bytes(7, 7)
    media_id = (await upload(client, team, content)).json()["id"]
    async with session_scope(database.write_session) as session:
        post = await make_post(
            session, workspace_id=team.workspace_id, media=[{"media_id": media_id, "alt": ""}]
        )
        post_id = post.id
    url = f"{team.url}/{media_id}"
    body = assert_error(await client.delete(url, headers=team.owner), 409)
    assert post.title in body["detail"]

    async with session_scope(database.write_session) as session:
        loaded = await session.get(Post, post_id)
        loaded.media = []
        channel = await make_channel(session, workspace_id=team.workspace_id)
        await make_variant(
            session, post=loaded, channel=channel, media=[{"media_id": media_id, "alt": "v"}]
        )
    assert_error(await client.delete(url, headers=team.owner), 409)
    assert_error(await client.delete(url, headers=team.headers[Role.viewer]), 403)

    async with session_scope(database.write_session) as session:
        for variant in (await session.scalars(select(Variant))).all():
            variant.media = [{"media_id": str(uuid.uuid4()), "alt": ""}]
    # The same bytes in another workspace: deleting here keeps the file.
    other = await make_team(database, (Role.owner,))
    await upload(client, other, content)
    response = await client.delete(url, headers=team.headers[Role.editor])
    assert response.status_code == 204, response.text
    assert (await client.get(url, headers=team.owner)).status_code == 404
    stored = [p for p in settings.media_path.rglob("*") if p.is_file()]
    assert len(stored) == 1

    other_id = (await client.get(other.url, headers=other.owner)).json()[0]["id"]
    response = await client.delete(f"{other.url}/{other_id}", headers=other.owner)
    assert response.status_code == 204
    assert [p for p in settings.media_path.rglob("*") if p.is_file()] == []


# -- serving ----------------------------------------------------------------------------


def local(url: str, settings: Settings) -> str:
    return url.removeprefix(settings.base_url)


async def test_members_download_the_bytes(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    content = png_bytes(6, 6)
    body = (await upload(client, team, content, "six.png")).json()
    response = await client.get(local(body["url"], settings), headers=team.headers[Role.viewer])
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == 'inline; filename="six.png"'
    assert "immutable" in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]


async def test_non_members_see_nothing(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    body = (await upload(client, team, png_bytes())).json()
    stranger = await make_team(database, (Role.owner,))
    headers = stranger.owner
    for url in (team.url, f"{team.url}/{body['id']}", local(body["url"], settings)):
        assert_error(await client.get(url, headers=headers), 404)
    # Their own workspace, naming our file: 404 too.
    assert_error(await client.get(f"{stranger.url}/{body['id']}/content", headers=headers), 404)
    assert_error(await client.get(local(body["url"], settings)), 401)


async def test_viewer_cannot_upload(client: httpx.AsyncClient, team: Team) -> None:
    assert_error(await upload(client, team, png_bytes(), headers=team.headers[Role.viewer]), 403)
    response = await upload(client, team, png_bytes(), headers=team.headers[Role.editor])
    assert response.status_code == 201


async def test_browser_upload_with_the_csrf_token_as_a_form_field(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        user = await make_user(session)
        await make_membership(
            session, workspace_id=team.workspace_id, user_id=user.id, role=Role.editor
        )
        browser = await sign_in_browser(session, user, settings.secret_key)
    files = {"file": ("form.png", png_bytes(8, 3), "image/png")}
    refused = await client.post(team.url, files=files, headers=browser.headers)
    assert_error(refused, 403)
    response = await client.post(
        team.url,
        files=files,
        data={"csrf_token": browser.csrf_token, "alt": "From a form"},
        headers=browser.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["alt"] == "From a form"
    assert (response.json()["width"], response.json()["height"]) == (8, 3)
    assert leftovers(settings) == []


async def test_signed_public_link(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    content = png_bytes(11, 4)
    media_id = (await upload(client, team, content, "public.png")).json()["id"]
    async with database.read_session() as session:
        media = await session.get(Media, uuid.UUID(media_id))
    assert media is not None

    url = service.signed_media_url(settings, media)
    assert url.startswith(f"{settings.base_url}/m/{media_id}?exp=")
    response = await client.get(local(url, settings))  # anonymous
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert int(response.headers["cache-control"].rsplit("=", 1)[1]) <= 3600

    query = parse_qs(urlsplit(url).query)
    exp, sig = query["exp"][0], query["sig"][0]
    path = f"/m/{media_id}"
    tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
    for params in (
        {"exp": exp, "sig": tampered},
        {"exp": str(int(exp) + 3600), "sig": sig},  # a later expiry, same signature
        {"exp": exp},
        {},
        {"exp": "soon", "sig": sig},
        {"exp": exp, "sig": "é" * 64},
    ):
        body = assert_error(await client.get(path, params=params), 403)
        assert "not valid" in body["detail"]
    # Another file with this file's signature.
    other = await upload(client, team, png_bytes(12, 4))
    assert_error(await client.get(f"/m/{other.json()['id']}", params={"exp": exp, "sig": sig}), 403)

    expired = service.signed_media_url(settings, media, expires_in=timedelta(seconds=-1))
    body = assert_error(await client.get(local(expired, settings)), 403)
    assert "expired" in body["detail"]


async def test_signed_link_to_a_deleted_file_is_404(
    client: httpx.AsyncClient, team: Team, settings: Settings, database: Database
) -> None:
    media_id = (await upload(client, team, png_bytes(13, 4))).json()["id"]
    async with database.read_session() as session:
        media = await session.get(Media, uuid.UUID(media_id))
    assert media is not None
    url = service.signed_media_url(settings, media)
    assert (await client.delete(f"{team.url}/{media_id}", headers=team.owner)).status_code == 204
    assert_error(await client.get(local(url, settings)), 404)


async def test_media_in_workspace_for_posts(
    team: Team, client: httpx.AsyncClient, database: Database
) -> None:
    media_id = uuid.UUID((await upload(client, team, png_bytes(3, 3))).json()["id"])
    other = await make_team(database, (Role.owner,))
    foreign = uuid.UUID((await upload(client, other, png_bytes(3, 4))).json()["id"])
    async with database.read_session() as session:
        found = await service.media_in_workspace(session, team.workspace_id, [str(media_id)])
        assert list(found) == [media_id]
        with pytest.raises(service.Invalid) as refused:
            await service.media_in_workspace(session, team.workspace_id, [media_id, foreign])
        assert refused.value.errors[0]["field"] == "media"
        with pytest.raises(service.Invalid):
            await service.media_in_workspace(session, team.workspace_id, ["not-an-id"])
