"""The iCal feed: admins issue, rotate and delete its secret URL; the feed itself is a
valid calendar (parsed with ``icalendar``) with one event per dated post, at the
exact instant, in the post's own zone."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import select

from app.db import Database, session_scope
from app.ical import service
from app.models import AuditEvent, IcalFeed, Post, PostStatus, Role, utcnow
from app.networks.base import Network
from app.timeutil import to_utc
from tests.factories import make_channel, make_label, make_post, make_variant, make_workspace
from tests.test_plans_api import Team, add_labels, local_post, make_team


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(database)


def _path(url: str) -> str:
    return urlsplit(url).path


async def _issue(client: httpx.AsyncClient, team: Team, role: Role = Role.admin) -> str:
    response = await client.post(team.url("ical-feed"), headers=team.headers[role])
    assert response.status_code in (200, 201), response.text
    return _path(response.json()["url"])


async def _calendar(client: httpx.AsyncClient, path: str) -> Calendar:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def _events(calendar: Calendar) -> dict[str, object]:
    return {str(event["summary"]): event for event in calendar.walk("VEVENT")}


# -- managing the feed ---------------------------------------------------------------------


async def test_admins_create_rotate_and_delete_the_feed(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    url = team.url("ical-feed")
    for role in Role:
        nothing = await client.get(url, headers=team.headers[role])
        assert nothing.status_code == 200, (role, nothing.text)
        assert nothing.json() == {
            "exists": False,
            "prefix": None,
            "created_at": None,
            "rotated_at": None,
        }
    for role in (Role.editor, Role.reviewer, Role.viewer):
        refused = await client.post(url, headers=team.headers[role])
        assert refused.status_code == 403, role
        assert (await client.delete(url, headers=team.headers[role])).status_code == 403, role

    created = await client.post(url, headers=team.headers[Role.admin])
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    first = body["url"]
    assert first.startswith("http://127.0.0.1:8000/ical/cal_") and first.endswith(".ics")
    token = _path(first).removeprefix("/ical/").removesuffix(".ics")
    assert token.startswith(body["prefix"] + "_") and len(token) > 40
    assert body["exists"] is True and body["rotated_at"] is None

    # The token is never shown again: not to the admin, not to a viewer.
    for role in (Role.admin, Role.viewer):
        shown = await client.get(url, headers=team.headers[role])
        assert shown.status_code == 200
        assert token not in shown.text and "url" not in shown.json()
        assert shown.json()["exists"] is True and shown.json()["prefix"] == body["prefix"]
    async with database.read_session() as session:
        row = await session.scalar(
            select(IcalFeed).where(IcalFeed.workspace_id == team.workspace_id)
        )
    assert row is not None and row.created_by_id == team.user_ids[Role.admin]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (await client.get(_path(first))).status_code == 200

    rotated = await client.post(url, headers=team.owner)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["url"]
    assert second != first and rotated.json()["prefix"] != body["prefix"]
    assert rotated.json()["rotated_at"] is not None
    old = await client.get(_path(first))
    assert old.status_code == 404  # at once, with nothing saying it was rotated
    assert old.json() == {"detail": "No such calendar feed.", "errors": []}
    assert (await client.get(_path(second))).status_code == 200

    deleted = await client.delete(url, headers=team.headers[Role.admin])
    assert deleted.status_code == 204
    assert (await client.get(_path(second))).status_code == 404
    assert (await client.get(url, headers=team.owner)).json()["exists"] is False
    again = await client.delete(url, headers=team.owner)
    assert again.status_code == 204  # nothing to delete is not an error

    async with database.read_session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.workspace_id == team.workspace_id)
                .where(AuditEvent.target_type == "ical_feed")
                .order_by(AuditEvent.created_at)
            )
        ).all()
    assert actions == ["ical_feed.created", "ical_feed.rotated", "ical_feed.deleted"]


async def test_each_workspace_has_its_own_feed(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    other = await make_team(database)
    mine, theirs = await _issue(client, team), await _issue(client, other)
    assert mine != theirs
    # Another workspace's admin cannot see or touch this one's feed.
    foreign = await client.post(team.url("ical-feed"), headers=other.headers[Role.admin])
    assert foreign.status_code == 404
    assert (await client.get(mine)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ical/cal_00000000_unknown.ics",
        "/ical/.ics",
        "/ical/" + "x" * 500 + ".ics",
        "/ical/cal_00000000_unknown",
    ],
)
async def test_an_unknown_token_is_404(client: httpx.AsyncClient, team: Team, path: str) -> None:
    await _issue(client, team)
    response = await client.get(path)
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"detail", "errors"} and "token" not in body["detail"].lower()


# -- the calendar ----------------------------------------------------------------------------


def _next_date(after: date, month: int, day: int) -> date:
    candidate = date(after.year, month, day)
    return candidate if candidate > after else date(after.year + 1, month, day)


def _next_fall_back(zone: str, after: date) -> date:
    """The first day after ``after`` on which the zone's clocks go back."""
    tz = ZoneInfo(zone)
    for n in range(1, 366):
        day = after + timedelta(days=n)
        morning = datetime(day.year, day.month, day.day, 0, tzinfo=tz).utcoffset()
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
        assert morning is not None and noon is not None
        if noon < morning:
            return day
    raise AssertionError(f"{zone} has no fall-back within a year")


