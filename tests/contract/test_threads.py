"""Threads beyond the shared suite: text posts with a link, the 500-character rule,
carousels, containers that are never published twice, delete, insights, token refresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.networks.base import (
    CredentialsExpiredError,
    MediaItem,
    PermanentError,
    PublishRequest,
    RefreshableAdapter,
    TransientError,
)
from app.networks.threads import ThreadsAdapter
from tests.contract.harness import PNG, Checkpoints, Fault, adapter_client, platform_fixture
from tests.contract.platforms import threads

CREDENTIALS = {"threads_user_id": threads.ThreadsPlatform.account_id, "access_token": threads.TOKEN}


platform = platform_fixture(threads.make_platform)


@pytest.fixture
async def adapter(platform: threads.ThreadsPlatform) -> AsyncIterator[ThreadsAdapter]:
    async with adapter_client(platform) as http:
        yield threads.make_adapter(platform, http)
    assert platform.tokens_in_url == 0, "the token must travel in a header, never in a URL"


def request(
    text: str,
    media: tuple[MediaItem, ...] = (),
    checkpoint: dict[str, Any] | None = None,
    link: str | None = None,
) -> PublishRequest:
    return PublishRequest(
        idempotency_key="k",
        text=text,
        credentials=CREDENTIALS,
        media=media,
        link=link,
        checkpoint=checkpoint or {},
    )


def creates(platform: threads.ThreadsPlatform) -> int:
    return platform.requests.count(("POST", f"/v1.0/{platform.account_id}/threads"))


async def test_text_post_with_a_link_attachment(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    result = await adapter.publish(
        request("New menu", link="https://almanac.example/menu"), Checkpoints()
    )
    post = platform.posts[result.external_id]
    assert post.text == "New menu"
    assert post.extra["media_type"] == "TEXT"
    assert post.extra["link_attachment"] == "https://almanac.example/menu"
    assert result.url == f"https://www.threads.com/@almanac.coffee/post/{result.external_id}/"


async def test_over_500_characters_counting_emoji_bytes_is_refused_before_any_call(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    text = "a" * 497 + "😀"  # 497 + 4 bytes = 501
    with pytest.raises(PermanentError, match="501"):
        await adapter.publish(request(text), Checkpoints())
    assert platform.requests == []
    await adapter.publish(request("a" * 496 + "😀"), Checkpoints())  # exactly 500


async def test_carousel_of_downloaded_images(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    items = tuple(threads.media_item(platform, PNG, f"Cup {i}") for i in range(2))
    store = Checkpoints()
    result = await adapter.publish(request("Two cups", items), store)
    post = platform.posts[result.external_id]
    assert post.extra["media_type"] == "CAROUSEL"
    assert [m["alt"] for m in post.media] == ["Cup 0", "Cup 1"]
    assert len(platform.media_host.downloads) == 2
    assert len(store.state["children"]) == 2 and store.state["container_id"]


async def test_lost_publish_answer_is_found_and_never_published_twice(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    store = Checkpoints()
    platform.inject(Fault.timeout)
    with pytest.raises(TransientError):
        await adapter.publish(request("Only once"), store)
    for _ in range(100):
        if platform.posts:
            break
        await asyncio.sleep(0.05)
    [media_id] = platform.posts
    retry = request("Only once", checkpoint=store.state)
    found = await adapter.find_existing(retry)
    assert found is not None and found.external_id == media_id
    again = await adapter.publish(retry, store)
    assert again.external_id == media_id
    assert platform.publish_calls == 1 and creates(platform) == 1


async def test_container_error_message_is_permanent(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    platform.fail_next_container = "FAILED_DOWNLOADING_VIDEO"
    with pytest.raises(PermanentError, match="FAILED_DOWNLOADING_VIDEO"):
        await adapter.publish(request("Broken"), Checkpoints())
    assert platform.publish_calls == 0


async def test_take_down_and_metrics(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    result = await adapter.publish(request("Measured"), Checkpoints())
    metrics = await adapter.fetch_metrics(CREDENTIALS, result.external_id)
    assert (metrics.views, metrics.likes, metrics.replies, metrics.reposts) == (120, 9, 3, 3)
    await adapter.take_down(CREDENTIALS, result.external_id)
    assert platform.posts[result.external_id].deleted
    with pytest.raises(PermanentError, match="does not exist"):
        await adapter.take_down(CREDENTIALS, result.external_id)


async def test_refresh_gives_a_working_token_for_60_days(
    platform: threads.ThreadsPlatform, adapter: ThreadsAdapter
) -> None:
    assert isinstance(adapter, RefreshableAdapter)
    renewed, expires_at = await adapter.refresh_credentials(dict(CREDENTIALS))
    assert renewed["access_token"] != threads.TOKEN
    assert renewed["threads_user_id"] == CREDENTIALS["threads_user_id"]
    assert expires_at is not None
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=60))) < timedelta(hours=1)
    account = await adapter.verify(renewed)
    assert account.handle == "almanac.coffee"
    with pytest.raises(CredentialsExpiredError):
        await adapter.refresh_credentials({**CREDENTIALS, "access_token": "revoked"})
