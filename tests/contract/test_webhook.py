"""The generic webhook beyond the shared suite: what the receiver gets (signature,
headers, body), ids, take-down only when enabled, the guard on user-given URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.net.outbound import new_client
from app.networks import webhook
from app.networks.base import (
    CredentialsExpiredError,
    LookupUnsupported,
    MediaItem,
    Metrics,
    PermanentError,
    PublishRequest,
)
from app.networks.webhook import WebhookAdapter
from app.notifications.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    sign,
    verify_signature,
)
from tests.contract.harness import (
    CLIENT_TIMEOUT,
    PNG,
    adapter_client,
    no_checkpoint,
    platform_fixture,
)
from tests.contract.platforms.webhook import SECRET, FakeReceiver

platform = platform_fixture(FakeReceiver)


@pytest.fixture
async def adapter(platform: FakeReceiver) -> AsyncIterator[WebhookAdapter]:
    async with adapter_client(platform) as http:
        yield WebhookAdapter(http)


def credentials(platform: FakeReceiver, **extra: Any) -> dict[str, Any]:
    return {"url": f"{platform.url}/hooks/almanac", "secret": SECRET, **extra}


def _sent_body(event: dict[str, Any]) -> bytes:
    """The bytes the adapter sent for ``event`` (compact JSON, in its key order)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def request(platform: FakeReceiver, key: str, **kwargs: Any) -> PublishRequest:
    return PublishRequest(
        idempotency_key=key,
        text="Open late on Friday",
        credentials=kwargs.pop("credentials", credentials(platform)),
        channel_id="chan-1",
        **kwargs,
    )


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"type":"ping"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body, 1700000000) == f"t=1700000000,v1={expected}"


def test_the_adapter_signs_with_the_notification_webhooks_code() -> None:
    # One signing implementation (app.notifications.webhooks), not a second copy
    # with its arguments in another order.
    assert not hasattr(webhook, "sign")
    assert webhook.signing.sign is sign


async def test_the_receiver_gets_a_signed_event_with_the_key(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(
        request(platform, "delivery-42", link="https://cafe.example"), no_checkpoint
    )
    assert result.external_id == "rcv-1"
    assert result.url == "https://intranet.example/news/rcv-1"
    (event,) = platform.events
    (headers,) = platform.headers
    assert headers["idempotency-key"] == "delivery-42"
    assert headers["almanac-event-type"] == "post.published"
    assert headers["almanac-event-id"] == "delivery-42"
    assert headers["content-type"] == "application/json"
    assert headers[EVENT_TYPE_HEADER.lower()] == "post.published"
    assert headers[EVENT_ID_HEADER.lower()] == "delivery-42"
    # The receiver checked the signature; the notification webhooks' check agrees.
    verify_signature(SECRET, headers[SIGNATURE_HEADER.lower()], _sent_body(event))
    assert event["type"] == "post.published" and event["id"] == "delivery-42"
    assert event["channel_id"] == "chan-1"
    assert event["post"] == {
        "text": "Open late on Friday",
        "link": "https://cafe.example",
        "media": [],
    }


async def test_without_an_id_in_the_answer_the_key_is_the_id(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    platform.answer_with_id = False
    result = await adapter.publish(request(platform, "delivery-7"), no_checkpoint)
    assert result.external_id == "delivery-7" and result.url is None


async def test_a_wrong_secret_is_refused_as_expired_credentials(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    wrong = credentials(platform, secret="not-the-secret")
    with pytest.raises(CredentialsExpiredError, match="secret"):
        await adapter.publish(request(platform, "k", credentials=wrong), no_checkpoint)
    assert platform.posts == {}


async def test_verify_sends_a_ping(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    account = await adapter.verify(credentials(platform))
    assert account.handle == "127.0.0.1"
    assert [e["type"] for e in platform.events] == ["ping"]


async def test_take_down_without_deletions_says_so_and_sends_nothing(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-keep"), no_checkpoint)
    sent = len(platform.events)
    with pytest.raises(PermanentError, match="does not send deletions"):
        await adapter.take_down(credentials(platform), result.external_id)
    assert len(platform.events) == sent
    assert not platform.posts[result.external_id].deleted


async def test_take_down_sends_a_deleted_event_with_a_stable_key(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request(platform, "k-del"), no_checkpoint)
    enabled = credentials(platform, send_deletions="true")
    await adapter.take_down(enabled, result.external_id)
    await adapter.take_down(enabled, result.external_id)  # a retry: same event, same key
    deleted = [e for e in platform.events if e["type"] == "post.deleted"]
    assert [e["post_id"] for e in deleted] == [result.external_id] * 2
    assert deleted[0]["id"] == deleted[1]["id"]
    assert platform.headers[-1]["idempotency-key"] == deleted[0]["id"]


async def test_media_goes_by_its_public_url(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    without_url = MediaItem(path=PNG, mime_type="image/png", alt="Beans")
    with pytest.raises(PermanentError, match="media by URL"):
        await adapter.publish(request(platform, "k-m", media=(without_url,)), no_checkpoint)
    assert platform.events == []
    item = MediaItem(PNG, "image/png", "Beans", public_url="https://a.example/m/1?sig=abc")
    result = await adapter.publish(request(platform, "k-m2", media=(item,)), no_checkpoint)
    assert platform.posts[result.external_id].media == [
        {"url": "https://a.example/m/1?sig=abc", "mime_type": "image/png", "alt": "Beans"}
    ]


async def test_private_addresses_are_refused_by_the_guarded_client(platform) -> None:  # type: ignore[no-untyped-def]
    platform.reset()
    async with new_client(allow_private=False, timeout=CLIENT_TIMEOUT) as http:
        with pytest.raises(PermanentError, match="loopback"):
            await WebhookAdapter(http).publish(request(platform, "k-ssrf"), no_checkpoint)
    assert platform.requests == []


@pytest.mark.parametrize(
    ("given", "named"),
    [({"secret": SECRET}, "url"), ({"url": "http://127.0.0.1:9/x"}, "secret")],
)
async def test_missing_credential_is_named(adapter, given, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentError) as refused:
        await adapter.verify(given)
    assert named in refused.value.message and SECRET not in refused.value.message


async def test_no_metrics_and_no_lookup(platform, adapter) -> None:  # type: ignore[no-untyped-def]
    assert await adapter.fetch_metrics(credentials(platform), "rcv-1") == Metrics()
    with pytest.raises(LookupUnsupported):
        await adapter.find_existing(request(platform, "k"))
