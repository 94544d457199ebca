"""Instagram beyond the shared suite: the platform downloads each signed link, carousels,
polling, checkpointed containers that are never re-created nor published twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.networks.base import (
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    PermanentError,
    PublishRequest,
    RateLimitedError,
    RefreshableAdapter,
    RefreshUnsupported,
    TransientError,
)
from app.networks.instagram import InstagramAdapter
from tests.contract.harness import PNG, Checkpoints, Fault, adapter_client, platform_fixture
from tests.contract.platforms import instagram
from tests.contract.platforms._graph import file_bytes, jpeg_of

CREDENTIALS = {
    "ig_user_id": instagram.InstagramPlatform.account_id,
    "access_token": instagram.TOKEN,
}


platform = platform_fixture(instagram.make_platform)


@pytest.fixture
async def adapter(platform: instagram.InstagramPlatform) -> AsyncIterator[InstagramAdapter]:
    async with adapter_client(platform) as http:
        yield instagram.make_adapter(platform, http)
    assert platform.tokens_in_url == 0, "the token must travel in a header, never in a URL"


def picture(platform: instagram.InstagramPlatform, alt: str = "A cup") -> MediaItem:
    return instagram.media_item(platform, PNG, alt)


def request(text: str, media: tuple[MediaItem, ...], checkpoint: dict[str, Any] | None = None):
    return PublishRequest(
        idempotency_key="k",
        text=text,
        credentials=CREDENTIALS,
        media=media,
        checkpoint=checkpoint or {},
    )


def creates(platform: instagram.InstagramPlatform) -> int:
    return platform.requests.count(("POST", f"/v25.0/{platform.account_id}/media"))


async def test_single_image_is_downloaded_polled_published_with_permalink(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    store = Checkpoints()
    result = await adapter.publish(request("Fresh roast", (picture(platform),)), store)
    post = platform.posts[result.external_id]
    assert post.text == "Fresh roast"
    assert post.media == [{"alt": "A cup", "bytes": len(jpeg_of(PNG))}]
    assert len(platform.media_host.downloads) == 1  # Instagram fetched the signed link
    assert result.url == f"https://www.instagram.com/p/{result.external_id}/"
    container = store.state["container_id"]
    # Polled until FINISHED (IN_PROGRESS first), then published once.
    assert platform.requests.count(("GET", f"/v25.0/{container}")) == 2
    assert platform.publish_calls == 1


async def test_carousel_children_then_parent(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    store = Checkpoints()
    items = tuple(picture(platform, f"Photo {i}") for i in range(3))
    result = await adapter.publish(request("Three cups", items), store)
    post = platform.posts[result.external_id]
    assert [m["alt"] for m in post.media] == ["Photo 0", "Photo 1", "Photo 2"]
    assert post.extra["media_type"] == "CAROUSEL"
    children = store.state["children"]
    assert len(children) == 3
    assert all(platform.containers[c].params["is_carousel_item"] == "true" for c in children)
    parent = platform.containers[store.state["container_id"]]
    assert parent.params["children"] == ",".join(children)
    assert "caption" not in platform.containers[children[0]].params  # only the parent has it
    assert creates(platform) == 4
    assert store.calls == 4  # each child, then the parent


async def test_text_alone_is_refused_before_any_call(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    with pytest.raises(PermanentError, match="cannot publish text alone"):
        await adapter.publish(request("Just words", ()), Checkpoints())
    assert platform.requests == []


async def test_an_expired_link_is_refused_by_the_platform_as_a_fetch_failure(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    url = platform.media_host.publish_file(jpeg_of(PNG), "image/jpeg", expires_in=-5)
    item = MediaItem(path=PNG, mime_type="image/jpeg", public_url=url)
    # 2207052: the next attempt gets a fresh signed link, so it is worth retrying.
    with pytest.raises(TransientError, match="Media download has failed"):
        await adapter.publish(request("Late", (item,)), Checkpoints())
    assert platform.live_posts() == []


async def test_a_png_is_refused_as_instagram_does(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    url = platform.media_host.publish_file(file_bytes(PNG), "image/png")
    item = MediaItem(path=PNG, mime_type="image/png", public_url=url)
    with pytest.raises(TransientError, match="Only photo or video"):
        await adapter.publish(request("PNG", (item,)), Checkpoints())
    assert platform.media_host.downloads  # it was fetched, then refused


async def test_no_public_link_is_permanent(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    with pytest.raises(PermanentError, match="public link"):
        await adapter.publish(request("x", (MediaItem(PNG, "image/jpeg"),)), Checkpoints())
    assert platform.requests == []


async def test_lost_answer_is_found_through_the_checkpointed_container_and_never_republished(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    store = Checkpoints()
    platform.inject(Fault.timeout)
    req = request("Only once", (picture(platform),))
    with pytest.raises(TransientError):
        await adapter.publish(req, store)
    for _ in range(100):
        if platform.posts:
            break
        await asyncio.sleep(0.05)
    [(media_id, _)] = platform.posts.items()
    retry = request("Only once", req.media, store.state)
    found = await adapter.find_existing(retry)
    assert found is not None and found.external_id == media_id
    assert found.url == f"https://www.instagram.com/p/{media_id}/"
    # And a retry of publish itself resumes, sees PUBLISHED, and does not publish again.
    again = await adapter.publish(retry, store)
    assert again.external_id == media_id
    assert platform.publish_calls == 1
    assert creates(platform) == 1
    assert len(platform.live_posts()) == 1


async def test_find_existing(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    with pytest.raises(LookupUnsupported):
        await adapter.find_existing(request("x", (picture(platform),)))
    # A container that exists but was never published: nothing went out, retry is safe.
    store = Checkpoints()
    platform.inject(Fault.server_error)  # answered at container creation
    with pytest.raises(TransientError):
        await adapter.publish(request("y", (picture(platform),)), store)
    assert store.state == {}
    unpublished = await adapter._create(
        platform.account_id, instagram.TOKEN, {"image_url": picture(platform).public_url or ""}
    )
    pending = request("y", (picture(platform),), {"container_id": unpublished})
    assert await adapter.find_existing(pending) is None


async def test_retry_resumes_with_the_checkpointed_container(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    container = await adapter._create(
        platform.account_id,
        instagram.TOKEN,
        {"image_url": picture(platform).public_url or "", "caption": "Resumed"},
    )
    before = creates(platform)
    result = await adapter.publish(
        request("Resumed", (picture(platform),), {"container_id": container}), Checkpoints()
    )
    assert creates(platform) == before  # no new container
    assert platform.posts[result.external_id].extra["container"] == container


async def test_a_partly_made_carousel_resumes_with_its_children(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    items = tuple(picture(platform, f"P{i}") for i in range(3))
    first = await adapter._create(
        platform.account_id, instagram.TOKEN, adapter.child_params(items[0])
    )
    store = Checkpoints()
    result = await adapter.publish(request("Resumed carousel", items, {"children": [first]}), store)
    assert store.state["children"][0] == first
    assert creates(platform) == 1 + 2 + 1  # the first child earlier, two more, the parent
    assert len(platform.posts[result.external_id].media) == 3


async def test_container_error_is_permanent_with_the_reason(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    platform.fail_next_container = "Error: Media upload has failed with error code 2207082"
    with pytest.raises(PermanentError, match="2207082"):
        await adapter.publish(request("Broken", (picture(platform),)), Checkpoints())
    assert platform.publish_calls == 0


async def test_a_container_still_processing_is_transient_and_resumable(
    platform: instagram.InstagramPlatform,
) -> None:
    async with adapter_client(platform) as http:
        impatient = InstagramAdapter(http, api_base=platform.url, poll_interval=0.01, max_wait=0)
        store = Checkpoints()
        with pytest.raises(TransientError, match="still being processed"):
            await impatient.publish(request("Slow", (picture(platform),)), store)
        assert platform.publish_calls == 0
        result = await impatient.publish(request("Slow", (picture(platform),), store.state), store)
    assert platform.posts[result.external_id].text == "Slow"


async def test_publishing_limit_is_a_rate_limit(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    platform.inject(Fault.rate_limited)
    with pytest.raises(RateLimitedError) as limited:
        await adapter.publish(request("Hi", (picture(platform),)), Checkpoints())
    assert "too many calls" in limited.value.message


async def test_take_down_is_refused_without_a_call(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    with pytest.raises(PermanentError, match="cannot delete"):
        await adapter.take_down(CREDENTIALS, "123")
    assert platform.requests == []


async def test_metrics_and_verify(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    result = await adapter.publish(request("Liked", (picture(platform),)), Checkpoints())
    platform.likes[result.external_id] = 42
    metrics = await adapter.fetch_metrics(CREDENTIALS, result.external_id)
    assert (metrics.likes, metrics.replies, metrics.views) == (42, 2, None)
    account = await adapter.verify(CREDENTIALS)
    assert (account.handle, account.display_name) == ("almanac.coffee", "Almanac Coffee")
    assert account.limits["max_characters"] == 2200


async def test_missing_credential_is_named(adapter: InstagramAdapter) -> None:
    with pytest.raises(PermanentError, match="'ig_user_id'") as refused:
        await adapter.verify({"access_token": instagram.TOKEN})
    assert instagram.TOKEN not in refused.value.message


async def test_refresh_exchanges_the_long_lived_user_token_with_the_meta_app(
    platform: instagram.InstagramPlatform, adapter: InstagramAdapter
) -> None:
    assert isinstance(adapter, RefreshableAdapter)
    renewed, expires_at = await adapter.refresh_credentials(dict(CREDENTIALS))
    assert renewed["access_token"] != instagram.TOKEN
    assert renewed["ig_user_id"] == CREDENTIALS["ig_user_id"]
    assert expires_at is not None
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=60))) < timedelta(hours=1)
    [form] = platform.login.token_forms
    assert form["grant_type"] == "fb_exchange_token"
    assert form["fb_exchange_token"] == instagram.TOKEN
    account = await adapter.verify(renewed)  # the new token works
    assert account.handle == "almanac.coffee"
    with pytest.raises(CredentialsExpiredError):
        await adapter.refresh_credentials({**CREDENTIALS, "access_token": "EAAGrevoked"})


async def test_refresh_needs_the_meta_app(platform: instagram.InstagramPlatform) -> None:
    async with adapter_client(platform) as http:
        without_app = InstagramAdapter(http, api_base=platform.url)
        with pytest.raises(RefreshUnsupported, match="ALMANAC_META_APP_ID"):
            await without_app.refresh_credentials(dict(CREDENTIALS))
        wrong = replace(platform.oauth_app(), client_secret="not-the-secret")
        with pytest.raises(PermanentError, match="ALMANAC_META_APP_SECRET") as refused:
            await InstagramAdapter(http, oauth=wrong).refresh_credentials(dict(CREDENTIALS))
        assert "not-the-secret" not in refused.value.message
    assert platform.login.long_lived.keys() == {instagram.TOKEN}, "nothing was issued"
