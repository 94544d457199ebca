"""One contract suite, run against every adapter and its platform on 127.0.0.1.

A network joins by adding ``tests/contract/platforms/<network>.py`` with a
``case(platform_url)`` function (see ``harness.py``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

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
from tests.contract import platforms
from tests.contract.harness import PNG, ContractCase, Fault, adapter_client, no_checkpoint

# Modules starting with "_" are helpers shared by several platforms.
NETWORKS = sorted(
    m.name for m in pkgutil.iter_modules(platforms.__path__) if not m.name.startswith("_")
)


@pytest.fixture(scope="module", params=NETWORKS)
def case(request: pytest.FixtureRequest) -> Iterator[ContractCase]:
    module = importlib.import_module(f"tests.contract.platforms.{request.param}")
    platform = module.make_platform()
    platform.start()
    try:
        yield module.case(platform)
    finally:
        platform.stop()


@pytest.fixture
async def adapter(case: ContractCase) -> AsyncIterator[object]:
    async with adapter_client(case.platform) as http:
        yield case.make_adapter(http)


@pytest.fixture(autouse=True)
def no_secret_in_logs(case: ContractCase, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test of the suite doubles as a log check: no secret in any captured line."""
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    for secret in case.secrets:
        assert secret not in text, f"{case.network}: a secret was logged"


def request_for(case: ContractCase, text: str, key: str, **kwargs: object) -> PublishRequest:
    if case.requires_media:
        kwargs.setdefault("media", (media(case),))
    return PublishRequest(
        idempotency_key=key,
        text=text,
        credentials=case.credentials,
        limits=case.limits,
        channel_id="contract",
        **kwargs,  # type: ignore[arg-type]
    )


def media(case: ContractCase) -> MediaItem:
    if case.media_item is not None:
        return case.media_item(PNG)
    return MediaItem(path=PNG, mime_type=case.media_mime_type, alt="A cup of coffee")


async def test_verify_returns_the_account(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    account = await adapter.verify(case.credentials)
    assert account.handle == case.handle


async def test_publish_text(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request_for(case, "Hello from Almanac", "k-text"), no_checkpoint)
    assert result.external_id in case.platform.posts
    assert "Hello from Almanac" in case.platform.posts[result.external_id].text
    assert len(case.platform.live_posts()) == 1


async def test_publish_with_media_and_alt_text(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    item = media(case)
    result = await adapter.publish(
        request_for(case, "New roast", "k-media", media=(item,)), no_checkpoint
    )
    post = case.platform.posts[result.external_id]
    assert len(post.media) == 1
    if item.alt:
        assert post.media[0].get("alt") == item.alt


async def test_take_down(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    result = await adapter.publish(request_for(case, "Oops", "k-down"), no_checkpoint)
    if not case.supports_take_down:
        with pytest.raises(PermanentError) as refused:
            await adapter.take_down(case.credentials, result.external_id)
        assert refused.value.message
        return
    await adapter.take_down(case.credentials, result.external_id)
    assert case.platform.posts[result.external_id].deleted


async def test_expired_credentials(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    case.platform.inject(Fault.expired)
    with pytest.raises(CredentialsExpiredError):
        await adapter.publish(request_for(case, "Hi", "k-expired"), no_checkpoint)
    assert case.platform.live_posts() == []


async def test_rate_limit_names_the_reset(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    case.platform.inject(Fault.rate_limited)
    with pytest.raises(RateLimitedError) as limited:
        await adapter.publish(request_for(case, "Hi", "k-429"), no_checkpoint)
    reset = case.platform.rate_limit_reset
    assert reset is not None, "the platform must record the reset it named"
    assert abs((limited.value.until - reset).total_seconds()) <= 1.5
    assert limited.value.until > datetime.now(UTC)
    assert case.platform.live_posts() == []


async def test_validation_error_is_permanent_with_the_networks_words(
    case: ContractCase,
    adapter,  # type: ignore[no-untyped-def]
) -> None:
    case.platform.inject(Fault.validation)
    with pytest.raises(PermanentError) as refused:
        await adapter.publish(request_for(case, "Hi", "k-422"), no_checkpoint)
    assert case.platform.validation_message in refused.value.message
    assert not isinstance(refused.value, TransientError)


async def test_server_error_is_transient(case: ContractCase, adapter) -> None:  # type: ignore[no-untyped-def]
    case.platform.inject(Fault.server_error)
    with pytest.raises(TransientError):
        await adapter.publish(request_for(case, "Hi", "k-500"), no_checkpoint)


async def test_timeout_is_transient_and_the_retry_never_duplicates(
    case: ContractCase,
    adapter,  # type: ignore[no-untyped-def]
) -> None:
    """The post is created but the answer comes too late. Where the key is honoured
    (window None or > 0) the same request again yields the same post; where it is
    not, the adapter must find the post, or say it cannot (the publisher then marks
    the delivery `uncertain` instead of retrying)."""
    case.platform.inject(Fault.timeout)
    request = request_for(case, "Only once", "k-timeout")
    with pytest.raises(TransientError):
        await adapter.publish(request, no_checkpoint)
    await _wait_for_post(case)
    window = adapter.idempotency_window
    if window is None or window > timedelta(0):
        result = await adapter.publish(request, no_checkpoint)
        assert result.external_id in case.platform.posts
    else:
        try:
            found = await adapter.find_existing(request)
        except LookupUnsupported:
            found = None
        else:
            assert found is not None and found.external_id in case.platform.posts
    assert len(case.platform.live_posts()) == 1


async def _wait_for_post(case: ContractCase) -> None:
    import asyncio

    for _ in range(100):
        if case.platform.posts:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the platform never created the timed-out post")
