"""The data model's rules as the database itself enforces them, on SQLite and PostgreSQL.

Every refused write raises ``IntegrityError`` and leaves every table as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import String, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.db import Database
from app.models import (
    LIVE_STATUSES,
    Base,
    Channel,
    ChannelStatus,
    Delivery,
    DeliveryStatus,
    Label,
    Membership,
    Plan,
    Post,
    PostStatus,
    Role,
    User,
    Variant,
    Workspace,
    post_label,
)
from app.networks.base import Network
from tests.factories import (
    make_channel,
    make_delivery,
    make_label,
    make_membership,
    make_plan,
    make_post,
    make_user,
    make_variant,
    make_workspace,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEASE = {"lease_owner": "host:1:abc", "lease_expires_at": T0 + timedelta(minutes=5)}


@dataclass
class World:
    """One committed workspace with a member, a channel, a post, its variant and a
    pending delivery (ids only: every test works in sessions of its own)."""

    workspace_id: Any
    user_id: Any
    channel_id: Any
    post_id: Any
    variant_id: Any
    delivery_id: Any
    idempotency_key: str


async def build_world(database: Database) -> World:
    async with database.write_session() as session:
        workspace = await make_workspace(session)
        user = await make_user(session)
        await make_membership(session, workspace=workspace, user=user, role=Role.owner)
        channel = await make_channel(session, workspace=workspace)
        post = await make_post(session, workspace=workspace, author_id=user.id)
        variant = await make_variant(session, post=post, channel=channel)
        delivery = await make_delivery(session, variant=variant)
        await session.commit()
    return World(
        workspace.id,
        user.id,
        channel.id,
        post.id,
        variant.id,
        delivery.id,
        delivery.idempotency_key,
    )


@pytest.fixture
async def world(database: Database) -> World:
    return await build_world(database)


async def snapshot(database: Database) -> dict[str, list[str]]:
    """Every row of every table, comparable."""
    tables: dict[str, list[str]] = {}
    async with database.read_session() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            tables[table.name] = sorted(repr(tuple(row)) for row in rows)
    return tables


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.read_session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def assert_refused(
    database: Database, action: Callable[[AsyncSession], Awaitable[Any]]
) -> IntegrityError:
    """``action`` raises IntegrityError (at its flush or at commit) and changes nothing."""
    before = await snapshot(database)
    async with database.write_session() as session:
        with pytest.raises(IntegrityError) as caught:
            await action(session)
            await session.commit()
        await session.rollback()
    assert await snapshot(database) == before
    return caught.value


async def accepted(database: Database, action: Callable[[AsyncSession], Awaitable[Any]]) -> None:
    async with database.write_session() as session:
        await action(session)
        await session.commit()


# -- CHECK constraints -------------------------------------------------------------

Action = Callable[[AsyncSession, World], Awaitable[Any]]


def raw_update(model: Any, where: Any, **values: str) -> Any:
    """An UPDATE whose string values bypass the column types' own checks (an enum
    type may refuse a bad value in Python): the database alone decides."""
    return update(model).where(where).values({k: literal(v, String) for k, v in values.items()})


CHECK_VIOLATIONS: dict[str, Action] = {
    "membership role": lambda s, w: s.execute(
        raw_update(Membership, Membership.workspace_id == w.workspace_id, role="superuser")
    ),
    "channel network": lambda s, w: s.execute(
        raw_update(Channel, Channel.id == w.channel_id, network="myspace")
    ),
    "channel status": lambda s, w: s.execute(
        raw_update(Channel, Channel.id == w.channel_id, status="broken")
    ),
    "post status": lambda s, w: s.execute(
        raw_update(Post, Post.id == w.post_id, status="published")
    ),
    "delivery status": lambda s, w: s.execute(
        raw_update(Delivery, Delivery.id == w.delivery_id, status="done")
    ),
    "plan kind": lambda s, w: _plan_of_kind(s, w, "week"),
    "post fold": lambda s, w: make_post(
        s, workspace_id=w.workspace_id, local_at=datetime(2026, 12, 1, 10), due_at=T0, fold=2
    ),
    "post local_at without due_at": lambda s, w: make_post(
        s, workspace_id=w.workspace_id, local_at=datetime(2026, 12, 1, 10)
    ),
    "post due_at without local_at": lambda s, w: make_post(
        s, workspace_id=w.workspace_id, due_at=T0
    ),
    "variant local_at without due_at": lambda s, w: _variant_with_local_at_only(s, w),
    "delivery negative attempts": lambda s, w: s.execute(
        update(Delivery).where(Delivery.id == w.delivery_id).values(attempts=-1)
    ),
    "workspace approvals_needed 0": lambda s, w: make_workspace(s, approvals_needed=0),
    "workspace approvals_needed 4": lambda s, w: make_workspace(s, approvals_needed=4),
    "workspace negative lateness_limit": lambda s, w: make_workspace(s, lateness_limit_minutes=-1),
    "workspace paused without paused_at": lambda s, w: make_workspace(s, paused=True),
    "plan ends before it starts": lambda s, w: make_plan(
        s,
        workspace_id=w.workspace_id,
        starts_on=datetime(2026, 12, 31).date(),
        ends_on=datetime(2026, 12, 1).date(),
    ),
    "sending without lease": lambda s, w: s.execute(
        update(Delivery).where(Delivery.id == w.delivery_id).values(status="sending")
    ),
    "sending with owner but no expiry": lambda s, w: s.execute(
        update(Delivery)
        .where(Delivery.id == w.delivery_id)
        .values(status="sending", lease_owner="host:1:abc")
    ),
    "published without published_at": lambda s, w: s.execute(
        update(Delivery).where(Delivery.id == w.delivery_id).values(status="published")
    ),
    "update workspace approvals_needed": lambda s, w: s.execute(
        update(Workspace).where(Workspace.id == w.workspace_id).values(approvals_needed=5)
    ),
}


async def _plan_of_kind(session: AsyncSession, world: World, kind: str) -> Any:
    plan = await make_plan(session, workspace_id=world.workspace_id)
    return await session.execute(raw_update(Plan, Plan.id == plan.id, kind=kind))


async def _variant_with_local_at_only(session: AsyncSession, world: World) -> Variant:
    channel = await make_channel(session, workspace_id=world.workspace_id)
    return await make_variant(
        session, post_id=world.post_id, channel=channel, local_at=datetime(2026, 12, 1, 10)
    )


@pytest.mark.parametrize("case", list(CHECK_VIOLATIONS))
async def test_check_constraint_refuses(database: Database, world: World, case: str) -> None:
    await assert_refused(database, lambda session: CHECK_VIOLATIONS[case](session, world))


async def test_every_enum_value_and_bound_is_accepted(database: Database, world: World) -> None:
    """The CHECKs let through exactly what the enums and the rules allow."""

    async def action(session: AsyncSession) -> None:
        for role in Role:
            await make_membership(session, workspace_id=world.workspace_id, role=role)
        for network in Network:
            await make_channel(session, workspace_id=world.workspace_id, network=network)
        for status in ChannelStatus:
            await make_channel(session, workspace_id=world.workspace_id, status=status)
        for status in PostStatus:
            await make_post(session, workspace_id=world.workspace_id, status=status)
        for approvals in (1, 2, 3):
            await make_workspace(session, approvals_needed=approvals)
        await make_workspace(session, lateness_limit_minutes=0)
        await make_workspace(session, paused=True, paused_at=T0)
        await make_post(
            session,
            workspace_id=world.workspace_id,
            local_at=datetime(2026, 12, 1, 10),
            due_at=T0,
            fold=1,
        )
        channel = await make_channel(session, workspace_id=world.workspace_id)
        for status in DeliveryStatus:
            extra: dict[str, Any] = {}
            if status == DeliveryStatus.sending:
                extra = dict(LEASE)
            if status == DeliveryStatus.published:
                extra = {"published_at": T0}
            # One variant each: at most one live delivery per variant.
            variant = await make_variant(
                session,
                post=await make_post(session, workspace_id=world.workspace_id),
                channel=channel,
            )
            await make_delivery(session, variant=variant, status=status, **extra)

    await accepted(database, action)
    assert await count(database, Delivery) == 1 + len(DeliveryStatus)


async def test_sending_with_lease_and_published_with_time_are_accepted(
    database: Database, world: World
) -> None:
    async def claim(session: AsyncSession) -> None:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == world.delivery_id)
            .values(status="sending", **LEASE)
        )

    async def publish(session: AsyncSession) -> None:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == world.delivery_id)
            .values(status="published", published_at=T0, lease_owner=None, lease_expires_at=None)
        )

    await accepted(database, claim)
    await accepted(database, publish)
    async with database.read_session() as session:
        delivery = await session.get(Delivery, world.delivery_id)
        assert delivery is not None
        assert (delivery.status, delivery.published_at) == ("published", T0)


# -- uniqueness --------------------------------------------------------------------


async def test_one_membership_per_workspace_and_user(database: Database, world: World) -> None:
    await assert_refused(
        database,
        lambda s: make_membership(
            s, workspace_id=world.workspace_id, user_id=world.user_id, role=Role.viewer
        ),
    )
    # The same user in another workspace is fine.
    await accepted(database, lambda s: make_membership(s, user_id=world.user_id, role=Role.viewer))


async def test_one_variant_per_post_and_channel(database: Database, world: World) -> None:
    await assert_refused(
        database,
        lambda s: make_variant(s, post_id=world.post_id, channel_id=world.channel_id, text="again"),
    )


async def test_delivery_idempotency_key_is_unique(database: Database, world: World) -> None:
    async def second_with_same_key(session: AsyncSession) -> None:
        variant = await make_variant(session, post_id=world.post_id)
        await make_delivery(session, variant=variant, idempotency_key=world.idempotency_key)

    await assert_refused(database, second_with_same_key)


async def test_deliveries_get_distinct_idempotency_keys(database: Database, world: World) -> None:
    async with database.write_session() as session:
        first = await session.get(Delivery, world.delivery_id)
        second = await make_delivery(session)
        await session.commit()
    assert first is not None
    assert first.idempotency_key and second.idempotency_key
    assert first.idempotency_key != second.idempotency_key


def _status_values(status: str) -> dict[str, Any]:
    values: dict[str, Any] = {"status": status}
    if status == "sending":
        values.update(LEASE)
    if status in ("published", "removed"):
        values["published_at"] = T0
    return values


LIVE_PAIRS = sorted(
    {("pending", status) for status in LIVE_STATUSES}
    | {(status, "pending") for status in LIVE_STATUSES}
    | {("published", "sending"), ("uncertain", "retrying")}
)


@pytest.mark.parametrize(("existing", "new"), LIVE_PAIRS)
async def test_two_live_deliveries_for_one_variant_are_refused(
    database: Database, world: World, existing: str, new: str
) -> None:
    await accepted(
        database,
        lambda s: s.execute(
            update(Delivery)
            .where(Delivery.id == world.delivery_id)
            .values(**_status_values(existing))
        ),
    )
    await assert_refused(
        database, lambda s: make_delivery(s, variant_id=world.variant_id, **_status_values(new))
    )


@pytest.mark.parametrize("dead", ["canceled", "failed", "missed", "removed"])
async def test_finished_deliveries_do_not_block_a_live_one(
    database: Database, world: World, dead: str
) -> None:
    # The world's delivery is pending: end it, then queue a new one for the same variant.
    await accepted(
        database,
        lambda s: s.execute(
            update(Delivery).where(Delivery.id == world.delivery_id).values(**_status_values(dead))
        ),
    )

    async def requeue(session: AsyncSession) -> None:
        await make_delivery(session, variant_id=world.variant_id, **_status_values(dead))
        await make_delivery(session, variant_id=world.variant_id, status="pending")

    await accepted(database, requeue)
    assert await count(database, Delivery, Delivery.variant_id == world.variant_id) == 3
    # And the new live one still blocks a third.
    await assert_refused(
        database, lambda s: make_delivery(s, variant_id=world.variant_id, status="retrying")
    )


async def test_reviving_a_canceled_delivery_beside_a_live_one_is_refused(
    database: Database, world: World
) -> None:
    async def cancel_and_requeue(session: AsyncSession) -> None:
        await session.execute(
            update(Delivery).where(Delivery.id == world.delivery_id).values(status="canceled")
        )
        await make_delivery(session, variant_id=world.variant_id)

    await accepted(database, cancel_and_requeue)
    await assert_refused(
        database,
        lambda s: s.execute(
            update(Delivery).where(Delivery.id == world.delivery_id).values(status="pending")
        ),
    )


# -- ON DELETE ---------------------------------------------------------------------


async def test_deleting_a_workspace_removes_everything_in_it(
    database: Database, world: World
) -> None:
    other = await build_world(database)
    async with database.write_session() as session:
        plan = await make_plan(session, workspace_id=world.workspace_id)
        label = await make_label(session, workspace_id=world.workspace_id)
        await session.execute(update(Post).where(Post.id == world.post_id).values(plan_id=plan.id))
        await session.execute(post_label.insert().values(post_id=world.post_id, label_id=label.id))
        await session.execute(
            update(Delivery)
            .where(Delivery.id == world.delivery_id)
            .values(status="published", published_at=T0)
        )
        await session.commit()
    before_other = await snapshot(database)

    async with database.write_session() as session:
        await session.execute(delete(Workspace).where(Workspace.id == world.workspace_id))
        await session.commit()

    mine = {
        Channel: Channel.workspace_id,
        Post: Post.workspace_id,
        Delivery: Delivery.workspace_id,
        Plan: Plan.workspace_id,
        Label: Label.workspace_id,
        Membership: Membership.workspace_id,
    }
    for model, column in mine.items():
        assert await count(database, model, column == world.workspace_id) == 0, model
    assert await count(database, Variant, Variant.post_id == world.post_id) == 0
    assert await count(database, post_label) == 0
    # The user survives (other workspaces may know them); the other workspace is intact.
    assert await count(database, User, User.id == world.user_id) == 1
    for model in (Workspace, Channel, Post, Variant, Delivery, Membership):
        assert await count(database, model) == 1, model
    after = await snapshot(database)
    for table in ("workspace", "channel", "post", "variant", "delivery", "membership"):
        assert set(after[table]) <= set(before_other[table])
    assert await count(database, Workspace, Workspace.id == other.workspace_id) == 1


async def test_deleting_a_user_keeps_their_posts_without_author(
    database: Database, world: World
) -> None:
    async with database.write_session() as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == world.workspace_id)
            .values(paused=True, paused_at=T0, paused_by_id=world.user_id)
        )
        await session.commit()
    async with database.write_session() as session:
        await session.execute(delete(User).where(User.id == world.user_id))
        await session.commit()
    async with database.read_session() as session:
        post = await session.get(Post, world.post_id)
        workspace = await session.get(Workspace, world.workspace_id)
    assert post is not None and post.author_id is None
    assert workspace is not None and workspace.paused_by_id is None and workspace.paused
    assert await count(database, Membership) == 0


async def test_deleting_a_plan_detaches_its_posts(database: Database, world: World) -> None:
    async with database.write_session() as session:
        plan = await make_plan(session, workspace_id=world.workspace_id)
        await session.execute(update(Post).where(Post.id == world.post_id).values(plan_id=plan.id))
        await session.commit()
    async with database.write_session() as session:
        await session.execute(delete(Plan).where(Plan.id == plan.id))
        await session.commit()
    async with database.read_session() as session:
        post = await session.get(Post, world.post_id)
    assert post is not None and post.plan_id is None


async def test_deleting_a_channel_with_deliveries_is_refused(
    database: Database, world: World
) -> None:
    """A channel with a publishing history is not deleted under it (even a canceled one)."""
    await accepted(
        database,
        lambda s: s.execute(
            update(Delivery).where(Delivery.id == world.delivery_id).values(status="canceled")
        ),
    )
    await assert_refused(
        database, lambda s: s.execute(delete(Channel).where(Channel.id == world.channel_id))
    )


async def test_deleting_a_channel_without_deliveries_deletes_its_variants(
    database: Database, world: World
) -> None:
    async with database.write_session() as session:
        channel = await make_channel(session, workspace_id=world.workspace_id)
        variant = await make_variant(session, post_id=world.post_id, channel=channel)
        await session.commit()
    async with database.write_session() as session:
        await session.execute(delete(Channel).where(Channel.id == channel.id))
        await session.commit()
    assert await count(database, Variant, Variant.id == variant.id) == 0
    # The post and its other variant stay.
    assert await count(database, Post, Post.id == world.post_id) == 1
    assert await count(database, Variant, Variant.id == world.variant_id) == 1


async def test_deleting_a_post_deletes_its_variants_and_deliveries(
    database: Database, world: World
) -> None:
    async with database.write_session() as session:
        await session.execute(delete(Post).where(Post.id == world.post_id))
        await session.commit()
    assert await count(database, Variant) == 0
    assert await count(database, Delivery) == 0
    assert await count(database, Channel) == 1


# -- UTCDateTime -----------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 30, 0, 1, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        datetime(1999, 12, 31, 23, 0, tzinfo=ZoneInfo("Asia/Kolkata")),
    ],
    ids=["utc-micro", "paris", "minus-0930", "kolkata"],
)
async def test_datetimes_come_back_aware_utc_and_equal(
    database: Database, world: World, stored: datetime
) -> None:
    async with database.write_session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == world.delivery_id)
            .values(due_at=stored, next_attempt_at=stored)
        )
        await session.commit()
    async with database.read_session() as session:
        loaded = await session.get(Delivery, world.delivery_id)
        raw = await session.scalar(select(Delivery.due_at).where(Delivery.id == world.delivery_id))
        found = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.due_at == stored.astimezone(ZoneInfo("America/New_York")))
        )
    assert loaded is not None
    for value in (loaded.due_at, loaded.next_attempt_at, raw):
        assert value is not None
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        assert value == stored
        assert value.microsecond == stored.astimezone(UTC).microsecond
    assert found == 1


async def test_datetime_comparisons_follow_time_order(database: Database, world: World) -> None:
    """Ranges work the same on both backends, whatever offset the bound is given in."""
    base = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    offsets = [timedelta(microseconds=1), timedelta(seconds=1), timedelta(hours=10)]
    async with database.write_session() as session:
        for i, offset in enumerate(offsets):
            variant = await make_variant(session, post_id=world.post_id)
            await make_delivery(session, variant=variant, due_at=base + offset, attempts=i)
        await session.execute(
            update(Delivery).where(Delivery.id == world.delivery_id).values(due_at=base)
        )
        await session.commit()
    tokyo = ZoneInfo("Asia/Tokyo")
    async with database.read_session() as session:
        after = (
            await session.scalars(
                select(Delivery.due_at)
                .where(Delivery.due_at > base.astimezone(tokyo))
                .order_by(Delivery.due_at)
            )
        ).all()
    assert after == [base + offset for offset in offsets]


async def test_naive_datetime_is_refused(database: Database, world: World) -> None:
    naive = datetime(2026, 12, 1, 9, 0)
    before = await snapshot(database)
    async with database.write_session() as session:
        session.add(Workspace(name="W", slug="naive", paused=True, paused_at=naive))
        with pytest.raises(StatementError) as caught:
            await session.flush()
        await session.rollback()
    assert not isinstance(caught.value, IntegrityError)
    assert isinstance(caught.value.orig, ValueError)
    assert "naive datetime" in str(caught.value.orig)
    async with database.read_session() as session:
        with pytest.raises(StatementError) as caught:
            await session.execute(select(Delivery).where(Delivery.due_at < naive))
    assert isinstance(caught.value.orig, ValueError)
    assert await snapshot(database) == before


async def test_local_wall_time_stays_naive(database: Database, world: World) -> None:
    """``local_at`` is the user's wall time, without zone: it comes back as given."""
    wall = datetime(2026, 10, 25, 2, 30, 0, 500)
    async with database.write_session() as session:
        await session.execute(
            update(Post)
            .where(Post.id == world.post_id)
            .values(local_at=wall, timezone="Europe/Paris", fold=1, due_at=T0)
        )
        await session.commit()
    async with database.read_session() as session:
        post = await session.get(Post, world.post_id)
    assert post is not None
    assert post.local_at == wall and post.local_at.tzinfo is None
    assert (post.timezone, post.fold) == ("Europe/Paris", 1)


