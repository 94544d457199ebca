"""Bluesky beyond the shared suite: record keys derived from the idempotency key,
facets with UTF-8 byte offsets, sessions reused / refreshed / re-created, images
resumed from a checkpoint, link cards, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.networks.base import (
    CredentialsExpiredError,
    MediaItem,
    PermanentError,
    PublishRequest,
    TransientError,
)
from app.networks.bluesky import BlueskyAdapter, find_spans, record_key
from tests.contract.harness import Checkpoints, Fault, adapter_client, platform_fixture
from tests.contract.platforms.bluesky import (
    APP_PASSWORD,
    DID,
    DISPLAY_NAME,
    HANDLE,
    KNOWN_HANDLES,
    TID,
    FakeBluesky,
)

CREATE_SESSION = ("POST", "/xrpc/com.atproto.server.createSession")
REFRESH_SESSION = ("POST", "/xrpc/com.atproto.server.refreshSession")
UPLOAD_BLOB = ("POST", "/xrpc/com.atproto.repo.uploadBlob")
CREATE_RECORD = ("POST", "/xrpc/com.atproto.repo.createRecord")


platform = platform_fixture(FakeBluesky)


@pytest.fixture
async def adapter(platform: FakeBluesky) -> AsyncIterator[BlueskyAdapter]:
    async with adapter_client(platform) as http:
        yield BlueskyAdapter(http)


def credentials(platform: FakeBluesky, **extra: str) -> dict[str, str]:
    return {"pds_url": platform.url, "identifier": HANDLE, "app_password": APP_PASSWORD, **extra}


def request(platform: FakeBluesky, key: str, text: str = "Fresh roast", **kwargs: Any):
    kwargs.setdefault("credentials", credentials(platform))
    return PublishRequest(idempotency_key=key, text=text, **kwargs)


def picture(tmp_path: Path, width: int = 40, height: int = 30) -> MediaItem:
    path = tmp_path / "roast.png"
    Image.new("RGB", (width, height), (120, 80, 40)).save(path)
    return MediaItem(path=str(path), mime_type="image/png", alt="Beans on a tray")


# -- record keys ------------------------------------------------------------------------


def test_record_key_is_a_tid_derived_from_the_idempotency_key() -> None:
    keys = [record_key(f"delivery-{n}") for n in range(500)]
    assert all(TID.match(key) for key in keys)
    assert len(set(keys)) == 500
    assert record_key("delivery-7") == keys[7]  # deterministic: a retry writes the same key


async def test_publish_writes_the_derived_record_key(platform: FakeBluesky, adapter) -> None:
    result = await adapter.publish(request(platform, "d-1"), Checkpoints())
    assert result.external_id == f"at://{DID}/app.bsky.feed.post/{record_key('d-1')}"
    assert result.url == f"https://bsky.app/profile/{DID}/post/{record_key('d-1')}"


async def test_a_second_publish_of_the_same_key_returns_the_first_post(
    platform: FakeBluesky, adapter
) -> None:
    first = await adapter.publish(request(platform, "d-2"), Checkpoints())
    again = await adapter.publish(request(platform, "d-2", "edited later"), Checkpoints())
    assert again.external_id == first.external_id
    assert len(platform.live_posts()) == 1
    assert platform.posts[first.external_id].text == "Fresh roast"


async def test_a_real_server_error_stays_transient(platform: FakeBluesky, adapter) -> None:
    platform.inject(Fault.server_error)
    with pytest.raises(TransientError):
        await adapter.publish(request(platform, "d-3"), Checkpoints())
    assert platform.live_posts() == []


async def test_find_existing(platform: FakeBluesky, adapter) -> None:
    assert await adapter.find_existing(request(platform, "d-4")) is None
    published = await adapter.publish(request(platform, "d-4"), Checkpoints())
    found = await adapter.find_existing(request(platform, "d-4"))
    assert found is not None and found.external_id == published.external_id


# -- facets ----------------------------------------------------------------------------


async def test_facets_use_utf8_byte_offsets(platform: FakeBluesky, adapter) -> None:
    text = "Café ☕🇫🇷 crème brûlée: https://example.com/menu?x=1, ask @bob.test #Rösti!"
    result = await adapter.publish(request(platform, "f-1", text), Checkpoints())
    record = platform.posts[result.external_id].extra["record"]
    encoded = text.encode()
    found = {
        facet["features"][0]["$type"].split("#")[1]: (
            encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode(),
            facet["features"][0],
        )
        for facet in record["facets"]
    }
    assert found["link"] == (
        "https://example.com/menu?x=1",
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/menu?x=1"},
    )
    assert found["mention"] == (
        "@bob.test",
        {"$type": "app.bsky.richtext.facet#mention", "did": KNOWN_HANDLES["bob.test"]},
    )
    assert found["tag"] == ("#Rösti", {"$type": "app.bsky.richtext.facet#tag", "tag": "Rösti"})
    # Character offsets would be wrong: the text before the link is not ASCII.
    assert record["facets"][0]["index"]["byteStart"] != text.index("https")


async def test_an_unknown_handle_gets_no_facet(platform: FakeBluesky, adapter) -> None:
    text = "Thanks @nobody.example.org and @bob.test"
    result = await adapter.publish(request(platform, "f-2", text), Checkpoints())
    facets = platform.posts[result.external_id].extra["record"]["facets"]
    assert [facet["features"][0]["$type"] for facet in facets] == [
        "app.bsky.richtext.facet#mention"
    ]
    assert text.encode()[facets[0]["index"]["byteStart"] :].decode() == "@bob.test"


def test_spans_skip_emails_url_fragments_and_numbers() -> None:
    text = "mail me@example.com, see https://x.org/#top and https://x.org/@bob.test #2024 #ok."
    spans = [(span.kind, span.value) for span in find_spans(text)]
    assert spans == [
        ("link", "https://x.org/#top"),
        ("link", "https://x.org/@bob.test"),
        ("tag", "ok"),
    ]


async def test_langs_from_the_channel_settings(platform: FakeBluesky, adapter) -> None:
    publish = request(platform, "l-1", limits={"langs": ["fr", "en"]})
    result = await adapter.publish(publish, Checkpoints())
    assert platform.posts[result.external_id].extra["record"]["langs"] == ["fr", "en"]


# -- sessions ----------------------------------------------------------------------------


async def test_a_stored_session_is_reused(platform: FakeBluesky, adapter) -> None:
    login = await adapter.verify(credentials(platform))
    stored = login.refreshed_credentials
    assert stored is not None and stored["did"] == DID
    assert stored["app_password"] == APP_PASSWORD
    platform.requests.clear()
    result = await adapter.publish(request(platform, "s-1", credentials=stored), Checkpoints())
    assert CREATE_SESSION not in platform.requests
    assert result.refreshed_credentials is None  # nothing changed, nothing to store


async def test_an_expired_access_token_is_refreshed_and_the_call_retried(
    platform: FakeBluesky, adapter
) -> None:
    stored = (await adapter.verify(credentials(platform))).refreshed_credentials
    assert stored is not None
    platform.expired_access.add(stored["access_jwt"])
    platform.requests.clear()
    result = await adapter.publish(request(platform, "s-2", credentials=stored), Checkpoints())
    assert REFRESH_SESSION in platform.requests and CREATE_SESSION not in platform.requests
    assert platform.requests.count(CREATE_RECORD) == 2
    assert result.external_id in platform.posts
    renewed = result.refreshed_credentials
    assert renewed is not None
    assert renewed["access_jwt"] != stored["access_jwt"]
    assert renewed["refresh_jwt"] != stored["refresh_jwt"]


async def test_a_refused_refresh_logs_in_again_with_the_app_password(
    platform: FakeBluesky, adapter
) -> None:
    stale = credentials(platform, access_jwt="eyJ.old.one", refresh_jwt="eyJ.old.refresh", did=DID)
    platform.requests.clear()
    result = await adapter.publish(request(platform, "s-3", credentials=stale), Checkpoints())
    assert platform.requests.index(REFRESH_SESSION) < platform.requests.index(CREATE_SESSION)
    assert result.refreshed_credentials is not None
    assert result.refreshed_credentials["access_jwt"] in platform.access_tokens


async def test_a_refused_app_password_means_expired_credentials(
    platform: FakeBluesky, adapter
) -> None:
    wrong = credentials(platform, app_password="zzzz-zzzz-zzzz-zzzz")
    with pytest.raises(CredentialsExpiredError) as expired:
        await adapter.verify(wrong)
    assert "Invalid identifier or password" in expired.value.message


async def test_a_missing_credential_is_named(platform: FakeBluesky, adapter) -> None:
    with pytest.raises(PermanentError) as missing:
        await adapter.verify({"pds_url": platform.url, "identifier": HANDLE})
    assert "app_password" in missing.value.message
    assert platform.requests == []


async def test_verify_reads_the_profile(platform: FakeBluesky, adapter) -> None:
    account = await adapter.verify(credentials(platform))
    assert (account.handle, account.display_name) == (HANDLE, DISPLAY_NAME)


# -- media and link cards ------------------------------------------------------------------


async def test_images_carry_alt_and_aspect_ratio(
    platform: FakeBluesky, adapter, tmp_path: Path
) -> None:
    item = picture(tmp_path, 40, 30)
    result = await adapter.publish(request(platform, "m-1", media=(item,)), Checkpoints())
    embed = platform.posts[result.external_id].extra["record"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    (image,) = embed["images"]
    assert image["alt"] == "Beans on a tray"
    assert image["aspectRatio"] == {"width": 40, "height": 30}
    assert image["image"]["mimeType"] == "image/png"


async def test_a_retry_resumes_from_the_checkpointed_blobs(
    platform: FakeBluesky, adapter, tmp_path: Path
) -> None:
    item = picture(tmp_path)
    checkpoints = Checkpoints()
    platform.inject(Fault.server_error)
    with pytest.raises(TransientError):
        await adapter.publish(request(platform, "m-2", media=(item,)), checkpoints)
    saved = checkpoints.saved[-1]
    assert saved["rkey"] == record_key("m-2") and len(saved["blobs"]) == 1
    platform.requests.clear()
    retry = request(platform, "m-2", media=(item,), checkpoint=saved)
    result = await adapter.publish(retry, Checkpoints())
    assert UPLOAD_BLOB not in platform.requests
    assert platform.posts[result.external_id].media[0]["image"] == saved["blobs"][0]["blob"]


async def test_a_late_retry_uploads_again_when_the_pds_dropped_the_blobs(
    platform: FakeBluesky, adapter, tmp_path: Path
) -> None:
    item = picture(tmp_path)
    checkpoints = Checkpoints()
    platform.inject(Fault.server_error)
    with pytest.raises(TransientError):
        await adapter.publish(request(platform, "m-4", media=(item,)), checkpoints)
    platform.blobs.clear()  # never referenced, garbage-collected by the PDS
    platform.requests.clear()
    retry = request(platform, "m-4", media=(item,), checkpoint=checkpoints.saved[-1])
    result = await adapter.publish(retry, Checkpoints())
    assert platform.requests.count(UPLOAD_BLOB) == 1
    assert platform.posts[result.external_id].media[0]["alt"] == "Beans on a tray"


async def test_video_is_refused_clearly(platform: FakeBluesky, adapter, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    item = MediaItem(path=str(clip), mime_type="video/mp4", alt="A pour")
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request(platform, "m-3", media=(item,)), Checkpoints())
    assert "images" in refused.value.message
    assert platform.live_posts() == []


async def test_a_link_gets_a_card_from_the_pages_open_graph_tags(
    platform: FakeBluesky, adapter
) -> None:
    link = f"{platform.url}/page"
    result = await adapter.publish(request(platform, "c-1", link=link), Checkpoints())
    embed = platform.posts[result.external_id].extra["record"]["embed"]
    assert embed == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": link,
            "title": "Autumn roast & more",
            "description": "Our new beans, tasted.",
        },
    }


async def test_an_unreadable_link_still_gets_a_card(platform: FakeBluesky, adapter) -> None:
    link = f"{platform.url}/no-such-page"
    result = await adapter.publish(request(platform, "c-2", link=link), Checkpoints())
    external = platform.posts[result.external_id].extra["record"]["embed"]["external"]
    assert external == {"uri": link, "title": link, "description": ""}


async def test_media_wins_over_the_link_card(
    platform: FakeBluesky, adapter, tmp_path: Path
) -> None:
    publish = request(platform, "c-3", media=(picture(tmp_path),), link=f"{platform.url}/page")
    result = await adapter.publish(publish, Checkpoints())
    embed = platform.posts[result.external_id].extra["record"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"


# -- metrics and take-down --------------------------------------------------------------


async def test_metrics(platform: FakeBluesky, adapter) -> None:
    result = await adapter.publish(request(platform, "x-1"), Checkpoints())
    platform.metrics[result.external_id] = {
        "likeCount": 7,
        "repostCount": 2,
        "replyCount": 3,
        "quoteCount": 1,
    }
    metrics = await adapter.fetch_metrics(credentials(platform), result.external_id)
    assert (metrics.likes, metrics.reposts, metrics.replies, metrics.views) == (7, 3, 3, None)


async def test_take_down_of_something_else_is_refused(platform: FakeBluesky, adapter) -> None:
    with pytest.raises(PermanentError) as refused:
        await adapter.take_down(credentials(platform), "https://bsky.app/profile/x/post/y")
    assert "at://" in refused.value.message
