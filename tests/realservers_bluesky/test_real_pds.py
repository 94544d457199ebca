"""The Bluesky adapter against a real PDS: sessions, facets, images, exactly-once
retries and take-down, read back from the server's own repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from app.net.outbound import GuardedTransport
from app.networks.base import (
    CredentialsExpiredError,
    MediaItem,
    PublishRequest,
    TransientError,
)
from app.networks.bluesky import BlueskyAdapter, record_key
from tests.realservers_bluesky.conftest import RealPds

pytestmark = pytest.mark.slow

TIMEOUT = httpx.Timeout(30.0)


class LoseOneAnswer(httpx.AsyncBaseTransport):
    """Lets the next createRecord reach the server and do its work, then drops the
    answer as a timeout would: the post exists, the client does not know it."""

    def __init__(self) -> None:
        self.inner = GuardedTransport(allow_private=True)
        self.armed = False
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.armed and request.url.path.endswith("/com.atproto.repo.createRecord"):
            await response.aread()
            await response.aclose()
            self.armed = False
            self.lost += 1
            raise httpx.ReadTimeout("answer lost on purpose", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def transport() -> AsyncIterator[LoseOneAnswer]:
    lossy = LoseOneAnswer()
    yield lossy
    await lossy.aclose()


@pytest.fixture
async def adapter(transport: LoseOneAnswer) -> AsyncIterator[BlueskyAdapter]:
    async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
        yield BlueskyAdapter(http)


class Checkpoints:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def __call__(self, ids: dict[str, Any]) -> None:
        self.saved.append(ids)


async def read_record(pds: RealPds, rkey: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(
            f"{pds.url}/xrpc/com.atproto.repo.getRecord",
            params={"repo": pds.did, "collection": "app.bsky.feed.post", "rkey": rkey},
        )
    if response.status_code == 400 and response.json()["error"] == "RecordNotFound":
        return None
    response.raise_for_status()
    return response.json()


async def posts_with_text(pds: RealPds, text: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.get(
            f"{pds.url}/xrpc/com.atproto.repo.listRecords",
            params={"repo": pds.did, "collection": "app.bsky.feed.post", "limit": 100},
        )
    response.raise_for_status()
    return [r for r in response.json()["records"] if r["value"]["text"] == text]


async def test_startup_time(real_pds: RealPds, record_property) -> None:  # type: ignore[no-untyped-def]
    record_property(
        "summary",
        f"bluesky: PLC + PDS started, 2 accounts made in {real_pds.startup_seconds:.1f} s",
    )
    assert real_pds.handle.endswith(".test")


async def test_verify_logs_in_with_the_app_password(real_pds: RealPds, adapter) -> None:
    account = await adapter.verify(real_pds.credentials())
    assert account.handle == real_pds.handle
    stored = account.refreshed_credentials
    assert stored is not None and stored["did"] == real_pds.did
    assert stored["access_jwt"] and stored["refresh_jwt"]


async def test_a_wrong_app_password_is_expired_credentials(real_pds: RealPds, adapter) -> None:
    with pytest.raises(CredentialsExpiredError):
        await adapter.verify(real_pds.credentials(app_password="aaaa-bbbb-cccc-dddd"))


async def test_a_refused_access_token_is_refreshed(real_pds: RealPds, adapter) -> None:
    stored = (await adapter.verify(real_pds.credentials())).refreshed_credentials
    assert stored is not None
    stale = {**stored, "access_jwt": stored["access_jwt"][:-4] + "AAAA"}  # bad signature
    account = await adapter.verify(stale)
    renewed = account.refreshed_credentials
    assert renewed is not None
    assert renewed["refresh_jwt"] != stored["refresh_jwt"]  # the PDS rotated it


async def test_publish_facets_and_an_image(real_pds: RealPds, adapter, tmp_path: Path) -> None:
    text = (
        f"Café ☕🇫🇷 crème brûlée, see https://example.com/menu?x=1 "
        f"with @{real_pds.friend_handle} #Rösti"
    )
    picture = tmp_path / "roast.png"
    Image.new("RGB", (64, 48), (120, 80, 40)).save(picture)
    item = MediaItem(path=str(picture), mime_type="image/png", alt="Beans on a tray")
    checkpoints = Checkpoints()
    request = PublishRequest(
        idempotency_key="real-facets",
        text=text,
        credentials=real_pds.credentials(),
        media=(item,),
        limits={"langs": ["fr"]},
    )
    result = await adapter.publish(request, checkpoints)
    rkey = record_key("real-facets")
    assert result.external_id == f"at://{real_pds.did}/app.bsky.feed.post/{rkey}"
    assert checkpoints.saved[0]["blobs"][0]["blob"]["mimeType"] == "image/png"

    stored = await read_record(real_pds, rkey)
    assert stored is not None
    record = stored["value"]
    assert record["text"] == text and record["langs"] == ["fr"]
    encoded = text.encode()
    pieces = {
        facet["features"][0]["$type"]: (
            encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode(),
            facet["features"][0],
        )
        for facet in record["facets"]
    }
    assert pieces["app.bsky.richtext.facet#link"][0] == "https://example.com/menu?x=1"
    assert pieces["app.bsky.richtext.facet#mention"] == (
        f"@{real_pds.friend_handle}",
        {"$type": "app.bsky.richtext.facet#mention", "did": real_pds.friend_did},
    )
    assert pieces["app.bsky.richtext.facet#tag"][0] == "#Rösti"
    (image,) = record["embed"]["images"]
    assert image["alt"] == "Beans on a tray"
    assert image["aspectRatio"] == {"width": 64, "height": 48}
    assert image["image"]["mimeType"] == "image/png"


@pytest.mark.parametrize("with_checkpoint", [False, True], ids=["no-checkpoint", "checkpoint"])
async def test_a_retry_after_a_lost_answer_publishes_once(
    real_pds: RealPds, adapter, transport: LoseOneAnswer, with_checkpoint: bool
) -> None:
    """Without the checkpoint the retry's create hits the existing key (a 500 on the
    reference PDS) and reads the record back; with it the adapter looks first."""
    key = f"real-timeout-{with_checkpoint}"
    text = f"Exactly once ({key})"
    checkpoints = Checkpoints()
    request = PublishRequest(idempotency_key=key, text=text, credentials=real_pds.credentials())
    transport.armed = True
    with pytest.raises(TransientError):
        await adapter.publish(request, checkpoints)
    assert transport.lost == 1
    assert len(await posts_with_text(real_pds, text)) == 1  # the server did create it

    retry = PublishRequest(
        idempotency_key=key,
        text=text,
        credentials=real_pds.credentials(),
        checkpoint=checkpoints.saved[-1] if with_checkpoint else {},
    )
    result = await adapter.publish(retry, Checkpoints())
    assert result.external_id.endswith(f"/app.bsky.feed.post/{record_key(key)}")
    assert len(await posts_with_text(real_pds, text)) == 1
    found = await adapter.find_existing(retry)
    assert found is not None and found.external_id == result.external_id


async def test_take_down(real_pds: RealPds, adapter) -> None:
    request = PublishRequest(
        idempotency_key="real-down", text="Oops", credentials=real_pds.credentials()
    )
    result = await adapter.publish(request, Checkpoints())
    assert await read_record(real_pds, record_key("real-down")) is not None
    await adapter.take_down(real_pds.credentials(), result.external_id)
    assert await read_record(real_pds, record_key("real-down")) is None
    assert await adapter.find_existing(request) is None
