"""The sandbox network: a local outbox behind the same Protocol as every real network."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db import Database
from app.models import SandboxPost
from app.networks import (
    AdapterContext,
    NetworkUnavailable,
    available_networks,
    get_adapter,
)
from app.networks.base import (
    AccountInfo,
    CredentialsExpiredError,
    MediaItem,
    Metrics,
    Network,
    NetworkAdapter,
    NetworkError,
    PermanentError,
    PublishRequest,
    PublishResult,
    RateLimitedError,
    TransientError,
)
from app.networks.sandbox import SANDBOX_LIMITS, SandboxAdapter
from tests.factories import make_channel

BASE_URL = "http://testserver"


@pytest.fixture
def adapter(database: Database) -> SandboxAdapter:
    return SandboxAdapter(database.write_session, BASE_URL)


@pytest.fixture
async def channel_id(database: Database) -> str:
    async with database.write_session() as session:
        channel = await make_channel(session, network=Network.sandbox)
        await session.commit()
    return str(channel.id)


class Checkpoints:
    """The publisher's checkpoint callback, recording what it is given."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def __call__(self, data: dict[str, Any]) -> None:
        self.saved.append(data)


def request(channel_id: str, **kw: Any) -> PublishRequest:
    values: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "text": "Hello from the sandbox",
        "credentials": {},
        "channel_id": channel_id,
    }
    values.update(kw)
    return PublishRequest(**values)


async def outbox(database: Database) -> list[SandboxPost]:
    async with database.read_session() as session:
        return list((await session.scalars(select(SandboxPost))).all())


async def outbox_count(database: Database) -> int:
    async with database.read_session() as session:
        return await session.scalar(select(func.count()).select_from(SandboxPost)) or 0


def test_the_sandbox_is_a_network_adapter(adapter: SandboxAdapter) -> None:
    assert isinstance(adapter, NetworkAdapter)
    assert adapter.network is Network.sandbox
    # The outbox refuses a second post with the same key for ever.
    assert adapter.idempotency_window is None


async def test_verify_returns_the_account_and_its_limits(adapter: SandboxAdapter) -> None:
    info = await adapter.verify({"handle": "@tryout"})
    assert isinstance(info, AccountInfo)
    assert info.handle == "@tryout"
    assert info.limits == SANDBOX_LIMITS == {"max_characters": 5000, "max_media": 10}
    assert (await adapter.verify({})).handle == "sandbox"
    # The limits handed out are a copy: a caller cannot change the network's own.
    info.limits["max_characters"] = 1
    assert SANDBOX_LIMITS["max_characters"] == 5000


async def test_verify_with_expired_credentials(adapter: SandboxAdapter) -> None:
    with pytest.raises(CredentialsExpiredError):
        await adapter.verify({"simulate": "expired"})


async def test_publish_writes_to_the_outbox(
    database: Database, adapter: SandboxAdapter, channel_id: str
) -> None:
    checkpoints = Checkpoints()
    publish = request(
        channel_id,
        text="December newsletter ✨",
        link="https://example.org/news",
        media=(MediaItem(path="ab/cd.png", mime_type="image/png", alt="A snowy street"),),
    )
    before = datetime.now(UTC)
    result = await adapter.publish(publish, checkpoints)

    assert isinstance(result, PublishResult)
    [row] = await outbox(database)
    assert result.external_id == str(row.id)
    assert result.url == f"{BASE_URL}/sandbox/posts/{row.id}"
    assert str(row.channel_id) == channel_id
    assert row.idempotency_key == publish.idempotency_key
    assert row.text == "December newsletter ✨"
    assert row.link == "https://example.org/news"
    assert row.media == [{"path": "ab/cd.png", "mime_type": "image/png", "alt": "A snowy street"}]
    assert row.removed_at is None
    assert row.published_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= row.published_at <= datetime.now(UTC)


async def test_publishing_twice_with_one_key_publishes_once(
    database: Database, adapter: SandboxAdapter, channel_id: str
) -> None:
    publish = request(channel_id)
    first = await adapter.publish(publish, Checkpoints())
    # A retry after a lost response: same key, maybe even edited text.
    second = await adapter.publish(
        request(channel_id, idempotency_key=publish.idempotency_key, text="x"), Checkpoints()
    )
    assert second == first
    assert await outbox_count(database) == 1
    # Another key is another post.
    third = await adapter.publish(request(channel_id), Checkpoints())
    assert third.external_id != first.external_id
    assert await outbox_count(database) == 2


async def test_concurrent_publishes_with_one_key_create_one_post(
    database: Database, adapter: SandboxAdapter, channel_id: str
) -> None:
    publish = request(channel_id)
    results = await asyncio.gather(*(adapter.publish(publish, Checkpoints()) for _ in range(3)))
    assert len({result.external_id for result in results}) == 1
    assert await outbox_count(database) == 1


