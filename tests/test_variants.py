"""Variants: inherit the base copy or have their own; content_hash follows what
would be published, not the schedule; own times; editing after a claim."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.db import Database, session_scope
from app.models import Delivery, DeliveryStatus, Role, Variant, utcnow
from app.networks.base import Network
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, create_post, error_fields, posts_url


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database, (Role.owner, Role.editor))


def by_channel(post: dict) -> dict[str, dict]:
    return {variant["channel_id"]: variant for variant in post["variants"]}


async def test_inherit_vs_own_text_and_content_hash(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    a = str(await add_channel(database, team, name="A"))
    b = str(await add_channel(database, team, name="B"))
    post = await create_post(client, team, body="Base copy", channels=[a, b])
    hashes = {cid: v["content_hash"] for cid, v in by_channel(post).items()}
    assert hashes[a] == hashes[b]  # both inherit the same content

    put = await client.put(
        posts_url(team, post["id"], "variants", b),
        json={"text": "Own copy for B"},
        headers={**team.owner, "If-Match": 'W/"1"'},
    )
    assert put.status_code == 200, put.text
    post = put.json()
    assert post["version"] == 2 and put.headers["etag"] == 'W/"2"'
    variants = by_channel(post)
    assert variants[b]["text"] == "Own copy for B"
    assert variants[b]["effective_text"] == "Own copy for B"
    assert variants[a]["content_hash"] == hashes[a]
    assert variants[b]["content_hash"] != hashes[b]

    # A change of the base copy changes the inheriting variant only.
    patched = await client.patch(
        posts_url(team, post["id"]), json={"body": "New base", "version": 2}, headers=team.owner
    )
    variants_after = by_channel(patched.json())
    assert variants_after[a]["content_hash"] != variants[a]["content_hash"]
    assert variants_after[a]["effective_text"] == "New base"
    assert variants_after[b]["content_hash"] == variants[b]["content_hash"]

    # Moving the post in time keeps every hash (approval is of content, not time).
    moved = await client.patch(
        posts_url(team, post["id"]),
        json={"local_at": "2026-12-04T10:00:00", "version": 3},
        headers=team.owner,
    )
    assert {c: v["content_hash"] for c, v in by_channel(moved.json()).items()} == {
        c: v["content_hash"] for c, v in variants_after.items()
    }

    # Back to inheriting: text null.
    inherit = await client.put(
        posts_url(team, post["id"], "variants", b),
        json={"text": None, "version": 4},
        headers=team.owner,
    )
    assert by_channel(inherit.json())[b]["effective_text"] == "New base"


async def test_put_creates_and_delete_removes_a_variant(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    a = str(await add_channel(database, team))
    post = await create_post(client, team)
    assert post["variants"] == []
    url = posts_url(team, post["id"], "variants", a)
    assert (await client.put(url, json={}, headers=team.owner)).status_code == 428
    created = await client.put(url, json={"version": 1}, headers=team.owner)
    assert created.status_code == 200 and len(created.json()["variants"]) == 1
    deleted = await client.delete(url, params={"version": 2}, headers=team.owner)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["variants"] == [] and deleted.json()["version"] == 3
    again = await client.delete(url, params={"version": 3}, headers=team.owner)
    assert again.status_code == 404


async def test_own_time_of_a_variant(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    a = str(await add_channel(database, team))
    post = await create_post(client, team, channels=[a])
    url = posts_url(team, post["id"], "variants", a)
    gap = await client.put(
        url, json={"local_at": "2026-03-29T02:15:00", "version": 1}, headers=team.owner
    )
    assert gap.status_code == 422 and error_fields(gap) == ["local_at"]
    own = await client.put(
        url, json={"local_at": "2026-12-03T18:00:00", "version": 1}, headers=team.owner
    )
    assert own.status_code == 200, own.text
    variant = own.json()["variants"][0]
    assert variant["local_at"] == "2026-12-03T18:00:00"
    assert variant["due_at"].startswith("2026-12-03T17:00:00")
    assert own.json()["due_at"].startswith("2026-12-03T08:30:00")


async def test_unknown_channel_or_media_is_refused(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    a = str(await add_channel(database, team))
    post = await create_post(client, team, channels=[a])
    missing = await client.put(
        posts_url(team, post["id"], "variants", str(uuid.uuid4())),
        json={"version": 1},
        headers=team.owner,
    )
    assert missing.status_code == 404
    media = await client.put(
        posts_url(team, post["id"], "variants", a),
        json={"version": 1, "media": [{"media_id": str(uuid.uuid4()), "alt": "x"}]},
        headers=team.owner,
    )
    assert media.status_code == 422
    assert error_fields(media) == [f"variants.{a}.media[0]"]


async def test_a_variant_being_sent_cannot_be_edited(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    a = str(await add_channel(database, team, name="A"))
    b = str(await add_channel(database, team, name="B", network=Network.x))
    post = await create_post(client, team, channels=[a, b])
    async with session_scope(database.write_session) as session:
        from sqlalchemy import select

        variant = await session.scalar(select(Variant).where(Variant.channel_id == uuid.UUID(a)))
        # The post's pending delivery (app.posts.deliveries), claimed by a scheduler.
        delivery = await session.scalar(select(Delivery).where(Delivery.variant_id == variant.id))
        delivery.status = DeliveryStatus.sending
        delivery.lease_owner = "scheduler-1"
        delivery.lease_expires_at = utcnow()
    refused = await client.put(
        posts_url(team, post["id"], "variants", a),
        json={"text": "Too late", "version": 1},
        headers=team.owner,
    )
    assert refused.status_code == 409
    assert "being published" in refused.json()["detail"]
    other = await client.put(
        posts_url(team, post["id"], "variants", b),
        json={"text": "Still fine", "version": 1},
        headers=team.owner,
    )
    assert other.status_code == 200, other.text


async def add_media(database: Database, team: Team, **kw: object) -> str:
    import hashlib

    from app.models import Media

    async with session_scope(database.write_session) as session:
        media = Media(
            workspace_id=team.workspace_id,
            sha256=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
            filename="photo.png",
            mime_type="image/png",
            size_bytes=2048,
            width=800,
            height=600,
            alt="",
            **kw,
        )
        session.add(media)
        await session.flush()
        return str(media.id)


async def test_channel_limits_and_warnings_from_the_network_rules(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    # A Mastodon instance with its own, smaller, character limit.
    small = str(
        await add_channel(
            database, team, network=Network.mastodon, name="Small", limits={"max_characters": 50}
        )
    )
    refused = await client.post(
        posts_url(team),
        json={
            "title": "T",
            "body": "b" * 60,
            "local_at": "2026-12-03T09:00:00",
            "channels": [small],
        },
        headers=team.owner,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["network"] == "mastodon"
    assert "50" in refused.json()["errors"][0]["message"]

    # Media without alt text: accepted, with a warning naming the channel.
    photo = await add_media(database, team)
    saved = await create_post(
        client, team, body="Short", channels=[small], media=[{"media_id": photo, "alt": ""}]
    )
    warnings = saved["warnings"]
    assert warnings, saved
    assert {w["channel_id"] for w in warnings} == {small}
    assert all(w["level"] == "warning" and w["network"] == "mastodon" for w in warnings)
    assert any("alt" in w["field"] or "alt" in w["message"].lower() for w in warnings)
    # With alt text the warning is gone, and the hash changes (alt text is published).
    fixed = await client.patch(
        posts_url(team, saved["id"]),
        json={"media": [{"media_id": photo, "alt": "A red bicycle"}], "version": 1},
        headers=team.owner,
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["warnings"] == []
    assert fixed.json()["variants"][0]["content_hash"] != saved["variants"][0]["content_hash"]


async def test_media_of_another_workspace_is_refused(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other = await make_team(database, (Role.owner,))
    foreign = await add_media(database, other)
    response = await client.post(
        posts_url(team),
        json={
            "title": "T",
            "local_at": "2026-12-03T09:00:00",
            "media": [{"media_id": foreign, "alt": "x"}],
        },
        headers=team.owner,
    )
    assert response.status_code == 422
    assert error_fields(response) == ["media[0]"]
