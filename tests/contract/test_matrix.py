"""Matrix beyond the shared suite, on the fake homeserver: resuming from a checkpoint,
take-down of every event of a post, metrics from relations, bad credentials.
(tests/realservers/ runs the adapter against a real Synapse.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.networks.base import MediaItem, PermanentError, PublishRequest, TransientError
from app.networks.matrix import MatrixAdapter, txn_base
from tests.contract.harness import PNG, Checkpoints, Fault, adapter_client, platform_fixture
from tests.contract.platforms.matrix import ROOM_ID, TOKEN, USER_ID, FakeHomeserver

ITEM = MediaItem(path=PNG, mime_type="image/png", alt="Beans")


platform = platform_fixture(FakeHomeserver)


@pytest.fixture
async def adapter(platform: FakeHomeserver) -> AsyncIterator[MatrixAdapter]:
    async with adapter_client(platform) as http:
        yield MatrixAdapter(http)


def credentials(platform: FakeHomeserver, **changes: str) -> dict[str, str]:
    return {"homeserver_url": platform.url, "access_token": TOKEN, "room_id": ROOM_ID, **changes}


def request(platform: FakeHomeserver, key: str, **kwargs: Any) -> PublishRequest:
    return PublishRequest(
        idempotency_key=key, text="Fresh roast", credentials=credentials(platform), **kwargs
    )


async def test_verify_reads_the_upload_limit(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    account = await adapter.verify(credentials(platform))
    assert (account.handle, account.display_name) == (USER_ID, "Almanac Café")
    assert account.limits == {"max_upload_size": 52_428_800}


async def test_a_failed_image_event_resumes_without_uploading_or_sending_again(
    platform,  # type: ignore[no-untyped-def]
    adapter,
) -> None:
    first = Checkpoints()
    platform.inject(Fault.server_error)  # the text event fails...
    with pytest.raises(TransientError):
        await adapter.publish(request(platform, "k-resume", media=(ITEM,)), first)
    assert len(first.saved) == 1 and first.saved[0]["events"] == []
    uploads = platform.requests.count(("POST", "/_matrix/media/v3/upload"))
    second = Checkpoints()
    result = await adapter.publish(
        request(platform, "k-resume", media=(ITEM,), checkpoint=first.saved[-1]), second
    )
    assert platform.requests.count(("POST", "/_matrix/media/v3/upload")) == uploads
    assert second.saved == [{"uploads": first.saved[0]["uploads"], "events": [result.external_id]}]
    post = platform.posts[result.external_id]
    assert post.text == "Fresh roast" and [m["alt"] for m in post.media] == ["Beans"]
    base = txn_base("k-resume")
    assert {e["unsigned"]["transaction_id"] for e in platform.events.values()} == {
        f"{base}-0",
        f"{base}-1",
    }


async def test_take_down_redacts_every_event_of_the_post(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-down", media=(ITEM, ITEM)), Checkpoints())
    assert len(platform.events) == 3
    await adapter.take_down(credentials(platform), result.external_id)
    assert all(event["content"] == {} for event in platform.events.values())


async def test_metrics_count_reactions_and_thread_replies(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-metrics"), Checkpoints())
    for index, key in enumerate(("👍", "☕")):
        relation = {"rel_type": "m.annotation", "event_id": result.external_id, "key": key}
        platform._store({"msgtype": "m.notice", "body": key, "m.relates_to": relation}, f"r{index}")
    thread = {"rel_type": "m.thread", "event_id": result.external_id}
    platform._store({"msgtype": "m.text", "body": "Yes!", "m.relates_to": thread}, "t1")
    metrics = await adapter.fetch_metrics(credentials(platform), result.external_id)
    assert (metrics.likes, metrics.replies, metrics.reposts) == (2, 1, None)


async def test_find_existing_by_transaction_id(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-find"), Checkpoints())
    assert await adapter.find_existing(request(platform, "k-find")) == result
    assert await adapter.find_existing(request(platform, "k-other")) is None


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"room_id": "#coffee:matrix.example"}, "room_id"),
        ({"room_id": ""}, "room_id"),
        ({"homeserver_url": ""}, "homeserver_url"),
        ({"homeserver_url": "ftp://matrix.example"}, "homeserver_url"),
        ({"access_token": ""}, "access_token"),
    ],
)
async def test_bad_credentials_are_refused_before_any_request(
    platform,  # type: ignore[no-untyped-def]
    adapter,
    changes,
    named,
) -> None:
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(
            PublishRequest("k", "Hi", credentials(platform, **changes)), Checkpoints()
        )
    assert named in refused.value.message and TOKEN not in refused.value.message
    assert platform.requests == []
