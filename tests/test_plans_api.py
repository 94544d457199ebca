"""Plans over the API: periods, CRUD, validation, overlap, period changes and duplication
(weekdays and local times kept across DST changes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from app.auth.tokens import hash_secret, new_api_token
from app.db import Database, session_scope
from app.models import (
    ApiToken,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Plan,
    PlanKind,
    Post,
    PostStatus,
    Role,
    Variant,
    post_label,
    utcnow,
)
from app.networks.base import Network
from app.plans.periods import (
    PeriodError,
    parse_period,
    shift_week,
    week_days_in,
    week_monday,
    week_of,
    weeks_between,
    weeks_touching,
)
from app.plans.service import place
from app.posts.content import content_hash, effective_content
from app.timeutil import to_utc
from tests.factories import (
    make_channel,
    make_label,
    make_membership,
    make_plan,
    make_post,
    make_user,
    make_variant,
    make_workspace,
)

# -- a team with one API token per role ----------------------------------------------------


@dataclass
class Team:
    workspace_id: uuid.UUID
    headers: dict[Role, dict[str, str]] = field(default_factory=dict)
    user_ids: dict[Role, uuid.UUID] = field(default_factory=dict)

    def url(self, what: str = "plans") -> str:
        return f"/api/v1/workspaces/{self.workspace_id}/{what}"

    @property
    def owner(self) -> dict[str, str]:
        return self.headers[Role.owner]


async def make_team(database: Database, timezone: str = "UTC") -> Team:
    async with session_scope(database.write_session) as session:
        workspace = await make_workspace(session, timezone=timezone)
        team = Team(workspace_id=workspace.id)
        for role in Role:
            user = await make_user(session)
            await make_membership(session, workspace_id=workspace.id, user_id=user.id, role=role)
            team.user_ids[role] = user.id
            token, prefix = new_api_token()
            # Used just now: no last-use write from a second session during a request.
            session.add(
                ApiToken(
                    user_id=user.id,
                    name="test",
                    prefix=prefix,
                    token_hash=hash_secret(token),
                    last_used_at=utcnow(),
                )
            )
            team.headers[role] = {"Authorization": f"Bearer {token}"}
    return team


def local_post(local: datetime, zone: str, **kw: Any) -> dict[str, Any]:
    """Keyword arguments of make_post for a post at a wall time in a zone."""
    return {"local_at": local, "timezone": zone, "due_at": to_utc(local, zone, 0), **kw}


async def add_labels(session: Any, post: Post, *labels: Any) -> None:
    await session.execute(
        insert(post_label), [{"post_id": post.id, "label_id": label.id} for label in labels]
    )


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database)


async def create(client: httpx.AsyncClient, team: Team, **body: Any) -> httpx.Response:
    payload = {"kind": "month", "period": "2026-12", "title": "December", **body}
    return await client.post(team.url(), json=payload, headers=team.owner)


def fields_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    assert body["detail"].endswith("."), body
    return {error["field"]: error["message"] for error in body["errors"]}


# -- periods and weeks (pure) ----------------------------------------------------------------


def test_periods_are_months_and_quarters() -> None:
    month = parse_period("2026-12")
    assert (month.kind, month.key, month.starts_on, month.ends_on) == (
        PlanKind.month,
        "2026-12",
        date(2026, 12, 1),
        date(2026, 12, 31),
    )
    february = parse_period("2028-02", "month")
    assert february.ends_on == date(2028, 2, 29) and february.days == 29
    quarter = parse_period(" 2027-q1 ")
    assert (quarter.kind, quarter.key, quarter.starts_on, quarter.ends_on) == (
        PlanKind.quarter,
        "2027-Q1",
        date(2027, 1, 1),
        date(2027, 3, 31),
    )
    assert parse_period("2026-Q4").ends_on == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        ("2026-13", None, "months run from 01 to 12"),
        ("2026-Q5", None, "quarters are Q1 to Q4"),
        ("2026-W49", None, "write a month as YYYY-MM"),
        ("December", None, "write a month as YYYY-MM"),
        ("2026-1", None, "write a month as YYYY-MM"),
        ("1999-12", None, "out of range"),
        ("2026-12", "quarter", "is a month, but this plan is a quarter plan"),
        ("2027-Q1", "month", "is a quarter, but this plan is a month plan"),
    ],
)
def test_other_periods_are_refused_with_a_sentence(text: str, kind: str | None, words: str) -> None:
    with pytest.raises(PeriodError, match=words):
        parse_period(text, kind)


def test_iso_weeks_touching_a_period() -> None:
    # 1 December 2026 is a Tuesday; 31 December a Thursday of week 53.
    december = parse_period("2026-12")
    assert weeks_touching(december) == [
        "2026-W49",
        "2026-W50",
        "2026-W51",
        "2026-W52",
        "2026-W53",
    ]
    assert week_days_in("2026-W49", december) == 6
    assert week_days_in("2026-W53", december) == 4
    assert week_days_in("2026-W50", december) == 7
    # February 2021 is exactly four weeks, Monday to Sunday.
    assert weeks_touching(parse_period("2021-02")) == [f"2021-W{n:02d}" for n in range(5, 9)]
    quarter = weeks_touching(parse_period("2027-Q1"))
    assert quarter[0] == "2026-W53" and quarter[-1] == "2027-W13" and len(quarter) == 14
    assert week_of(date(2027, 1, 1)) == "2026-W53"
    assert week_monday("2026-w49") == date(2026, 11, 30)
    assert shift_week("2026-W52", 2) == "2027-W01"
    with pytest.raises(PeriodError, match="2025 has 52 ISO weeks"):
        week_monday("2025-W53")
    with pytest.raises(PeriodError, match="not an ISO week"):
        week_monday("2026-49")


def test_whole_weeks_between_periods() -> None:
    def between(a: str, b: str) -> int:
        return weeks_between(parse_period(a), parse_period(b))

    assert between("2026-03", "2026-04") == 4  # 31 days
    assert between("2026-02", "2026-03") == 4  # 28 days
    assert between("2026-01", "2026-03") == 8  # 59 days → 8.4
    assert between("2027-Q1", "2027-Q2") == 13  # 90 days → 12.9
    assert between("2026-04", "2026-03") == -4
    assert between("2026-12", "2026-12") == 0


def test_a_copy_in_a_dst_gap_moves_forward_and_says_so() -> None:
    placed = place(datetime(2026, 3, 29, 2, 30), "Europe/Paris", 0)
    assert placed.local == datetime(2026, 3, 29, 3, 30)
    assert placed.due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert placed.warning is not None and "does not exist in Europe/Paris" in placed.warning
    ambiguous = place(datetime(2026, 10, 25, 2, 30), "Europe/Paris", 1)
    assert ambiguous.due == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert ambiguous.fold == 1 and "second occurrence" in (ambiguous.warning or "")
    plain = place(datetime(2026, 4, 6, 10, 0), "Europe/Paris", 1)
    assert (plain.due, plain.fold, plain.warning) == (
        datetime(2026, 4, 6, 8, 0, tzinfo=UTC),
        0,
        None,
    )


# -- CRUD ----------------------------------------------------------------------------------


async def test_create_read_list_update_delete(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        label = await make_label(session, workspace_id=team.workspace_id, name="Tips")
    created = await create(
        client,
        team,
        title="  December push  ",
        goals="Grow the newsletter",
        themes=[
            {"week": "2026-W50", "theme": "Year in review"},
            {"week": "2026-w49", "theme": "Launch"},
        ],
        cadence_targets={"mastodon": 3, "bluesky": 2},
        mix_targets={str(label.id): 40},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["title"] == "December push"
    assert (body["kind"], body["period"], body["starts_on"], body["ends_on"]) == (
        "month",
        "2026-12",
        "2026-12-01",
        "2026-12-31",
    )
    # Weeks normalised and in order.
    assert body["themes"] == [
        {"week": "2026-W49", "theme": "Launch"},
        {"week": "2026-W50", "theme": "Year in review"},
    ]
    assert body["cadence_targets"] == {"mastodon": 3, "bluesky": 2}
    assert body["mix_targets"] == {str(label.id): 40}
    assert (body["posts"], body["ideas"]) == (0, 0)
    item = f"{team.url()}/{body['id']}"

    read = await client.get(item, headers=team.headers[Role.viewer])
    assert read.status_code == 200 and read.json() == body

    quarter = await create(client, team, kind="quarter", period="2027-Q1", title="Q1")
    assert quarter.status_code == 201, quarter.text
    listed = await client.get(team.url(), headers=team.owner)
    assert [p["period"] for p in listed.json()] == ["2026-12", "2027-Q1"]
    months = await client.get(team.url(), params={"kind": "month"}, headers=team.owner)
    assert [p["period"] for p in months.json()] == ["2026-12"]
    january = await client.get(
        team.url(), params={"from": "2027-01-10", "to": "2027-01-20"}, headers=team.owner
    )
    assert [p["period"] for p in january.json()] == ["2027-Q1"]
    overlapping = await client.get(
        team.url(), params={"from": "2026-12-31", "to": "2027-01-01"}, headers=team.owner
    )
    assert [p["period"] for p in overlapping.json()] == ["2026-12", "2027-Q1"]
    backwards = await client.get(
        team.url(), params={"from": "2027-01-20", "to": "2027-01-10"}, headers=team.owner
    )
    assert backwards.status_code == 422

    updated = await client.patch(
        item,
        json={"title": "December", "goals": "", "cadence_targets": {"x": 1}, "mix_targets": {}},
        headers=team.headers[Role.editor],
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["title"] == "December"
    assert updated.json()["goals"] == ""
    assert updated.json()["cadence_targets"] == {"x": 1}
    assert updated.json()["mix_targets"] == {}
    assert updated.json()["themes"] == body["themes"]

    refused = await client.patch(item, json={"title": "Nope"}, headers=team.headers[Role.viewer])
    assert refused.status_code == 403
    deleted = await client.delete(item, headers=team.owner)
    assert deleted.status_code == 204
    assert (await client.get(item, headers=team.owner)).status_code == 404

    async with database.read_session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == body["id"])
                .order_by(AuditEvent.created_at)
            )
        ).all()
    assert actions == ["plan.created", "plan.updated", "plan.deleted"]


async def test_validation_errors_are_answered_per_field(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        mine = await make_label(session, workspace_id=team.workspace_id)
        theirs = await make_label(session)
    response = await create(
        client,
        team,
        themes=[
            {"week": "2027-W02", "theme": "Too late"},
            {"week": "2026-W50", "theme": "One"},
            {"week": "2026-W50", "theme": "Two"},
            {"week": "2026-W54", "theme": "No such week"},
        ],
        cadence_targets={"myspace": 2, "mastodon": 1},
        mix_targets={str(mine.id): 80, str(theirs.id): 30, "nope": 1},
    )
    assert response.status_code == 422, response.text
    errors = fields_of(response)
    assert "2027-W02 does not touch 2026-12" in errors["themes.0.week"]
    assert "already has a theme" in errors["themes.2.week"]
    assert "2026 has 53 ISO weeks" in errors["themes.3.week"]
    assert "'myspace' is not a network" in errors["cadence_targets.myspace"]
    assert "no label of this workspace" in errors[f"mix_targets.{theirs.id}"]
    assert "not a label id" in errors["mix_targets.nope"]
    assert "add up to 111" in errors["mix_targets"]
    assert "themes.1.week" not in errors and "cadence_targets.mastodon" not in errors

    wrong_kind = await create(client, team, kind="quarter", period="2026-12")
    assert wrong_kind.status_code == 422
    assert "is a month, but this plan is a quarter plan" in fields_of(wrong_kind)["period"]
    bad_period = await create(client, team, period="2026/12")
    assert "YYYY-MM" in fields_of(bad_period)["period"]
    too_many = await create(client, team, cadence_targets={"x": 101})
    assert too_many.status_code == 422 and "cadence_targets.x" in fields_of(too_many)
    negative = await create(client, team, mix_targets={str(mine.id): -1})
    assert negative.status_code == 422
    unknown_field = await create(client, team, colour="red")
    assert unknown_field.status_code == 422 and "colour" in fields_of(unknown_field)
    async with database.read_session() as session:
        assert (await session.scalars(select(Plan))).all() == []


async def test_plans_of_one_kind_never_overlap_but_a_month_sits_inside_a_quarter(
    client: httpx.AsyncClient, team: Team
) -> None:
    first = await create(client, team)
    assert first.status_code == 201
    again = await create(client, team, title="Another December")
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert "already has a month plan for 2026-12" in detail
    assert "“December”" in detail and first.json()["id"] in detail

    quarter = await create(client, team, kind="quarter", period="2026-Q4", title="Q4")
    assert quarter.status_code == 201, quarter.text
    assert (await create(client, team, kind="quarter", period="2026-q4")).status_code == 409
    november = await create(client, team, period="2026-11", title="November")
    assert november.status_code == 201

    # Moving November onto December is an overlap too.
    moved = await client.patch(
        f"{team.url()}/{november.json()['id']}", json={"period": "2026-12"}, headers=team.owner
    )
    assert moved.status_code == 409 and "“December”" in moved.json()["detail"]
    # Another workspace may plan the same month.
    other = await make_team_like(client, team)
    assert other == 201


async def make_team_like(client: httpx.AsyncClient, team: Team) -> int:
    """A second workspace of the owner's, with its own December plan."""
    created = await client.post(
        "/api/v1/workspaces", json={"name": "Other brand"}, headers=team.owner
    )
    assert created.status_code == 201, created.text
    response = await client.post(
        f"/api/v1/workspaces/{created.json()['id']}/plans",
        json={"kind": "month", "period": "2026-12", "title": "December"},
        headers=team.owner,
    )
    return response.status_code


