"""X beyond the shared suite: the chunked upload resumes from its checkpoint, video
processing is awaited, problem JSON becomes typed errors, tokens are refreshed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.networks.base import (
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    PermanentError,
    PublishRequest,
    RefreshableAdapter,
    RefreshUnsupported,
)
from app.networks.x import XAdapter
from tests.contract.harness import PNG, PNG_BYTES, adapter_client, platform_fixture
from tests.contract.platforms.x import REFRESH_TOKEN, TOKEN, FakeX

CREDENTIALS = {"access_token": TOKEN, "refresh_token": REFRESH_TOKEN}
CHUNK = 100  # bytes: the 261-byte picture goes in 3 segments


platform = platform_fixture(FakeX)


@pytest.fixture
async def adapter(platform: FakeX) -> AsyncIterator[XAdapter]:
    async with adapter_client(platform) as http:
        yield XAdapter(http, oauth=platform.oauth_app(), chunk_size=CHUNK, poll_interval=0)


def request(text: str = "Hello", **kwargs: Any) -> PublishRequest:
    kwargs.setdefault("credentials", CREDENTIALS)
    return PublishRequest(idempotency_key="k", text=text, channel_id="c", **kwargs)


class Died(Exception):
    """The process died right after a checkpoint."""


async def test_an_interrupted_upload_resumes_where_it_stopped(
    adapter: XAdapter, platform: FakeX
) -> None:
    saved: list[dict[str, Any]] = []

    async def die_after_two_segments(ids: dict[str, Any]) -> None:
        saved.append(ids)
        if ids["x_media"]["0"].get("segments") == 2:
            raise Died

    item = MediaItem(path=PNG, mime_type="image/png", alt="A pixel")
    with pytest.raises(Died):
        await adapter.publish(request(media=(item,)), die_after_two_segments)
    checkpoint = saved[-1]
    [media_id] = platform.media
    assert checkpoint == {
        "x_media": {"0": {"media_id": media_id, "segments": 2, "finalized": False}}
    }
    assert platform.posts == {}

    async def keep(ids: dict[str, Any]) -> None:
        saved.append(ids)

    result = await adapter.publish(request(media=(item,), checkpoint=checkpoint), keep)

    assert list(platform.media) == [media_id], "the retry re-used the upload session"
    media = platform.media[media_id]
    assert media["appends"] == 3, "only the missing segment was sent again"
    assert b"".join(media["segments"][i] for i in range(3)) == PNG_BYTES
    assert platform.posts[result.external_id].media == [{"id": media_id, "alt": "A pixel"}]
    assert saved[-1]["x_media"]["0"]["finalized"] is True


async def test_a_finalized_upload_is_not_sent_again(adapter: XAdapter, platform: FakeX) -> None:
    item = MediaItem(path=PNG, mime_type="image/png")
    saved: list[dict[str, Any]] = []

    async def keep(ids: dict[str, Any]) -> None:
        saved.append(ids)

    first = await adapter.publish(request("one", media=(item,)), keep)
    appends = platform.media[platform.posts[first.external_id].media[0]["id"]]["appends"]
    requests_before = len(platform.requests)
    await adapter.publish(request("two", media=(item,), checkpoint=saved[-1]), keep)
    paths = [path for _, path in platform.requests[requests_before:]]
    assert not any(path.endswith(("/initialize", "/append", "/finalize")) for path in paths)
    assert "/2/media/upload" in paths  # STATUS, then the post
    assert appends == 3


async def test_a_video_is_polled_until_processed(adapter: XAdapter, platform: FakeX) -> None:
    platform.processing_polls = 2
    video = MediaItem(path=PNG, mime_type="video/mp4", alt="ignored for video")
    result = await adapter.publish(request(media=(video,)), _ignore)
    statuses = [p for m, p in platform.requests if m == "GET" and p == "/2/media/upload"]
    assert len(statuses) == 3  # in_progress, in_progress, succeeded
    [media] = platform.posts[result.external_id].media
    assert media["alt"] == ""  # X takes alt text for images and GIFs only
    assert platform.media[media["id"]]["category"] == "tweet_video"


async def test_problem_json_becomes_a_permanent_error_with_xs_words(adapter: XAdapter) -> None:
    ghost = PublishRequest(
        idempotency_key="k",
        text="hi",
        credentials=CREDENTIALS,
        checkpoint={"x_media": {"0": {"media_id": "42", "segments": 1, "finalized": True}}},
        media=(MediaItem(path=PNG, mime_type="image/png"),),
    )
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(ghost, _ignore)
    assert "Invalid media id" in refused.value.message


async def test_no_safe_lookup_and_no_idempotency(adapter: XAdapter) -> None:
    from datetime import timedelta

    assert adapter.idempotency_window == timedelta(0)
    with pytest.raises(LookupUnsupported) as unsupported:
        await adapter.find_existing(request())
    assert "t.co" in unsupported.value.message


async def test_verify_learns_the_username_for_post_urls(adapter: XAdapter) -> None:
    account = await adapter.verify(CREDENTIALS)
    assert (account.handle, account.display_name) == ("almanac", "Almanac Café")
    assert account.refreshed_credentials == {**CREDENTIALS, "username": "almanac"}
    result = await adapter.publish(request(credentials=account.refreshed_credentials), _ignore)
    assert result.url == f"https://x.com/almanac/status/{result.external_id}"
    anonymous = await adapter.publish(request("other text"), _ignore)
    assert anonymous.url == f"https://x.com/i/web/status/{anonymous.external_id}"


async def test_metrics_come_from_public_metrics(adapter: XAdapter, platform: FakeX) -> None:
    result = await adapter.publish(request(), _ignore)
    platform.metrics[result.external_id] = {
        "likes": 7,
        "retweets": 3,
        "replies": 2,
        "impressions": 410,
    }
    metrics = await adapter.fetch_metrics(CREDENTIALS, result.external_id)
    assert (metrics.likes, metrics.reposts, metrics.replies, metrics.views) == (7, 3, 2, 410)


async def test_taking_down_a_post_already_gone_succeeds(adapter: XAdapter) -> None:
    result = await adapter.publish(request(), _ignore)
    await adapter.take_down(CREDENTIALS, result.external_id)
    await adapter.take_down(CREDENTIALS, result.external_id)  # 404 now: nothing to do
    with pytest.raises(PermanentError):
        await adapter.take_down(CREDENTIALS, "../users/me")


async def test_refresh_rotates_the_tokens(adapter: XAdapter, platform: FakeX) -> None:
    assert isinstance(adapter, RefreshableAdapter)
    renewed, expires_at = await adapter.refresh_credentials(CREDENTIALS)
    assert renewed["access_token"] in platform.access_tokens
    assert renewed["refresh_token"] in platform.refresh_tokens
    assert expires_at is not None
    # The spent refresh token is refused: the account must be reconnected.
    with pytest.raises(CredentialsExpiredError) as refused:
        await adapter.refresh_credentials(CREDENTIALS)
    assert "Value passed for the token was invalid" in refused.value.message
    assert REFRESH_TOKEN not in refused.value.message
    with pytest.raises(RefreshUnsupported):
        await adapter.refresh_credentials({"access_token": TOKEN})


async def test_a_missing_token_is_named_never_shown(adapter: XAdapter) -> None:
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(credentials={"username": "almanac"}), _ignore)
    assert "access_token" in refused.value.message
    assert refused.value.field == "access_token"


async def _ignore(ids: dict[str, Any]) -> None:
    return None
