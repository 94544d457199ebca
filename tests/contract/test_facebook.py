"""Facebook Pages beyond the shared suite, and the Graph error mapping that Facebook,
Instagram and Threads share (app/networks/graph.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.networks.base import (
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    PermanentError,
    PublishRequest,
    RateLimitedError,
    TransientError,
)
from app.networks.facebook import FacebookAdapter
from app.networks.graph import error_for, usage_reset
from tests.contract.harness import PNG, Checkpoints, adapter_client, platform_fixture
from tests.contract.platforms import facebook

PNG_SIZE = Path(PNG).stat().st_size
CREDENTIALS = {"page_id": facebook.PAGE_ID, "page_access_token": facebook.TOKEN}


platform = platform_fixture(facebook.make_platform)


@pytest.fixture
async def adapter(platform: facebook.FacebookPlatform) -> AsyncIterator[FacebookAdapter]:
    async with adapter_client(platform) as http:
        yield FacebookAdapter(http, api_base=platform.url)
    assert platform.tokens_in_url == 0, "the token must travel in a header, never in a URL"


def request(
    text: str,
    media: tuple[MediaItem, ...] = (),
    link: str | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> PublishRequest:
    return PublishRequest(
        idempotency_key="k",
        text=text,
        credentials=CREDENTIALS,
        media=media,
        link=link,
        checkpoint=checkpoint or {},
    )


def photo(alt: str) -> MediaItem:
    return MediaItem(path=PNG, mime_type="image/png", alt=alt)


async def test_link_post(platform: facebook.FacebookPlatform, adapter: FacebookAdapter) -> None:
    result = await adapter.publish(request("Menu", link="https://almanac.example/m"), Checkpoints())
    post = platform.posts[result.external_id]
    assert (post.text, post.extra["link"]) == ("Menu", "https://almanac.example/m")
    assert result.external_id.startswith(f"{facebook.PAGE_ID}_")
    assert result.url == f"https://www.facebook.com/{result.external_id}"


async def test_one_photo_post_is_the_photos_story(
    platform: facebook.FacebookPlatform, adapter: FacebookAdapter
) -> None:
    result = await adapter.publish(request("Roast", (photo("Beans"),)), Checkpoints())
    post = platform.posts[result.external_id]
    assert post.text == "Roast" and post.media[0]["alt"] == "Beans"
    [uploaded] = platform.photos.values()
    assert uploaded["bytes"] == PNG_SIZE and uploaded["published"]


async def test_several_photos_resume_after_a_failed_feed_call_without_reuploading(
    platform: facebook.FacebookPlatform, adapter: FacebookAdapter
) -> None:
    store = Checkpoints()
    items = (photo("One"), photo("Two"), photo("Three"))
    platform.fail_feed_once = True
    with pytest.raises(TransientError):
        await adapter.publish(request("Trio", items), store)
    assert len(store.state["photo_ids"]) == 3
    assert platform.live_posts() == []
    result = await adapter.publish(request("Trio", items, checkpoint=store.state), store)
    post = platform.posts[result.external_id]
    assert [m["alt"] for m in post.media] == ["One", "Two", "Three"]
    assert [m["photo_id"] for m in post.media] == store.state["photo_ids"]
    assert len(platform.photos) == 3  # none uploaded twice
    assert not any(p["published"] for p in platform.photos.values())


async def test_video_is_refused_before_any_call(
    platform: facebook.FacebookPlatform, adapter: FacebookAdapter
) -> None:
    with pytest.raises(PermanentError, match="Video API"):
        await adapter.publish(request("Clip", (MediaItem(PNG, "video/mp4"),)), Checkpoints())
    assert platform.requests == []


async def test_metrics_verify_and_find_existing(
    platform: facebook.FacebookPlatform, adapter: FacebookAdapter
) -> None:
    result = await adapter.publish(request("Counted"), Checkpoints())
    metrics = await adapter.fetch_metrics(CREDENTIALS, result.external_id)
    assert (metrics.likes, metrics.replies, metrics.reposts, metrics.views) == (12, 4, 0, None)
    platform.posts[result.external_id].extra["shares"] = 5
    assert (await adapter.fetch_metrics(CREDENTIALS, result.external_id)).reposts == 5
    account = await adapter.verify(CREDENTIALS)
    assert (account.handle, account.display_name) == ("almanaccoffee", "Almanac Coffee")
    with pytest.raises(LookupUnsupported):
        await adapter.find_existing(request("Counted"))


async def test_a_wrong_token_is_expired_credentials(adapter: FacebookAdapter) -> None:
    with pytest.raises(CredentialsExpiredError, match="Invalid OAuth access token"):
        await adapter.verify({**CREDENTIALS, "page_access_token": "nope"})


# -- the Graph mapping (shared by the three adapters) ------------------------------------


def graph_response(
    status: int, error: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = json.dumps({"error": error}).encode() if error is not None else b"<html>Bad</html>"
    return httpx.Response(status, content=body, headers=headers or {})


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, {"message": "Session has expired", "code": 190, "error_subcode": 463}, "expired"),
        (400, {"message": "Invalid token", "code": 190, "error_subcode": 467}, "expired"),
        (400, {"message": "Application request limit reached", "code": 4}, "rate"),
        (400, {"message": "User request limit reached", "code": 17}, "rate"),
        (400, {"message": "Page request limit reached", "code": 32}, "rate"),
        (400, {"message": "Custom limit", "code": 613}, "rate"),
        (400, {"message": "Too many calls", "code": 80001}, "rate"),
        (500, {"message": "An unknown error has occurred.", "code": 1}, "transient"),
        (500, {"message": "Service temporarily unavailable", "code": 2}, "transient"),
        (400, {"message": "Temporary issue", "code": 10, "is_transient": True}, "transient"),
        (
            400,
            {"message": "Media ID is not available", "code": 9007, "error_subcode": 2207027},
            "transient",
        ),
        (503, None, "transient"),
        (400, {"message": "(#100) Invalid parameter", "code": 100}, "permanent"),
        (400, {"message": "Duplicate status message", "code": 506}, "permanent"),
        (403, {"message": "(#200) Permissions error", "code": 200}, "permanent"),
    ],
)
def test_graph_error_mapping(status: int, error: dict[str, Any] | None, kind: str) -> None:
    mapped = error_for(graph_response(status, error), network="facebook")
    expected = {
        "expired": CredentialsExpiredError,
        "rate": RateLimitedError,
        "transient": TransientError,
        "permanent": PermanentError,
    }[kind]
    assert isinstance(mapped, expected)
    if kind == "transient":
        assert not isinstance(mapped, RateLimitedError)
    if error is not None:
        assert error["message"] in mapped.message


def test_user_message_is_kept_beside_the_message() -> None:
    error = {
        "message": "Invalid parameter",
        "code": 100,
        "error_subcode": 2207010,
        "error_user_msg": "The caption is too long.",
    }
    mapped = error_for(graph_response(400, error), network="instagram")
    assert "Invalid parameter" in mapped.message and "The caption is too long." in mapped.message


def test_rate_limit_reset_from_the_business_use_case_header() -> None:
    usage = {
        "1234": [
            {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 3},
            {"type": "instagram", "call_count": 90, "estimated_time_to_regain_access": 12},
        ]
    }
    response = graph_response(
        400,
        {"message": "Too many calls", "code": 80002},
        {"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    mapped = error_for(response, network="instagram")
    assert isinstance(mapped, RateLimitedError)
    expected = datetime.now(UTC) + timedelta(minutes=12)
    assert abs((mapped.until - expected).total_seconds()) < 5


def test_usage_headers_without_an_estimate_name_no_reset() -> None:
    app_usage = json.dumps({"call_count": 100, "total_cputime": 20, "total_time": 30})
    assert usage_reset({"x-app-usage": app_usage}) is None
    assert usage_reset({"x-business-use-case-usage": "not json"}) is None
    # A throttle without an estimate still waits (the default), never retries at once.
    response = graph_response(
        400, {"message": "Application request limit reached", "code": 4}, {"X-App-Usage": app_usage}
    )
    mapped = error_for(response, network="facebook")
    assert isinstance(mapped, RateLimitedError) and mapped.until > datetime.now(UTC)


def test_instagram_publishing_limit_waits_an_hour() -> None:
    response = graph_response(
        400,
        {
            "message": "The user has reached the publishing limit",
            "code": 9,
            "error_subcode": 2207042,
        },
    )
    mapped = error_for(response, network="instagram")
    assert isinstance(mapped, RateLimitedError)
    assert mapped.until > datetime.now(UTC) + timedelta(minutes=59)


async def test_missing_page_token_is_named_without_a_call(
    platform: facebook.FacebookPlatform, adapter: FacebookAdapter
) -> None:
    with pytest.raises(PermanentError, match="'page_access_token'"):
        await adapter.publish(
            PublishRequest(idempotency_key="k", text="x", credentials={"page_id": "1"}),
            Checkpoints(),
        )
    assert platform.requests == []