async def test_a_period_change_may_not_leave_posts_outside(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        plan = await make_plan(
            session,
            workspace_id=team.workspace_id,
            themes=[{"week": "2026-W49", "theme": "Launch"}],
        )
        for day in (3, 10):
            await make_post(
                session,
                workspace_id=team.workspace_id,
                plan_id=plan.id,
                **local_post(datetime(2026, 12, day, 9), "UTC"),
            )
        idea = await make_post(
            session, workspace_id=team.workspace_id, plan_id=plan.id, status=PostStatus.idea
        )
    item = f"{team.url()}/{plan.id}"
    assert (await client.get(item, headers=team.owner)).json()["posts"] == 2
    assert (await client.get(item, headers=team.owner)).json()["ideas"] == 1

    refused = await client.patch(item, json={"period": "2027-01"}, headers=team.owner)
    assert refused.status_code == 422, refused.text
    assert "2 posts of this plan lie outside 2027-01" in refused.json()["detail"]
    # Every problem at once: the theme kept would not touch the new period either.
    assert "2026-W49 does not touch 2027-01" in fields_of(refused)["themes.0.week"]

    async with session_scope(database.write_session) as session:
        for post in (await session.scalars(select(Post).where(Post.id != idea.id))).all():
            post.plan_id = None
    # The kept theme must touch the new period too.
    themes_left = await client.patch(item, json={"period": "2027-01"}, headers=team.owner)
    assert themes_left.status_code == 422
    assert "2026-W49 does not touch 2027-01" in fields_of(themes_left)["themes.0.week"]
    moved = await client.patch(
        item,
        json={"period": "2027-01", "themes": [{"week": "2027-W02", "theme": "New year"}]},
        headers=team.owner,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["starts_on"], moved.json()["ends_on"]) == ("2027-01-01", "2027-01-31")
    assert moved.json()["ideas"] == 1  # an undated idea is never outside
    kind = await client.patch(item, json={"period": "2027-Q1"}, headers=team.owner)
    assert kind.status_code == 422 and "month plan" in kind.json()["detail"]
    nothing = await client.patch(item, json={"title": None}, headers=team.owner)
    assert nothing.status_code == 422


async def test_deleting_a_plan_detaches_its_posts(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        plan = await make_plan(session, workspace_id=team.workspace_id)
        post = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=plan.id,
            **local_post(datetime(2026, 12, 3, 9), "UTC"),
        )
    deleted = await client.delete(f"{team.url()}/{plan.id}", headers=team.headers[Role.editor])
    assert deleted.status_code == 204
    async with database.read_session() as session:
        kept = await session.get(Post, post.id)
        assert kept is not None and kept.plan_id is None


async def test_another_workspaces_plan_is_not_found(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    async with session_scope(database.write_session) as session:
        foreign = await make_plan(session)
    for method, suffix in (("GET", ""), ("PATCH", ""), ("GET", "/report"), ("DELETE", "")):
        response = await client.request(
            method,
            f"{team.url()}/{foreign.id}{suffix}",
            json={} if method == "PATCH" else None,
            headers=team.owner,
        )
        assert response.status_code == 404, (method, suffix, response.text)


# -- duplicate --------------------------------------------------------------------------------


async def test_duplicate_keeps_weekdays_and_local_times_across_a_dst_change(
    client: httpx.AsyncClient, database: Database
) -> None:
    team = await make_team(database, timezone="Europe/Paris")
    zone = "Europe/Paris"
    async with session_scope(database.write_session) as session:
        mastodon = await make_channel(
            session, workspace_id=team.workspace_id, network=Network.mastodon
        )
        bluesky = await make_channel(
            session, workspace_id=team.workspace_id, network=Network.bluesky
        )
        tips = await make_label(session, workspace_id=team.workspace_id, name="Tips")
        news = await make_label(session, workspace_id=team.workspace_id, name="News")
        plan = await make_plan(
            session,
            workspace_id=team.workspace_id,
            period="2026-03",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 3, 31),
            title="March",
            goals="Spring launch",
            themes=[
                {"week": "2026-W09", "theme": "Teaser"},  # → W13, before April: dropped
                {"week": "2026-W11", "theme": "Launch"},  # → W15
            ],
            cadence_targets={"mastodon": 3},
            mix_targets={str(tips.id): 50},
        )
        # Monday 9 March, 10:00 in Paris (CET, UTC+1), approved, two variants.
        monday = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=plan.id,
            status=PostStatus.approved,
            body="Base copy",
            media=[{"media_id": "m1", "alt": "A cat"}],
            link="https://example.org/a",
            **local_post(datetime(2026, 3, 9, 10, 0), zone),
        )
        own = await make_variant(
            session,
            post=monday,
            channel=mastodon,
            text="Toot copy",
            local_at=datetime(2026, 3, 9, 11, 15),
            due_at=to_utc(datetime(2026, 3, 9, 11, 15), zone),
        )
        own.approved_hash = own.content_hash
        inherited = await make_variant(session, post=monday, channel=bluesky)
        inherited.approved_hash = inherited.content_hash
        await add_labels(session, monday, tips, news)
        # Tuesday 31 March 18:00 (CEST already) → Tuesday 28 April.
        tuesday = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=plan.id,
            status=PostStatus.in_review,
            **local_post(datetime(2026, 3, 31, 18, 0), zone),
        )
        await make_variant(session, post=tuesday, channel=mastodon)
        # Monday 2 March → Monday 30 March: outside April, skipped.
        early = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=plan.id,
            title="Early bird",
            **local_post(datetime(2026, 3, 2, 9, 0), zone),
        )
        await make_variant(session, post=early, channel=mastodon)
        idea = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=plan.id,
            status=PostStatus.idea,
            title="Someday",
        )
        await make_variant(session, post=idea, channel=bluesky)
        await add_labels(session, idea, news)
        # A post of no plan is not copied.
        await make_post(
            session,
            workspace_id=team.workspace_id,
            **local_post(datetime(2026, 3, 10, 9, 0), zone),
        )

    response = await client.post(
        f"{team.url()}/{plan.id}/duplicate",
        json={"period": "2026-04"},
        headers=team.headers[Role.editor],
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["weeks_shifted"] == 4
    assert result["posts_copied"] == 3
    new_plan = result["plan"]
    assert (new_plan["kind"], new_plan["period"], new_plan["title"]) == (
        "month",
        "2026-04",
        "March",
    )
    assert new_plan["goals"] == "Spring launch"
    assert new_plan["themes"] == [{"week": "2026-W15", "theme": "Launch"}]
    assert new_plan["cadence_targets"] == {"mastodon": 3}
    assert new_plan["mix_targets"] == {str(tips.id): 50}
    assert (new_plan["posts"], new_plan["ideas"]) == (2, 1)
    assert [(s["post_id"], s["title"]) for s in result["skipped"]] == [
        (str(early.id), "Early bird")
    ]
    assert "2026-03-30, outside 2026-04" in result["skipped"][0]["message"]
    (theme_note,) = result["warnings"]
    assert theme_note["post_id"] is None
    assert "2026-W09 (“Teaser”) would move to 2026-W13, outside 2026-04" in theme_note["message"]

    async with database.read_session() as session:
        copies = {
            post.title: post
            for post in (
                await session.scalars(select(Post).where(Post.plan_id == uuid.UUID(new_plan["id"])))
            ).all()
        }
        assert set(copies) == {monday.title, tuesday.title, "Someday"}
        first = copies[monday.title]
        assert first.local_at == datetime(2026, 4, 6, 10, 0)
        assert first.local_at.weekday() == monday.local_at.weekday() == 0
        # 10:00 in Paris was 09:00 UTC in March (CET), 08:00 UTC in April (CEST).
        assert first.due_at == datetime(2026, 4, 6, 8, 0, tzinfo=UTC)
        assert (first.status, first.version, first.timezone) == (PostStatus.draft, 1, zone)
        assert (first.body, first.link) == ("Base copy", "https://example.org/a")
        assert first.media == [{"media_id": "m1", "alt": "A cat"}]
        assert first.author_id == team.user_ids[Role.editor]
        second = copies[tuesday.title]
        assert second.local_at == datetime(2026, 4, 28, 18, 0)
        assert second.due_at == datetime(2026, 4, 28, 16, 0, tzinfo=UTC)
        assert second.status is PostStatus.draft
        someday = copies["Someday"]
        assert (someday.status, someday.local_at, someday.due_at) == (PostStatus.idea, None, None)

        variants = {
            variant.channel_id: variant
            for variant in (
                await session.scalars(select(Variant).where(Variant.post_id == first.id))
            ).all()
        }
        assert set(variants) == {mastodon.id, bluesky.id}
        toot = variants[mastodon.id]
        assert toot.text == "Toot copy"
        assert toot.local_at == datetime(2026, 4, 6, 11, 15)
        assert toot.due_at == datetime(2026, 4, 6, 9, 15, tzinfo=UTC)
        assert toot.approved_hash is None
        assert toot.content_hash == content_hash(
            effective_content(
                base_text="Base copy",
                base_media=[{"media_id": "m1", "alt": "A cat"}],
                base_link="https://example.org/a",
                text="Toot copy",
                media=None,
                link=None,
            )
        )
        sky = variants[bluesky.id]
        assert (sky.text, sky.local_at, sky.due_at, sky.approved_hash) == (None, None, None, None)
        assert sky.content_hash == inherited.content_hash
        # Deliveries follow the copies: pending at each copy's time, none for the idea.
        deliveries = {
            d.variant_id: d
            for d in await session.scalars(
                select(Delivery).where(Delivery.post_id.in_([first.id, someday.id]))
            )
        }
        assert set(deliveries) == {toot.id, sky.id}
        assert deliveries[toot.id].due_at == toot.due_at
        assert deliveries[sky.id].due_at == first.due_at
        assert {d.status for d in deliveries.values()} == {DeliveryStatus.pending}
        labels = (await session.execute(select(post_label.c.post_id, post_label.c.label_id))).all()
        assert {label for post, label in labels if post == first.id} == {tips.id, news.id}
        assert {label for post, label in labels if post == someday.id} == {news.id}
        # The original is untouched.
        original = await session.get(Post, monday.id)
        assert original is not None and original.status is PostStatus.approved
        assert original.plan_id == plan.id

    again = await client.post(
        f"{team.url()}/{plan.id}/duplicate", json={"period": "2026-04"}, headers=team.owner
    )
    assert (
        again.status_code == 409
        and "already has a month plan for 2026-04" in (again.json()["detail"])
    )
    wrong_kind = await client.post(
        f"{team.url()}/{plan.id}/duplicate", json={"period": "2026-Q2"}, headers=team.owner
    )
    assert wrong_kind.status_code == 422
    viewer = await client.post(
        f"{team.url()}/{plan.id}/duplicate",
        json={"period": "2026-05"},
        headers=team.headers[Role.viewer],
    )
    assert viewer.status_code == 403


async def test_duplicate_reports_copies_landing_in_a_dst_gap_or_overlap(
    client: httpx.AsyncClient, database: Database
) -> None:
    team = await make_team(database, timezone="America/New_York")
    new_york = "America/New_York"
    async with session_scope(database.write_session) as session:
        channel = await make_channel(session, workspace_id=team.workspace_id)
        february = await make_plan(
            session,
            workspace_id=team.workspace_id,
            period="2026-02",
            starts_on=date(2026, 2, 1),
            ends_on=date(2026, 2, 28),
            title="February",
        )
        # Sunday 8 February 02:30 → Sunday 8 March 02:30, inside the spring-forward gap.
        gap = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=february.id,
            title="Night owl",
            **local_post(datetime(2026, 2, 8, 2, 30), new_york),
        )
        await make_variant(session, post=gap, channel=channel)
        september = await make_plan(
            session,
            workspace_id=team.workspace_id,
            period="2026-09",
            starts_on=date(2026, 9, 1),
            ends_on=date(2026, 9, 30),
            title="September",
        )
        # Sunday 27 September 02:30 in Paris → 25 October 02:30, which happens twice.
        twice = await make_post(
            session,
            workspace_id=team.workspace_id,
            plan_id=september.id,
            title="Twice",
            **local_post(datetime(2026, 9, 27, 2, 30), "Europe/Paris"),
        )
        await make_variant(session, post=twice, channel=channel)

    response = await client.post(
        f"{team.url()}/{february.id}/duplicate",
        json={"period": "2026-03", "title": "March"},
        headers=team.owner,
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["plan"]["title"] == "March"
    assert result["posts_copied"] == 1 and result["skipped"] == []
    (warning,) = result["warnings"]
    assert warning["post_id"] == str(gap.id) and warning["title"] == "Night owl"
    assert "2026-03-08 02:30 does not exist in America/New_York" in warning["message"]
    assert "set to 2026-03-08 03:30" in warning["message"]

    overlap = await client.post(
        f"{team.url()}/{september.id}/duplicate", json={"period": "2026-10"}, headers=team.owner
    )
    assert overlap.status_code == 201, overlap.text
    (warning,) = overlap.json()["warnings"]
    assert "2026-10-25 02:30 happens twice in Europe/Paris" in warning["message"]
    assert "first occurrence" in warning["message"]

    async with database.read_session() as session:
        march = (
            await session.scalars(
                select(Post).where(Post.plan_id == uuid.UUID(result["plan"]["id"]))
            )
        ).one()
        assert march.local_at == datetime(2026, 3, 8, 3, 30)
        assert march.local_at.weekday() == 6  # still a Sunday
        assert march.due_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
        october = (
            await session.scalars(
                select(Post).where(Post.plan_id == uuid.UUID(overlap.json()["plan"]["id"]))
            )
        ).one()
        assert october.due_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
        assert october.fold == 0