async def test_created_and_updated_at_are_set(database: Database, world: World) -> None:
    async with database.read_session() as session:
        post = await session.get(Post, world.post_id)
    assert post is not None
    assert post.created_at.tzinfo is not None and post.updated_at.tzinfo is not None
    assert abs(post.created_at - datetime.now(UTC)) < timedelta(minutes=1)


# -- optimistic concurrency ----------------------------------------------------------


async def test_post_version_increments_on_each_update(database: Database, world: World) -> None:
    async with database.write_session() as session:
        post = await session.get(Post, world.post_id)
        assert post is not None
        assert post.version == 1
        for expected, title in enumerate(["one", "two", "three"], start=2):
            post.title = title
            await session.commit()
            assert post.version == expected
    async with database.read_session() as session:
        stored = await session.scalar(select(Post.version).where(Post.id == world.post_id))
    assert stored == 4


async def test_stale_post_write_is_refused(database: Database, world: World) -> None:
    """Two editors read version 1; the second write finds version 2 and fails."""
    async with database.write_session() as first, database.write_session() as second:
        mine = await first.get(Post, world.post_id)
        await first.commit()  # end the read: the edit is saved in a later transaction
        theirs = await second.get(Post, world.post_id)
        await second.commit()
        assert mine is not None and theirs is not None
        assert mine.version == theirs.version == 1

        mine.title = "mine"
        await first.commit()
        assert mine.version == 2

        theirs.title = "theirs"
        with pytest.raises(StaleDataError):
            await second.commit()
        await second.rollback()

    async with database.read_session() as session:
        post = await session.get(Post, world.post_id)
    assert post is not None
    assert (post.title, post.version) == ("mine", 2)