async def test_a_lost_race_returns_the_winner(
    database: Database, adapter: SandboxAdapter, channel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both attempts pass the "already there?" check before either inserts: the unique
    key refuses the second insert and the loser answers with the winner's post."""
    original = adapter.find_existing
    arrived: list[None] = []
    both_checked = asyncio.Event()

    async def find_existing_together(req: PublishRequest) -> PublishResult | None:
        if len(arrived) < 2:
            arrived.append(None)
            if len(arrived) == 2:
                both_checked.set()
            await asyncio.wait_for(both_checked.wait(), timeout=5)
            return await original(req)
        return await original(req)

    monkeypatch.setattr(adapter, "find_existing", find_existing_together)
    publish = request(channel_id)
    first, second = await asyncio.gather(
        adapter.publish(publish, Checkpoints()), adapter.publish(publish, Checkpoints())
    )
    assert first == second
    assert await outbox_count(database) == 1


async def test_find_existing(adapter: SandboxAdapter, channel_id: str) -> None:
    publish = request(channel_id)
    assert await adapter.find_existing(publish) is None
    result = await adapter.publish(publish, Checkpoints())
    assert await adapter.find_existing(publish) == result
    assert await adapter.find_existing(request(channel_id)) is None


async def test_take_down_marks_the_post_removed(
    database: Database, adapter: SandboxAdapter, channel_id: str
) -> None:
    result = await adapter.publish(request(channel_id), Checkpoints())
    await adapter.take_down({}, result.external_id)
    [row] = await outbox(database)
    assert row.removed_at is not None and row.removed_at.tzinfo is not None
    assert abs(row.removed_at - datetime.now(UTC)) < timedelta(minutes=1)
    # Taking it down again changes nothing.
    await adapter.take_down({}, result.external_id)
    [again] = await outbox(database)
    assert again.removed_at == row.removed_at


@pytest.mark.parametrize("external_id", ["0b9e7d1c-2f7a-4d8e-9b64-6a1f0c3e5d21", "not-a-uuid"])
async def test_take_down_of_an_unknown_post(adapter: SandboxAdapter, external_id: str) -> None:
    with pytest.raises(PermanentError, match="sandbox"):
        await adapter.take_down({}, external_id)
    with pytest.raises(PermanentError, match="sandbox"):
        await adapter.fetch_metrics({}, external_id)


async def test_fetch_metrics(database: Database, adapter: SandboxAdapter, channel_id: str) -> None:
    result = await adapter.publish(request(channel_id), Checkpoints())
    metrics = await adapter.fetch_metrics({}, result.external_id)
    assert isinstance(metrics, Metrics)
    assert metrics == Metrics(likes=0, reposts=0, replies=0, views=0)

    # An hour later the figures have grown.
    async with database.write_session() as session:
        await session.execute(
            update(SandboxPost).values(
                published_at=datetime.now(UTC) - timedelta(minutes=60, seconds=10)
            )
        )
        await session.commit()
    metrics = await adapter.fetch_metrics({}, result.external_id)
    assert metrics == Metrics(likes=20, reposts=6, replies=3, views=420)


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("transient", TransientError),
        ("permanent", PermanentError),
        ("rate_limited", RateLimitedError),
        ("expired", CredentialsExpiredError),
        ("meteor", PermanentError),
    ],
)
async def test_simulated_failures_raise_typed_errors(
    database: Database,
    adapter: SandboxAdapter,
    channel_id: str,
    mode: str,
    error: type[NetworkError],
) -> None:
    with pytest.raises(error) as caught:
        await adapter.publish(request(channel_id, credentials={"simulate": mode}), Checkpoints())
    assert type(caught.value) is error
    assert caught.value.message and "sandbox" in caught.value.message
    if isinstance(caught.value, RateLimitedError):
        assert isinstance(caught.value, TransientError)  # the publisher retries it
        until = caught.value.until
        assert until.tzinfo is not None
        assert datetime.now(UTC) < until <= datetime.now(UTC) + timedelta(hours=1)
    if mode == "meteor":
        assert isinstance(caught.value, PermanentError) and caught.value.field == "simulate"
    assert await outbox_count(database) == 0


async def test_text_over_the_limit_is_refused(
    database: Database, adapter: SandboxAdapter, channel_id: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        await adapter.publish(request(channel_id, text="x" * 5001), Checkpoints())
    assert caught.value.field == "text"
    assert "5000" in caught.value.message
    assert await outbox_count(database) == 0
    # Exactly at the limit is fine.
    await adapter.publish(request(channel_id, text="é" * 5000), Checkpoints())
    assert await outbox_count(database) == 1


async def test_registry_builds_the_sandbox(database: Database, channel_id: str) -> None:
    assert Network.sandbox in available_networks()
    async with httpx.AsyncClient() as http:
        ctx = AdapterContext(http=http, sessions=database.write_session, base_url=BASE_URL)
        built = get_adapter(Network.sandbox, ctx)
        assert isinstance(built, SandboxAdapter)
        assert isinstance(built, NetworkAdapter)
        result = await built.publish(request(channel_id), Checkpoints())
        assert result.url is not None and result.url.startswith(f"{BASE_URL}/sandbox/posts/")


async def test_registry_refuses_a_network_without_adapter(database: Database) -> None:
    missing = [network for network in Network if network not in available_networks()]
    if not missing:
        pytest.skip("every network has an adapter now")
    network = missing[0]
    async with httpx.AsyncClient() as http:
        ctx = AdapterContext(http=http, sessions=database.write_session, base_url=BASE_URL)
        with pytest.raises(NetworkUnavailable) as caught:
            get_adapter(network, ctx)
    assert str(caught.value) == f"publishing to {network.value} is not available yet"
    assert isinstance(caught.value, LookupError)