async def test_the_feed_is_a_calendar_of_dated_posts(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    today = utcnow().date()
    summer = _next_date(today + timedelta(days=2), 7, 15)  # Paris on summer time (UTC+2)
    winter = today + timedelta(days=20)
    fall_back = _next_fall_back("America/New_York", today + timedelta(days=2))
    title = 'Launch, part 1; the "big" one\nsecond line \\ done'
    long_body = "Hello, world; " + "x" * 300

    async with session_scope(database.write_session) as session:
        tips = await make_label(session, workspace_id=team.workspace_id, name="Tips")
        odd = await make_label(session, workspace_id=team.workspace_id, name="News, big")
        mastodon = await make_channel(
            session, workspace_id=team.workspace_id, network=Network.mastodon, name="Our Mastodon"
        )
        sandbox = await make_channel(session, workspace_id=team.workspace_id, name="Test outbox")
        paris = await make_post(
            session,
            workspace_id=team.workspace_id,
            title=title,
            body=long_body,
            status=PostStatus.approved,
            **local_post(datetime(summer.year, summer.month, summer.day, 9, 30), "Europe/Paris"),
        )
        await add_labels(session, paris, tips, odd)
        await make_variant(session, post=paris, channel=mastodon)
        own_time = paris.due_at + timedelta(hours=3)
        await make_variant(
            session,
            post=paris,
            channel=sandbox,
            local_at=datetime(summer.year, summer.month, summer.day, 12, 30),
            due_at=own_time,
        )
        new_york = await make_post(
            session,
            workspace_id=team.workspace_id,
            title="New York morning",
            status=PostStatus.in_review,
            **local_post(datetime(winter.year, winter.month, winter.day, 8), "America/New_York"),
        )
        second_130 = datetime(fall_back.year, fall_back.month, fall_back.day, 1, 30)
        ambiguous = await make_post(
            session,
            workspace_id=team.workspace_id,
            title="Second half past one",
            status=PostStatus.draft,
            local_at=second_130,
            timezone="America/New_York",
            fold=1,
            due_at=to_utc(second_130, "America/New_York", 1),
        )
        in_utc = await make_post(
            session,
            workspace_id=team.workspace_id,
            title="Recent, in UTC",
            status=PostStatus.changes_requested,
            **local_post(datetime.combine(today - timedelta(days=10), datetime.min.time()), "UTC"),
        )
        # Not in the feed: an idea, posts outside the window, another workspace's post.
        await make_post(session, workspace_id=team.workspace_id, title="An idea", status="idea")
        for days in (-120, 400):
            when = datetime.combine(today + timedelta(days=days), datetime.min.time())
            await make_post(
                session,
                workspace_id=team.workspace_id,
                title=f"Far {days}",
                **local_post(when, "UTC"),
            )
        elsewhere = await make_workspace(session)
        await make_post(
            session,
            workspace_id=elsewhere.id,
            title="Someone else's",
            **local_post(datetime.combine(winter, datetime.min.time()), "UTC"),
        )
        expected = {
            p.title: p
            for p in (paris, new_york, ambiguous, in_utc)  # read before the session closes
        }
        due = {p.title: p.due_at for p in expected.values()}
        ids = {p.title: p.id for p in expected.values()}

    path = await _issue(client, team)
    response = await client.get(path)
    raw = response.content
    calendar = await _calendar(client, path)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["x-wr-calname"]).startswith("Almanac – Workspace ")
    events = _events(calendar)
    assert set(events) == set(due), sorted(events)

    for name, event in events.items():
        start = event.decoded("dtstart")
        assert start.tzinfo is not None
        assert start.astimezone(UTC) == due[name], name  # the exact instant
        assert event.decoded("dtend") - start == timedelta(minutes=15)
        assert str(event["uid"]) == f"{ids[name]}@127.0.0.1"
        assert str(event["url"]) == f"http://127.0.0.1:8000/posts/{ids[name]}"
        assert event.decoded("last-modified").tzinfo is not None
        assert event.decoded("dtstamp").tzinfo is not None

    # The post's own zone, with its VTIMEZONE, on summer time.
    launch = events[title]
    assert launch["dtstart"].params["TZID"] == "Europe/Paris"
    assert launch.decoded("dtstart").utcoffset() == timedelta(hours=2)
    assert launch.decoded("dtstart").replace(tzinfo=None) == datetime(
        summer.year, summer.month, summer.day, 9, 30
    )
    zones = {str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")}
    assert zones == {"Europe/Paris", "America/New_York"}
    assert events["New York morning"]["dtstart"].params["TZID"] == "America/New_York"
    # The second 01:30 of a fall-back night cannot be a TZID wall time (that means the
    # first one): it is written in UTC, an hour after the first.
    second = events["Second half past one"]
    assert "TZID" not in second["dtstart"].params
    assert b"TZID" not in second["dtstart"].to_ical()
    assert due["Second half past one"] - to_utc(second_130, "America/New_York", 0) == timedelta(
        hours=1
    )
    assert "TZID" not in events["Recent, in UTC"]["dtstart"].params

    # Text: escaped on the wire, intact once parsed.
    assert str(launch["summary"]) == title
    unfolded = raw.replace(b"\r\n ", b"")
    assert b'SUMMARY:Launch\\, part 1\\; the "big" one\\nsecond line \\\\ done\r\n' in unfolded
    assert sorted(str(c) for c in launch["categories"].cats) == ["News, big", "Tips"]
    assert b"CATEGORIES:News\\, big,Tips\r\n" in unfolded
    description = str(launch["description"])
    lines = description.split("\n")
    assert lines[0] == "Status: approved"
    assert lines[1].startswith("Networks: Our Mastodon (mastodon), Test outbox (sandbox) at ")
    assert "Test outbox (sandbox) at " + f"{summer:%Y-%m-%d} 12:30 CEST" in lines[1]
    assert lines[3] == long_body[:200] + "…"
    assert lines[-1] == f"Open in Almanac: http://127.0.0.1:8000/posts/{ids[title]}"

    assert str(launch["status"]) == "CONFIRMED"
    assert str(events["New York morning"]["status"]) == "TENTATIVE"
    assert str(events["Second half past one"]["status"]) == "TENTATIVE"
    assert str(events["Recent, in UTC"]["status"]) == "TENTATIVE"
    assert str(events["New York morning"]["description"]).startswith(
        "Status: in review\nNetworks: none yet"
    )
    assert "categories" not in events["New York morning"]


async def test_the_feed_is_cacheable_until_something_changes(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    when = datetime.combine(utcnow().date() + timedelta(days=5), datetime.min.time())
    async with session_scope(database.write_session) as session:
        post = await make_post(session, workspace_id=team.workspace_id, **local_post(when, "UTC"))
        post_id = post.id
    path = await _issue(client, team)
    first = await client.get(path)
    assert first.headers["cache-control"] == "private, max-age=300"
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    again = await client.get(path)
    assert again.headers["etag"] == etag and again.content == first.content

    unchanged = await client.get(path, headers={"if-none-match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    strong = etag.removeprefix("W/")
    assert (await client.get(path, headers={"if-none-match": f'"x", {strong}'})).status_code == 304

    async with session_scope(database.write_session) as session:
        stored = await session.get(Post, post_id)
        assert stored is not None
        stored.title = "Renamed"
    renamed = await client.get(path, headers={"if-none-match": etag})
    assert renamed.status_code == 200 and renamed.headers["etag"] != etag
    assert set(_events(Calendar.from_ical(renamed.content))) == {"Renamed"}

    async with session_scope(database.write_session) as session:
        await make_post(session, workspace_id=team.workspace_id, **local_post(when, "UTC"))
    added = await client.get(path, headers={"if-none-match": renamed.headers["etag"]})
    assert added.status_code == 200 and len(Calendar.from_ical(added.content).walk("VEVENT")) == 2


async def test_an_empty_workspace_has_an_empty_calendar(
    client: httpx.AsyncClient, team: Team
) -> None:
    path = await _issue(client, team)
    calendar = await _calendar(client, path)
    assert calendar.walk("VEVENT") == [] and calendar.walk("VTIMEZONE") == []
    raw = (await client.get(path)).content
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in raw
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in raw


# -- pure pieces -------------------------------------------------------------------------------


def test_times_are_written_in_the_zone_unless_ambiguous() -> None:
    paris = ZoneInfo("Europe/Paris")
    summer = datetime(2027, 7, 1, 7, 30, tzinfo=UTC)
    assert service.ical_time(summer, paris) == summer
    assert service.ical_time(summer, paris).tzinfo is paris
    assert service.ical_time(summer, None).tzinfo is UTC
    # 2027-10-31 02:30 happens twice in Paris: the first (00:30 UTC) keeps its zone,
    # the second (01:30 UTC) is written in UTC.
    first, second = (datetime(2027, 10, 31, h, 30, tzinfo=UTC) for h in (0, 1))
    assert service.ical_time(first, paris).tzinfo is paris
    assert service.ical_time(second, paris).tzinfo is UTC
    assert service.ical_time(second, paris) == second


def test_the_window_is_whole_days() -> None:
    window = service.Window.around(datetime(2026, 11, 22, 17, 5, tzinfo=UTC))
    assert window.start == datetime(2026, 8, 24, tzinfo=UTC)
    assert window.end == datetime(2027, 11, 23, tzinfo=UTC)


def test_tokens_are_random_and_prefixed() -> None:
    tokens = {service.new_feed_token() for _ in range(20)}
    assert len({token for token, _ in tokens}) == 20
    for token, prefix in tokens:
        assert token.startswith(prefix + "_") and prefix.startswith("cal_")
        assert len(prefix) <= 16 and "/" not in token and "." not in token
    assert service.feed_url("https://almanac.example/", "abc") == (
        "https://almanac.example/ical/abc.ics"
    )
