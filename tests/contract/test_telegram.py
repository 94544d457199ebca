"""Telegram beyond the shared suite: albums, links, the 48-hour take-down, the
Bot API's own refusals, and the bot token kept out of the logs."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.networks.base import (
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    Metrics,
    PermanentError,
    PublishRequest,
    RateLimitedError,
)
from app.networks.telegram import TelegramAdapter
from tests.contract.harness import PNG, adapter_client, no_checkpoint, platform_fixture
from tests.contract.platforms.telegram import BOT_TOKEN, CHANNEL, FakeTelegram

CREDENTIALS = {"bot_token": BOT_TOKEN, "chat_id": "@almanac_news"}


platform = platform_fixture(FakeTelegram)


@pytest.fixture
async def adapter(platform: FakeTelegram) -> AsyncIterator[TelegramAdapter]:
    async with adapter_client(platform) as http:
        yield TelegramAdapter(http, api_base=platform.url)


def request(text: str = "Fresh roast today", **kwargs: object) -> PublishRequest:
    values: dict[str, object] = {"credentials": CREDENTIALS, **kwargs}
    return PublishRequest(idempotency_key="k", text=text, channel_id="c", **values)  # type: ignore[arg-type]


def png(alt: str = "") -> MediaItem:
    return MediaItem(path=PNG, mime_type="image/png", alt=alt)


async def test_text_message_id_and_public_link(adapter: TelegramAdapter) -> None:
    result = await adapter.publish(request(), no_checkpoint)
    # The chat's numeric id, not the @username the channel was connected with.
    chat_id, message_id = result.external_id.split(":")
    assert chat_id == str(CHANNEL["id"])
    assert result.url == f"https://t.me/almanac_news/{message_id}"


async def test_private_channel_link_is_the_members_only_form(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    platform.chat = {"id": -1009876543210, "type": "channel", "title": "Staff room"}
    credentials = {"bot_token": BOT_TOKEN, "chat_id": "-1009876543210"}
    result = await adapter.publish(request(credentials=credentials), no_checkpoint)
    message_id = result.external_id.split(":")[1]
    assert result.url == f"https://t.me/c/9876543210/{message_id}"


async def test_link_is_appended_once_and_previewed(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    link = "https://almanac.example/roast"
    await adapter.publish(request("New roast", link=link), no_checkpoint)
    await adapter.publish(request(f"New roast {link}", link=link), no_checkpoint)
    first, second = platform.bodies
    assert first["text"] == f"New roast\n\n{link}"
    assert first["link_preview_options"] == {"url": link}
    assert second["text"] == f"New roast {link}"


async def test_a_link_that_does_not_fit_the_caption_is_refused_before_sending(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(
            request("x" * 1020, link="https://almanac.example/a", media=(png(),)), no_checkpoint
        )
    assert refused.value.field == "link"
    assert "1,024" in refused.value.message
    assert platform.posts == {}


async def test_album_is_one_media_group_and_taken_down_whole(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    result = await adapter.publish(
        request("Three cups", media=(png(), png(), png())), no_checkpoint
    )
    chat_id, ids = result.external_id.split(":")
    message_ids = ids.split(",")
    assert len(message_ids) == 3
    assert [p for p, _ in platform.requests if p == "POST"] == ["POST"]
    assert platform.requests[-1][1].endswith("/sendMediaGroup")
    posts = [platform.posts[f"{chat_id}:{m}"] for m in message_ids]
    assert [post.text for post in posts] == ["Three cups", "", ""]  # caption on the first
    assert all(post.media[0]["kind"] == "photo" for post in posts)
    assert result.url == f"https://t.me/almanac_news/{message_ids[0]}"

    await adapter.take_down(CREDENTIALS, result.external_id)
    assert all(post.deleted for post in posts)


async def test_files_other_than_pictures_go_as_documents(
    adapter: TelegramAdapter, platform: FakeTelegram, tmp_path: Path
) -> None:
    menu = tmp_path / "menu.pdf"
    menu.write_bytes(b"%PDF-1.7 menu")
    document = MediaItem(path=str(menu), mime_type="application/pdf")
    single = await adapter.publish(request("Menu", media=(document,)), no_checkpoint)
    assert platform.posts[single.external_id].media[0]["kind"] == "document"
    assert platform.posts[single.external_id].media[0]["filename"] == "menu.pdf"

    # A document cannot share an album with photos: the whole album goes as documents.
    album = await adapter.publish(request("Menu", media=(png(), document)), no_checkpoint)
    chat_id, ids = album.external_id.split(":")
    kinds = [platform.posts[f"{chat_id}:{m}"].media[0]["kind"] for m in ids.split(",")]
    assert kinds == ["document", "document"]


async def test_take_down_after_48_hours_says_so(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    result = await adapter.publish(request(), no_checkpoint)
    message_id = int(result.external_id.split(":")[1])
    platform.sent_at[message_id] = time.time() - 49 * 3600
    with pytest.raises(PermanentError) as refused:
        await adapter.take_down(CREDENTIALS, result.external_id)
    assert "48 hours" in refused.value.message
    assert "message can't be deleted" in refused.value.message
    assert not platform.posts[result.external_id].deleted


async def test_take_down_of_a_message_already_deleted_succeeds(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    result = await adapter.publish(request(), no_checkpoint)
    platform.posts[result.external_id].deleted = True  # deleted by hand in the app
    await adapter.take_down(CREDENTIALS, result.external_id)


async def test_take_down_refuses_an_id_that_is_not_telegrams(adapter: TelegramAdapter) -> None:
    with pytest.raises(PermanentError, match="not a Telegram message id"):
        await adapter.take_down(CREDENTIALS, "12345")


async def test_bot_kicked_from_the_channel_expires_the_credentials(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    platform.answer_next(403, "Forbidden: bot was kicked from the channel chat")
    with pytest.raises(CredentialsExpiredError, match="bot was kicked"):
        await adapter.publish(request(), no_checkpoint)


async def test_group_upgraded_to_supergroup_names_the_new_chat_id(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    platform.answer_next(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1005550001111,
    )
    with pytest.raises(CredentialsExpiredError, match="-1005550001111"):
        await adapter.publish(request(), no_checkpoint)


async def test_bad_request_is_permanent_with_telegrams_words(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    with pytest.raises(PermanentError, match="Bad Request: chat not found"):
        await adapter.publish(
            request(credentials={"bot_token": BOT_TOKEN, "chat_id": "@nobody"}), no_checkpoint
        )


async def test_rate_limit_without_retry_after_falls_back_to_a_default_wait(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    platform.answer_next(429, "Too Many Requests")
    with pytest.raises(RateLimitedError) as limited:
        await adapter.publish(request(), no_checkpoint)
    assert "Too Many Requests" in limited.value.message


async def test_verify_refuses_a_bot_that_cannot_post_in_the_channel(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    platform.member_status = "member"
    with pytest.raises(PermanentError) as refused:
        await adapter.verify(CREDENTIALS)
    assert refused.value.field == "chat_id"
    assert "@almanac_bot" in refused.value.message and "administrator" in refused.value.message


async def test_verify_with_a_revoked_token_expires(adapter: TelegramAdapter) -> None:
    with pytest.raises(CredentialsExpiredError, match="Unauthorized"):
        await adapter.verify({"bot_token": "7000001:AAH-revoked", "chat_id": "@almanac_news"})


@pytest.mark.parametrize("missing", ["bot_token", "chat_id"])
async def test_a_missing_credential_is_named_and_nothing_is_sent(
    adapter: TelegramAdapter, platform: FakeTelegram, missing: str
) -> None:
    credentials = {k: v for k, v in CREDENTIALS.items() if k != missing}
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(credentials=credentials), no_checkpoint)
    assert refused.value.field == missing and missing in refused.value.message
    assert BOT_TOKEN not in refused.value.message
    assert platform.requests == []


async def test_no_lookup_no_idempotency_no_metrics(
    adapter: TelegramAdapter, platform: FakeTelegram
) -> None:
    assert adapter.idempotency_window is not None and not adapter.idempotency_window
    with pytest.raises(LookupUnsupported):
        await adapter.find_existing(request())
    assert await adapter.fetch_metrics(CREDENTIALS, f"{CHANNEL['id']}:1") == Metrics()
    assert platform.requests == []


async def test_httpx_request_lines_carry_no_bot_token(
    adapter: TelegramAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await adapter.publish(request(), no_checkpoint)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/bot[redacted]/sendMessage" in line for line in lines), lines
    assert not any(BOT_TOKEN in f"{r.getMessage()} {r.args!r}" for r in caplog.records)
