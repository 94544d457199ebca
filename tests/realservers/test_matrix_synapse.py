"""The Matrix adapter against a real Synapse on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from app.net.outbound import GuardedTransport, new_client
from app.networks.base import (
    CredentialsExpiredError,
    MediaItem,
    PermanentError,
    PublishRequest,
    TransientError,
)
from app.networks.matrix import MatrixAdapter, txn_base
from tests.realservers.conftest import Synapse

pytestmark = pytest.mark.slow

PNG = str(Path(__file__).resolve().parents[1] / "data" / "pixel.png")
PNG_BYTES = Path(PNG).read_bytes()
with Image.open(PNG) as _image:
    PNG_WIDTH, PNG_HEIGHT = _image.size


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(allow_private=True, timeout=httpx.Timeout(20.0)) as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> MatrixAdapter:
    return MatrixAdapter(http)


async def no_checkpoint(ids: dict[str, Any]) -> None:
    return None


def request(synapse: Synapse, text: str, **kwargs: Any) -> PublishRequest:
    return PublishRequest(
        idempotency_key=kwargs.pop("key", str(uuid.uuid4())),
        text=text,
        credentials=kwargs.pop("credentials", synapse.credentials()),
        channel_id="matrix-channel",
        **kwargs,
    )


async def read_event(http: httpx.AsyncClient, synapse: Synapse, event_id: str) -> dict[str, Any]:
    response = await http.get(
        f"{synapse.url}/_matrix/client/v3/rooms/{quote(synapse.room_id)}/event/{quote(event_id)}",
        headers={"Authorization": f"Bearer {synapse.access_token}"},
    )
    response.raise_for_status()
    return dict(response.json())


async def room_messages(http: httpx.AsyncClient, synapse: Synapse) -> list[dict[str, Any]]:
    response = await http.get(
        f"{synapse.url}/_matrix/client/v3/rooms/{quote(synapse.room_id)}/messages",
        params={"dir": "b", "limit": 1000, "filter": '{"types": ["m.room.message"]}'},
        headers={"Authorization": f"Bearer {synapse.access_token}"},
    )
    response.raise_for_status()
    return list(response.json()["chunk"])


async def parts_of(http: httpx.AsyncClient, synapse: Synapse, anchor: str) -> list[str]:
    """The events that point at ``anchor`` with an m.reference (a post's media)."""
    return [
        e["event_id"]
        for e in await room_messages(http, synapse)
        if e["content"].get("m.relates_to", {}).get("event_id") == anchor
    ]


async def test_verify(
    synapse: Synapse, adapter: MatrixAdapter, record_property: pytest.RecordProperty
) -> None:
    record_property("summary", f"Synapse started in {synapse.startup_seconds:.1f} s")
    account = await adapter.verify(synapse.credentials())
    assert account.handle == synapse.user_id == "@almanac:almanac.test"
    assert account.limits["max_upload_size"] > 0


async def test_verify_refuses_a_room_the_account_is_not_in(
    synapse: Synapse, adapter: MatrixAdapter
) -> None:
    credentials = {**synapse.credentials(), "room_id": "!elsewhere:almanac.test"}
    with pytest.raises(PermanentError, match="not a member"):
        await adapter.verify(credentials)


async def test_a_revoked_token_is_expired_credentials(
    synapse: Synapse, adapter: MatrixAdapter
) -> None:
    credentials = {**synapse.credentials(), "access_token": "syt_not_a_token"}
    with pytest.raises(CredentialsExpiredError, match="M_UNKNOWN_TOKEN"):
        await adapter.publish(request(synapse, "Hi", credentials=credentials), no_checkpoint)


async def test_publish_text_and_read_it_back(
    synapse: Synapse, adapter: MatrixAdapter, http: httpx.AsyncClient
) -> None:
    result = await adapter.publish(
        request(synapse, "Tasting on Friday", link="https://cafe.example"), no_checkpoint
    )
    event = await read_event(http, synapse, result.external_id)
    assert event["sender"] == synapse.user_id
    assert event["content"] == {
        "msgtype": "m.text",
        "body": "Tasting on Friday\n\nhttps://cafe.example",
    }
    assert result.url and quote(result.external_id, safe="") in result.url


async def test_publish_an_image_with_its_alt_text(
    synapse: Synapse, adapter: MatrixAdapter, http: httpx.AsyncClient
) -> None:
    saved: list[dict[str, Any]] = []

    async def checkpoint(ids: dict[str, Any]) -> None:
        saved.append(ids)

    item = MediaItem(path=PNG, mime_type="image/png", alt="A cup of coffee")
    result = await adapter.publish(request(synapse, "New roast", media=(item,)), checkpoint)
    text_event = await read_event(http, synapse, result.external_id)
    assert text_event["content"]["body"] == "New roast"
    (image_id,) = await parts_of(http, synapse, result.external_id)
    image = (await read_event(http, synapse, image_id))["content"]
    assert image["msgtype"] == "m.image"
    assert image["body"] == "A cup of coffee"
    assert image["info"] == {
        "mimetype": "image/png",
        "size": len(PNG_BYTES),
        "w": PNG_WIDTH,
        "h": PNG_HEIGHT,
    }
    assert image["m.relates_to"] == {"rel_type": "m.reference", "event_id": result.external_id}
    server, media_id = image["url"].removeprefix("mxc://").split("/")
    download = await http.get(
        f"{synapse.url}/_matrix/client/v1/media/download/{server}/{media_id}",
        headers={"Authorization": f"Bearer {synapse.access_token}"},
    )
    assert download.status_code == 200 and download.content == PNG_BYTES
    # The upload was checkpointed before the first event, then the text event.
    assert [len(s["events"]) for s in saved] == [0, 1]
    assert saved[0]["uploads"][0]["url"] == image["url"]


class LoseTheFirstSendAnswer(httpx.AsyncBaseTransport):
    """Forwards every request; the answer to the first message send is "lost": the
    event exists on the homeserver but the client sees a read timeout."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.lost and request.method == "PUT" and "/send/" in request.url.path:
            await response.aread()
            await response.aclose()
            self.lost += 1
            raise httpx.ReadTimeout("simulated: the answer never came", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_retry_after_a_timeout_reuses_the_transaction_and_posts_once(
    synapse: Synapse, http: httpx.AsyncClient
) -> None:
    text = f"Only once {uuid.uuid4()}"
    publish = request(synapse, text)
    transport = LoseTheFirstSendAnswer(GuardedTransport(allow_private=True))
    async with httpx.AsyncClient(transport=transport, timeout=20) as flaky:
        adapter = MatrixAdapter(flaky)
        with pytest.raises(TransientError):
            await adapter.publish(publish, no_checkpoint)
        assert transport.lost == 1
        result = await adapter.publish(publish, no_checkpoint)
    same_text = [e for e in await room_messages(http, synapse) if e["content"].get("body") == text]
    assert [e["event_id"] for e in same_text] == [result.external_id]
    assert same_text[0]["unsigned"]["transaction_id"] == f"{txn_base(publish.idempotency_key)}-0"


async def test_find_existing_finds_the_post_by_its_transaction(
    synapse: Synapse, adapter: MatrixAdapter
) -> None:
    publish = request(synapse, f"Findable {uuid.uuid4()}")
    result = await adapter.publish(publish, no_checkpoint)
    assert await adapter.find_existing(publish) == result
    assert await adapter.find_existing(request(synapse, "never sent")) is None


async def test_take_down_redacts_the_post_and_its_image(
    synapse: Synapse, adapter: MatrixAdapter, http: httpx.AsyncClient
) -> None:
    item = MediaItem(path=PNG, mime_type="image/png", alt="Beans")
    result = await adapter.publish(request(synapse, "Oops", media=(item,)), no_checkpoint)
    (image_id,) = await parts_of(http, synapse, result.external_id)
    await adapter.take_down(synapse.credentials(), result.external_id)
    for event_id in (result.external_id, image_id):
        event = await read_event(http, synapse, event_id)
        assert event["content"] == {}
        assert event["unsigned"]["redacted_because"]["type"] == "m.room.redaction"
    await adapter.take_down(synapse.credentials(), result.external_id)  # again: no error
