"""Mastodon beyond the shared suite: instance limits, media that processes
asynchronously (202, then polling), resuming from a checkpoint, idempotency keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.networks.base import (
    LookupUnsupported,
    MediaItem,
    PermanentError,
    PublishRequest,
    TransientError,
)
from app.networks.mastodon import MastodonAdapter
from tests.contract.harness import PNG, Checkpoints, Fault, adapter_client, platform_fixture
from tests.contract.platforms.mastodon import TOKEN, FakeMastodon

platform = platform_fixture(FakeMastodon)


@pytest.fixture
async def adapter(platform: FakeMastodon) -> AsyncIterator[MastodonAdapter]:
    async with adapter_client(platform) as http:
        yield MastodonAdapter(http, media_poll_interval=0.01, media_poll_timeout=2)


def credentials(platform: FakeMastodon) -> dict[str, str]:
    return {"instance_url": platform.url, "access_token": TOKEN}


def request(platform: FakeMastodon, key: str, **kwargs: Any) -> PublishRequest:
    return PublishRequest(
        idempotency_key=key, text="Fresh roast", credentials=credentials(platform), **kwargs
    )


async def test_verify_reads_the_instance_limits(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    account = await adapter.verify(credentials(platform))
    assert account.display_name == "Almanac Café"
    assert account.limits["max_characters"] == 1000
    assert account.limits["max_media_attachments"] == 4
    assert account.limits["max_media"] == 4
    assert account.limits["characters_reserved_per_url"] == 23
    assert account.limits["description_limit"] == 1500
    assert account.limits["supported_mime_types"] == ["image/jpeg", "image/png", "video/mp4"]


async def test_media_still_processing_is_polled_before_the_status(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    platform.processing_polls = 2  # upload answers 202, then two 206 before 200
    saved = Checkpoints()
    item = MediaItem(path=PNG, mime_type="image/png", alt="Beans")
    result = await adapter.publish(request(platform, "k-poll", media=(item,)), saved)
    media_id = platform.posts[result.external_id].media[0]["id"]
    assert saved.saved == [{"media_ids": [media_id]}]
    polls = [r for r in platform.requests if r == ("GET", f"/api/v1/media/{media_id}")]
    assert len(polls) == 3
    assert platform.posts[result.external_id].media[0]["alt"] == "Beans"


async def test_media_that_never_finishes_is_transient_and_keeps_its_id(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    platform.processing_polls = 10_000
    saved = Checkpoints()
    item = MediaItem(path=PNG, mime_type="image/png", alt="Beans")
    with pytest.raises(TransientError, match="still processing"):
        await adapter.publish(request(platform, "k-slow", media=(item,)), saved)
    assert len(saved.saved) == 1 and platform.posts == {}


async def test_retry_resumes_from_the_checkpoint_without_uploading_again(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    item = MediaItem(path=PNG, mime_type="image/png", alt="Beans")
    first = Checkpoints()
    # First attempt: the upload succeeds, the status creation fails (503).

    platform.inject(Fault.server_error)
    with pytest.raises(TransientError):
        await adapter.publish(request(platform, "k-resume", media=(item,)), first)
    assert len(first.saved) == 1
    uploads = platform.requests.count(("POST", "/api/v2/media"))
    retry = request(platform, "k-resume", media=(item,), checkpoint=first.saved[-1])
    result = await adapter.publish(retry, Checkpoints())
    assert platform.requests.count(("POST", "/api/v2/media")) == uploads
    assert platform.posts[result.external_id].media[0]["id"] == first.saved[-1]["media_ids"][0]


async def test_the_same_key_returns_the_same_status(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    first = await adapter.publish(request(platform, "k-same"), Checkpoints())
    second = await adapter.publish(request(platform, "k-same"), Checkpoints())
    assert first == second
    assert len(platform.posts) == 1
    assert platform.posts[first.external_id].extra["idempotency_key"] == "k-same"
    assert first.url == f"https://social.example/@almanac/{first.external_id}"


async def test_link_is_appended_as_plain_text(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(
        request(platform, "k-link", link="https://cafe.example/menu"), Checkpoints()
    )
    assert platform.posts[result.external_id].text == "Fresh roast\n\nhttps://cafe.example/menu"


async def test_metrics_come_from_the_status(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-metrics"), Checkpoints())
    platform.counts[result.external_id] = {"favourites": 7, "reblogs": 3, "replies": 2}
    metrics = await adapter.fetch_metrics(credentials(platform), result.external_id)
    assert (metrics.likes, metrics.reposts, metrics.replies, metrics.views) == (7, 3, 2, None)


async def test_take_down_of_a_status_already_gone_is_done(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-gone"), Checkpoints())
    await adapter.take_down(credentials(platform), result.external_id)
    await adapter.take_down(credentials(platform), result.external_id)
    assert platform.posts[result.external_id].deleted


async def test_find_existing_is_unsupported(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LookupUnsupported):
        await adapter.find_existing(request(platform, "k-find"))


@pytest.mark.parametrize("missing", ["instance_url", "access_token"])
async def test_missing_credential_is_named_without_values(platform, adapter, missing) -> None:  # type: ignore[no-untyped-def]
    given = credentials(platform)
    del given[missing]
    with pytest.raises(PermanentError) as refused:
        await adapter.verify(given)
    assert missing in refused.value.message
    assert TOKEN not in refused.value.message
    assert platform.requests == []


async def test_instance_url_must_be_http(adapter) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentError, match="instance_url"):
        await adapter.verify({"instance_url": "file:///etc/passwd", "access_token": TOKEN})
