"""LinkedIn beyond the shared suite: "little" text escaping, the version headers,
image checkpoints, the author looked up once, content shapes, daily rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from app.networks.base import (
    CredentialsExpiredError,
    MediaItem,
    OAuthApp,
    PermanentError,
    PublishRequest,
    RateLimitedError,
    RefreshUnsupported,
    TransientError,
)
from app.networks.linkedin import RESERVED, LinkedInAdapter, little_text
from tests.contract.harness import (
    PNG,
    PNG_BYTES,
    Fault,
    adapter_client,
    no_checkpoint,
    platform_fixture,
)
from tests.contract.platforms.linkedin import (
    AUTHOR,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    VERSION,
    FakeLinkedIn,
)

CREDENTIALS = {"access_token": TOKEN, "author": AUTHOR}


platform = platform_fixture(FakeLinkedIn)


@pytest.fixture
async def adapter(platform: FakeLinkedIn) -> AsyncIterator[LinkedInAdapter]:
    async with adapter_client(platform) as http:
        yield LinkedInAdapter(http, api_base=platform.url, version=VERSION)


def request(text: str = "Hello", **kwargs: Any) -> PublishRequest:
    kwargs.setdefault("credentials", CREDENTIALS)
    return PublishRequest(idempotency_key="k", text=text, channel_id="c", **kwargs)


@pytest.mark.parametrize("char", sorted(RESERVED))
def test_every_reserved_character_is_escaped(char: str) -> None:
    assert little_text(f"a{char}b") == f"a\\{char}b"


def test_little_text_keeps_everything_else() -> None:
    assert set("\\|{}@[]()<>#*_~") == RESERVED
    assert little_text("Café, 50% off! ✨ https://x.example/?a=1") == (
        "Café, 50% off! ✨ https://x.example/?a=1"
    )
    assert little_text("\\#") == "\\\\\\#"


async def test_commentary_reaches_linkedin_escaped_and_reads_as_written(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    text = "New: (beta) #launch @team [docs] <soon> *bold* _it_ ~x~ {y} a|b c\\d"
    result = await adapter.publish(request(text), no_checkpoint)
    assert platform.posts[result.external_id].text == text
    assert platform.raw_commentary[result.external_id] == little_text(text)
    assert result.url == f"https://www.linkedin.com/feed/update/{result.external_id}"


async def test_a_wrong_version_header_is_refused_with_linkedins_words(
    platform: FakeLinkedIn,
) -> None:
    async with adapter_client(platform) as http:
        stale = LinkedInAdapter(http, api_base=platform.url, version="202001")
        with pytest.raises(PermanentError) as refused:
            await stale.publish(request(), no_checkpoint)
    assert "A version must be present" in refused.value.message


async def test_an_uploaded_image_is_checkpointed_and_not_uploaded_again(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    saved: list[dict[str, Any]] = []

    async def keep(ids: dict[str, Any]) -> None:
        saved.append(ids)

    item = MediaItem(path=PNG, mime_type="image/png", alt="A pixel")
    platform.inject(Fault.server_error)
    with pytest.raises(TransientError):  # the post itself failed, after the upload
        await adapter.publish(request(media=(item,)), keep)
    [image] = platform.images
    assert platform.images[image]["bytes"] == PNG_BYTES
    assert saved[-1] == {"linkedin_images": {"0": image}}

    result = await adapter.publish(request(media=(item,), checkpoint=saved[-1]), keep)
    assert list(platform.images) == [image]
    assert platform.posts[result.external_id].media == [{"id": image, "alt": "A pixel"}]
    assert platform.posts[result.external_id].extra["content"] == {
        "media": {"id": image, "altText": "A pixel"}
    }


async def test_several_images_make_a_multi_image_post(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    items = tuple(MediaItem(path=PNG, mime_type="image/png", alt=f"Pixel {n}") for n in range(3))
    result = await adapter.publish(request(media=items), no_checkpoint)
    content = platform.posts[result.external_id].extra["content"]
    assert [image["altText"] for image in content["multiImage"]["images"]] == [
        "Pixel 0",
        "Pixel 1",
        "Pixel 2",
    ]


async def test_a_link_becomes_an_article(adapter: LinkedInAdapter, platform: FakeLinkedIn) -> None:
    result = await adapter.publish(request(link="https://almanac.example/blog"), no_checkpoint)
    article = platform.posts[result.external_id].extra["content"]["article"]
    assert article["source"] == "https://almanac.example/blog"


async def test_videos_are_refused_with_a_sentence(adapter: LinkedInAdapter) -> None:
    video = MediaItem(path=PNG, mime_type="video/mp4")
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(media=(video,)), no_checkpoint)
    assert "videos" in refused.value.message


async def test_without_an_author_the_members_own_urn_is_used_and_kept(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    result = await adapter.publish(request(credentials={"access_token": TOKEN}), no_checkpoint)
    assert result.refreshed_credentials == {"access_token": TOKEN, "author": AUTHOR}
    account = await adapter.verify({"access_token": TOKEN})
    assert account.handle == "ada@almanac.example"
    assert account.refreshed_credentials == {"access_token": TOKEN, "author": AUTHOR}
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(
            request(credentials={"access_token": TOKEN, "author": "me"}), no_checkpoint
        )
    assert refused.value.field == "author"


async def test_the_daily_limit_waits_until_midnight_utc(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    platform.inject(Fault.rate_limited)
    with pytest.raises(RateLimitedError) as limited:
        await adapter.publish(request(), no_checkpoint)
    until = limited.value.until
    assert (until.hour, until.minute, until.second) == (0, 0, 0)
    assert timedelta(0) < until - datetime.now(UTC) <= timedelta(days=1)
    assert "APPLICATION DAY limit" in limited.value.message


async def test_take_down_encodes_the_urn_and_tolerates_gone(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    result = await adapter.publish(request(), no_checkpoint)
    await adapter.take_down(CREDENTIALS, result.external_id)
    assert f"/rest/posts/{quote(result.external_id, safe='')}" in platform.raw_paths
    assert platform.posts[result.external_id].deleted
    await adapter.take_down(CREDENTIALS, result.external_id)  # 404: already gone
    with pytest.raises(PermanentError):
        await adapter.take_down(CREDENTIALS, "7000")


async def test_metrics_from_social_actions(
    adapter: LinkedInAdapter, platform: FakeLinkedIn
) -> None:
    result = await adapter.publish(request(), no_checkpoint)
    platform.reactions[result.external_id] = {"likes": 12, "comments": 4}
    metrics = await adapter.fetch_metrics(CREDENTIALS, result.external_id)
    assert (metrics.likes, metrics.replies, metrics.views) == (12, 4, None)


async def test_refresh_needs_a_refresh_token(adapter: LinkedInAdapter) -> None:
    with pytest.raises(RefreshUnsupported) as unsupported:
        await adapter.refresh_credentials(CREDENTIALS)
    assert "connect it again" in unsupported.value.message


async def test_refresh_sends_the_client_secret_in_the_form(platform: FakeLinkedIn) -> None:
    app = OAuthApp(
        CLIENT_ID,
        CLIENT_SECRET,
        token_url=f"{platform.url}/oauth/v2/accessToken",
        client_auth="body",
    )
    async with adapter_client(platform) as http:
        adapter = LinkedInAdapter(http, api_base=platform.url, oauth=app, version=VERSION)
        renewed, expires_at = await adapter.refresh_credentials(
            {**CREDENTIALS, "refresh_token": REFRESH_TOKEN}
        )
        assert renewed == {**CREDENTIALS, "refresh_token": REFRESH_TOKEN}
        assert expires_at is not None
        assert timedelta(days=59) < expires_at - datetime.now(UTC) <= timedelta(days=60)
        with pytest.raises(CredentialsExpiredError) as refused:
            await adapter.refresh_credentials({**CREDENTIALS, "refresh_token": "old"})
        assert "refresh token is invalid" in refused.value.message
