"""The demo workspace: every status present, constraints respected, idempotent."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.crypto import CredentialBox
from app.db import Database
from app.demo import (
    DEMO_CHANNEL_MESSAGE,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_SLUG,
    DemoSummary,
    load_demo,
)
from app.models import (
    LIVE_STATUSES,
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    Label,
    Membership,
    Plan,
    PlanKind,
    Post,
    PostStatus,
    Role,
    SandboxPost,
    User,
    Variant,
    Workspace,
)
from app.networks.base import Network
from app.posts.content import content_hash, effective_content
from app.settings import Settings
from app.timeutil import to_local, to_utc

TODAY = date(2026, 6, 17)
NOW = to_utc(datetime(2026, 6, 17, 12, 0), "Europe/Paris")
ALL_BUT_SENDING = {status.value for status in DeliveryStatus} - {"sending"}


async def _workspace(database: Database) -> Workspace:
    async with database.read_session() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
    assert workspace is not None
    return workspace


async def _posts(database: Database, workspace: Workspace) -> list[Post]:
    async with database.read_session() as session:
        return list(
            await session.scalars(
                select(Post)
                .where(Post.workspace_id == workspace.id)
                .options(selectinload(Post.variants), selectinload(Post.labels))
            )
        )


async def _deliveries(database: Database, workspace: Workspace) -> list[Delivery]:
    async with database.read_session() as session:
        return list(
            await session.scalars(select(Delivery).where(Delivery.workspace_id == workspace.id))
        )


async def _channels(database: Database, workspace: Workspace) -> dict[str, Channel]:
    async with database.read_session() as session:
        rows = await session.scalars(select(Channel).where(Channel.workspace_id == workspace.id))
        return {channel.network: channel for channel in rows}


def _hash_of(post: Post, variant: Variant) -> str:
    return content_hash(
        effective_content(
            base_text=post.body,
            base_media=post.media,
            base_link=post.link,
            text=variant.text,
            media=variant.media,
            link=variant.link,
        )
    )


async def test_load_demo_creates_a_full_workspace(database: Database, settings: Settings) -> None:
    summary = await load_demo(database, settings, today=TODAY)
    assert summary.created is True
    assert (summary.workspace_name, summary.workspace_slug) == ("Northwind Coffee", "demo")
    assert 35 <= summary.total_posts <= 45
    assert all(summary.posts[status.value] > 0 for status in PostStatus)
    assert {s for s, n in summary.deliveries.items() if n} == ALL_BUT_SENDING
    assert (summary.users, summary.channels, summary.plans) == (4, 6, 2)
    assert summary.labels >= 4
    assert (summary.email, summary.password) == (DEMO_EMAIL, DEMO_PASSWORD)

    workspace = await _workspace(database)
    assert workspace.timezone == "Europe/Paris"
    assert workspace.approval_required and workspace.approvals_needed == 1
    assert workspace.lateness_limit_minutes == 60

    posts = await _posts(database, workspace)
    assert len(posts) == summary.total_posts
    assert {post.status for post in posts} == set(PostStatus)
    deliveries = await _deliveries(database, workspace)
    assert {d.status for d in deliveries} == ALL_BUT_SENDING
    assert len(deliveries) == summary.total_deliveries


async def test_users_roles_and_password(database: Database, settings: Settings) -> None:
    from argon2 import PasswordHasher

    await load_demo(database, settings, today=TODAY)
    workspace = await _workspace(database)
    async with database.read_session() as session:
        rows = (
            await session.execute(
                select(User, Membership.role)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.workspace_id == workspace.id)
            )
        ).all()
    roles = {role: user for user, role in rows}
    assert set(roles) == {Role.owner, Role.editor, Role.reviewer, Role.viewer}
    owner = roles[Role.owner]
    assert (owner.email, owner.display_name) == (DEMO_EMAIL, "Dana Demo")
    assert owner.password_hash is not None
    assert PasswordHasher().verify(owner.password_hash, DEMO_PASSWORD)
    assert all(roles[role].password_hash is None for role in roles if role != Role.owner)


async def test_plans_cover_the_month_and_quarter(database: Database, settings: Settings) -> None:
    await load_demo(database, settings, today=TODAY)
    workspace = await _workspace(database)
    async with database.read_session() as session:
        plans = {
            plan.kind: plan
            for plan in await session.scalars(select(Plan).where(Plan.workspace_id == workspace.id))
        }
        label_ids = {
            str(label_id)
            for label_id in await session.scalars(
                select(Label.id).where(Label.workspace_id == workspace.id)
            )
        }
    month, quarter = plans[PlanKind.month], plans[PlanKind.quarter]
    assert (month.period, month.starts_on, month.ends_on) == (
        "2026-06",
        date(2026, 6, 1),
        date(2026, 6, 30),
    )
    assert (quarter.period, quarter.starts_on, quarter.ends_on) == (
        "2026-Q2",
        date(2026, 4, 1),
        date(2026, 6, 30),
    )
    # Every ISO week touching June 2026 (W23 starts on 1 June, W27 holds 30 June).
    assert [theme["week"] for theme in month.themes] == [f"2026-W{w}" for w in range(23, 28)]
    assert all(theme["theme"] for theme in month.themes)
    assert set(month.mix_targets) == label_ids
    assert sum(month.mix_targets.values()) == 100
    assert month.cadence_targets["sandbox"] > 0
    assert month.goals


async def test_channels_sandbox_connected_real_networks_expired(
    database: Database, settings: Settings
) -> None:
    await load_demo(database, settings, today=TODAY)
    channels = await _channels(database, await _workspace(database))
    assert {
        Network.sandbox,
        Network.mastodon,
        Network.bluesky,
        Network.x,
        Network.linkedin,
        Network.instagram,
    } <= set(channels)
    sandbox = channels.pop(Network.sandbox)
    assert sandbox.status == ChannelStatus.connected
    assert sandbox.credentials_encrypted is not None
    box = CredentialBox(settings.encryption_keys)
    assert box.open(sandbox.credentials_encrypted) == {"handle": "northwind-sandbox"}
    for channel in channels.values():
        assert channel.status == ChannelStatus.expired
        assert channel.status_message == DEMO_CHANNEL_MESSAGE
        assert channel.credentials_encrypted is None


async def test_posts_times_plans_labels_and_copy(database: Database, settings: Settings) -> None:
    await load_demo(database, settings, today=TODAY)
    workspace = await _workspace(database)
    async with database.read_session() as session:
        month = await session.scalar(
            select(Plan).where(Plan.workspace_id == workspace.id, Plan.kind == PlanKind.month)
        )
    assert month is not None
    channels = {c.id: c.network for c in (await _channels(database, workspace)).values()}
    for post in await _posts(database, workspace):
        assert post.author_id is not None
        assert post.labels
        assert 1 <= len(post.variants) <= 4
        if post.status == PostStatus.idea:
            assert post.local_at is None and post.due_at is None and post.plan_id is None
        else:
            assert post.local_at is not None and post.due_at is not None
            assert post.plan_id == month.id
            local = to_local(post.due_at, "Europe/Paris")
            assert month.starts_on <= local.date() <= month.ends_on
            assert local.replace(tzinfo=None) == post.local_at
            assert 8 <= post.local_at.hour <= 21
            assert post.due_at == to_utc(post.local_at, "Europe/Paris")
        for variant in post.variants:
            assert variant.content_hash == _hash_of(post, variant)
            text = post.body if variant.text is None else variant.text
            network = channels[variant.channel_id]
            limit = {Network.x: 280, Network.bluesky: 300, Network.mastodon: 500}.get(network)
            if limit:
                assert len(text) <= limit, (post.title, network)
            if network == Network.instagram:
                assert "#" in text
    variants = [v for post in await _posts(database, workspace) for v in post.variants]
    assert any(v.text is None for v in variants)
    assert any(v.text is not None for v in variants)


async def test_approval_state_and_the_edited_post(database: Database, settings: Settings) -> None:
    await load_demo(database, settings, today=TODAY)
    posts = await _posts(database, await _workspace(database))
    for post in posts:
        if post.status == PostStatus.approved:
            assert all(v.approved_hash == v.content_hash for v in post.variants), post.title
    edited = [
        post
        for post in posts
        if any(
            v.approved_hash is not None and v.approved_hash != v.content_hash for v in post.variants
        )
    ]
    assert len(edited) == 1
    post = edited[0]
    assert post.status == PostStatus.in_review
    stale = [v for v in post.variants if v.approved_hash != v.content_hash]
    assert len(stale) == 1
    assert any(v.approved_hash == v.content_hash for v in post.variants)


async def test_deliveries_are_consistent(database: Database, settings: Settings) -> None:
    await load_demo(database, settings, today=TODAY)
    workspace = await _workspace(database)
    posts = {post.id: post for post in await _posts(database, workspace)}
    variants = {v.id: v for post in posts.values() for v in post.variants}
    deliveries = await _deliveries(database, workspace)
    channels = await _channels(database, workspace)
    sandbox = channels[Network.sandbox]

    per_variant: dict[object, int] = {}
    for d in deliveries:
        if d.status in LIVE_STATUSES:
            per_variant[d.variant_id] = per_variant.get(d.variant_id, 0) + 1
        variant = variants[d.variant_id]
        post = posts[d.post_id]
        assert variant.post_id == post.id and variant.channel_id == d.channel_id
        assert d.due_at == post.due_at
        assert d.lease_owner is None and d.lease_expires_at is None
        if d.status in (DeliveryStatus.published, DeliveryStatus.removed):
            assert d.published_at is not None and d.published_at >= d.due_at
            assert d.external_id and d.external_url
            assert d.published_content_hash == variant.content_hash
            assert d.due_at < NOW
        if d.status == DeliveryStatus.pending:
            assert d.due_at > NOW and d.next_attempt_at == d.due_at
        if d.status == DeliveryStatus.retrying:
            assert d.attempts > 0 and d.next_attempt_at > NOW and d.last_error
            assert NOW - timedelta(hours=1) < d.due_at < NOW
        if d.status in (DeliveryStatus.failed, DeliveryStatus.missed, DeliveryStatus.uncertain):
            assert d.last_error and d.due_at < NOW
        if d.status == DeliveryStatus.published:
            assert post.status == PostStatus.approved
    assert set(per_variant.values()) == {1}

    # Published sandbox deliveries are in the sandbox outbox.
    async with database.read_session() as session:
        outbox = {
            str(row.id): row
            for row in await session.scalars(
                select(SandboxPost).where(SandboxPost.channel_id == sandbox.id)
            )
        }
    on_sandbox = [
        d
        for d in deliveries
        if d.channel_id == sandbox.id
        and d.status in (DeliveryStatus.published, DeliveryStatus.removed)
    ]
    assert on_sandbox
    assert set(outbox) == {d.external_id for d in on_sandbox}
    for d in on_sandbox:
        entry = outbox[d.external_id or ""]
        assert entry.idempotency_key == d.idempotency_key
        assert (entry.removed_at is not None) == (d.status == DeliveryStatus.removed)
        variant = variants[d.variant_id]
        post = posts[d.post_id]
        assert entry.text == (post.body if variant.text is None else variant.text)


async def test_second_run_changes_nothing(database: Database, settings: Settings) -> None:
    first = await load_demo(database, settings, today=TODAY)
    workspace = await _workspace(database)
    second = await load_demo(database, settings, today=date(2026, 9, 2))
    assert second.created is False
    assert (second.posts, second.deliveries) == (first.posts, first.deliveries)
    assert (second.users, second.channels, second.plans, second.labels) == (
        first.users,
        first.channels,
        first.plans,
        first.labels,
    )
    again = await _workspace(database)
    assert (again.id, again.updated_at) == (workspace.id, workspace.updated_at)
    assert any("already exists" in line for line in second.lines())


async def test_reset_recreates(database: Database, settings: Settings) -> None:
    first = await load_demo(database, settings, today=TODAY)
    old = await _workspace(database)
    summary = await load_demo(database, settings, today=date(2026, 9, 2), reset=True)
    assert summary.created is True
    assert summary.posts == first.posts
    new = await _workspace(database)
    assert new.id != old.id
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 1
        assert await session.scalar(select(func.count()).select_from(User)) == 4
        periods = set(await session.scalars(select(Plan.period).where(Plan.workspace_id == new.id)))
        # Nothing of the old workspace is left behind.
        assert (
            await session.scalar(
                select(func.count()).select_from(Post).where(Post.workspace_id == old.id)
            )
            == 0
        )
    assert periods == {"2026-09", "2026-Q3"}


async def test_deterministic_given_today(database: Database, settings: Settings) -> None:
    await load_demo(database, settings, today=TODAY)
    workspace = await _workspace(database)
    first = sorted((p.title, p.local_at, p.status) for p in await _posts(database, workspace))
    await load_demo(database, settings, today=TODAY, reset=True)
    workspace = await _workspace(database)
    second = sorted((p.title, p.local_at, p.status) for p in await _posts(database, workspace))
    assert first == second


@pytest.mark.parametrize(
    "today",
    [
        date(2026, 3, 15),  # clocks spring forward on 29 March
        date(2026, 10, 10),  # and fall back on 25 October
        date(2026, 3, 29),  # on the day itself
        date(2026, 10, 25),
    ],
)
async def test_months_with_a_dst_change(
    database: Database, settings: Settings, today: date
) -> None:
    summary = await load_demo(database, settings, today=today)
    assert summary.created
    assert {s for s, n in summary.deliveries.items() if n} == ALL_BUT_SENDING
    workspace = await _workspace(database)
    for post in await _posts(database, workspace):
        if post.local_at is not None and post.due_at is not None:
            assert post.due_at == to_utc(post.local_at, "Europe/Paris")
            assert post.local_at.month == today.month


@pytest.mark.parametrize("today", [date(2026, 2, 1), date(2026, 2, 28), date(2026, 12, 31)])
async def test_first_and_last_day_of_a_month(
    database: Database, settings: Settings, today: date
) -> None:
    """No room before (or after) now in the month: still loads, still consistent."""
    summary = await load_demo(database, settings, today=today)
    assert 35 <= summary.total_posts <= 45
    assert all(summary.posts[status.value] > 0 for status in PostStatus)
    assert summary.deliveries["sending"] == 0
    now = to_utc(datetime.combine(today, datetime.min.time()).replace(hour=12), "Europe/Paris")
    workspace = await _workspace(database)
    for d in await _deliveries(database, workspace):
        if d.status == DeliveryStatus.pending:
            assert d.due_at > now
        if d.status in (DeliveryStatus.published, DeliveryStatus.failed, DeliveryStatus.missed):
            assert d.due_at < now


async def test_default_today_uses_the_clock(database: Database, settings: Settings) -> None:
    summary = await load_demo(database, settings)
    assert summary.created
    workspace = await _workspace(database)
    async with database.read_session() as session:
        month = await session.scalar(
            select(Plan.period).where(Plan.workspace_id == workspace.id, Plan.kind == "month")
        )
    assert month is not None and len(month) == 7


def test_summary_lines() -> None:
    summary = DemoSummary(
        workspace_name="Northwind Coffee",
        workspace_slug="demo",
        created=True,
        users=4,
        channels=6,
        plans=2,
        labels=5,
        posts={"idea": 6, "draft": 9, "in_review": 0, "changes_requested": 4, "approved": 17},
        deliveries={"pending": 3, "sending": 0, "published": 12},
    )
    lines = summary.lines()
    assert lines[0] == (
        "Loaded demo workspace 'Northwind Coffee' (slug demo): 36 posts — "
        "6 idea, 9 draft, 4 changes requested, 17 approved."
    )
    assert "15 — 3 pending, 12 published" in lines[1]
    assert lines[-1] == f"Sign in as {DEMO_EMAIL} with the password {DEMO_PASSWORD}"
    # Printed through rich: no square brackets that could read as markup.
    assert not any("[" in line for line in lines)
