"""Discord beyond the shared suite: the message link, several files with alt text,
threads, Discord's 429 variants, reactions as metrics, and the webhook URL kept
secret."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.responses import HTMLResponse

from app.networks.base import (
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    PermanentError,
    PublishRequest,
    RateLimitedError,
)
from app.networks.discord import DiscordAdapter
from tests.contract.harness import PNG, Fault, adapter_client, no_checkpoint, platform_fixture
from tests.contract.platforms.discord import (
    CHANNEL_ID,
    GUILD_ID,
    NAME,
    WEBHOOK_TOKEN,
    FakeDiscord,
    webhook_url,
)

platform = platform_fixture(FakeDiscord)


@pytest.fixture
async def adapter(platform: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    async with adapter_client(platform) as http:
        yield DiscordAdapter(http)


@pytest.fixture
def credentials(platform: FakeDiscord) -> dict[str, str]:
    return {"webhook_url": webhook_url(platform)}


def request(
    credentials: dict[str, str], text: str = "Fresh roast", **kwargs: object
) -> PublishRequest:
    return PublishRequest(
        idempotency_key="k",
        text=text,
        credentials=credentials,
        channel_id="c",
        **kwargs,  # type: ignore[arg-type]
    )


async def test_verify_names_the_webhook_and_its_channel(
    adapter: DiscordAdapter, credentials: dict[str, str]
) -> None:
    account = await adapter.verify(credentials)
    assert account.handle == NAME
    assert CHANNEL_ID in account.display_name


async def test_verify_with_a_wrong_token_expires(
    adapter: DiscordAdapter, platform: FakeDiscord
) -> None:
    with pytest.raises(CredentialsExpiredError, match="Invalid Webhook Token"):
        await adapter.verify({"webhook_url": webhook_url(platform, token="wrong")})


async def test_publish_returns_the_message_link(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    result = await adapter.publish(request(credentials), no_checkpoint)
    assert (
        result.url == f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{result.external_id}"
    )
    # The message (with wait=true), then the webhook for its guild.
    assert [method for method, _ in platform.requests] == ["POST", "GET"]


async def test_the_link_is_lost_never_the_post_when_the_webhook_read_fails(
    adapter: DiscordAdapter,
    credentials: dict[str, str],
    platform: FakeDiscord,
    capsys: pytest.CaptureFixture[str],
) -> None:
    platform.webhook_read_fails = True
    result = await adapter.publish(request(credentials), no_checkpoint)
    assert result.url is None
    assert result.external_id in platform.posts
    logged = capsys.readouterr().out  # structlog's output in the tests
    assert "discord message link unavailable" in logged and "503" in logged
    assert WEBHOOK_TOKEN not in logged


async def test_several_files_carry_their_alt_text_in_order(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    media = (
        MediaItem(path=PNG, mime_type="image/png", alt="A flat white"),
        MediaItem(path=PNG, mime_type="image/png", alt=""),
        MediaItem(path=PNG, mime_type="image/png", alt="Beans " + "x" * 2000),
    )
    result = await adapter.publish(request(credentials, "Menu", media=media), no_checkpoint)
    post = platform.posts[result.external_id]
    assert post.text == "Menu"
    assert [m["alt"] for m in post.media] == ["A flat white", "", ("Beans " + "x" * 2000)[:1024]]
    assert all(m["filename"] == "pixel.png" for m in post.media)


async def test_link_is_appended_when_missing(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    link = "https://almanac.example/roast"
    first = await adapter.publish(request(credentials, "New roast", link=link), no_checkpoint)
    again = await adapter.publish(request(credentials, f"See {link}", link=link), no_checkpoint)
    assert platform.posts[first.external_id].text == f"New roast\n\n{link}"
    assert platform.posts[again.external_id].text == f"See {link}"
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(credentials, "x" * 1990, link=link), no_checkpoint)
    assert refused.value.field == "link"


async def test_a_thread_id_in_the_webhook_url_is_kept(
    adapter: DiscordAdapter, platform: FakeDiscord
) -> None:
    threaded = {"webhook_url": webhook_url(platform) + "?thread_id=3333"}
    result = await adapter.publish(request(threaded), no_checkpoint)
    await adapter.take_down(threaded, result.external_id)
    assert platform.posts[result.external_id].deleted
    assert platform.queries == [{"thread_id": "3333", "wait": "true"}, {"thread_id": "3333"}]


async def test_global_rate_limit_says_so_and_uses_the_bodys_retry_after(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    platform.rate_limit_global = True
    platform.inject(Fault.rate_limited)
    with pytest.raises(RateLimitedError) as limited:
        await adapter.publish(request(credentials), no_checkpoint)
    assert "global" in limited.value.message
    assert platform.rate_limit_reset is not None
    assert abs((limited.value.until - platform.rate_limit_reset).total_seconds()) < 1


async def test_a_429_without_json_uses_the_retry_after_header(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    # Cloudflare's ban page in front of Discord: HTML, Retry-After only.
    platform.forced.append(
        HTMLResponse("<html>1015</html>", status_code=429, headers={"Retry-After": "120"})
    )
    with pytest.raises(RateLimitedError) as limited:
        await adapter.publish(request(credentials), no_checkpoint)
    expected = datetime.now(UTC) + timedelta(seconds=120)
    assert abs((limited.value.until - expected).total_seconds()) < 5


async def test_invalid_form_body_names_the_field(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    platform.inject(Fault.validation)
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(credentials), no_checkpoint)
    assert "Invalid Form Body" in refused.value.message
    assert "content: Must be 2000 or fewer in length." in refused.value.message


async def test_a_deleted_webhook_expires_the_channel(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    platform.webhook_deleted = True
    with pytest.raises(CredentialsExpiredError, match="Unknown Webhook"):
        await adapter.publish(request(credentials), no_checkpoint)


async def test_take_down_of_a_message_already_deleted_succeeds(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    result = await adapter.publish(request(credentials), no_checkpoint)
    platform.posts[result.external_id].deleted = True  # deleted by hand in Discord
    await adapter.take_down(credentials, result.external_id)
    with pytest.raises(PermanentError, match="not a Discord message id"):
        await adapter.take_down(credentials, "abc")


async def test_reactions_are_reported_as_likes(
    adapter: DiscordAdapter, credentials: dict[str, str], platform: FakeDiscord
) -> None:
    result = await adapter.publish(request(credentials), no_checkpoint)
    assert (await adapter.fetch_metrics(credentials, result.external_id)).likes == 0
    platform.react(result.external_id, "☕", 4)
    platform.react(result.external_id, "🔥", 2)
    metrics = await adapter.fetch_metrics(credentials, result.external_id)
    assert metrics.likes == 6 and metrics.views is None


@pytest.mark.parametrize(
    "url",
    [None, "", "https://discord.com/channels/1/2", "https://discord.com/api/webhooks/abc/tok"],
)
async def test_a_bad_webhook_url_is_refused_without_echoing_it(
    adapter: DiscordAdapter, platform: FakeDiscord, url: str | None
) -> None:
    credentials = {} if url is None else {"webhook_url": url}
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(credentials), no_checkpoint)  # type: ignore[arg-type]
    assert refused.value.field == "webhook_url"
    assert not url or url not in refused.value.message
    assert platform.requests == []


async def test_no_lookup_and_no_idempotency(
    adapter: DiscordAdapter, credentials: dict[str, str]
) -> None:
    assert adapter.idempotency_window is not None and not adapter.idempotency_window
    with pytest.raises(LookupUnsupported):
        await adapter.find_existing(request(credentials))


async def test_httpx_request_lines_carry_no_webhook_token(
    adapter: DiscordAdapter, credentials: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await adapter.publish(request(credentials), no_checkpoint)
    await adapter.take_down(credentials, result.external_id)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/api/webhooks/" in line and "[redacted]" in line for line in lines), lines
    assert not any(WEBHOOK_TOKEN in f"{r.getMessage()} {r.args!r}" for r in caplog.records)
