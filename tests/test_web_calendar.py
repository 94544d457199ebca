"""The calendar pages over HTTP: month, week, quarter and list views, filters, zones."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, update

from app.db import Database, session_scope
from app.models import Delivery, DeliveryStatus, Role
from app.networks.base import Network
from app.web.calendar_pages import CHIPS_PER_DAY
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, add_label, add_plan, create_post

HTML = {"accept": "text/html"}
# Paris, clocks going back: 02:30 happens twice on 2026-10-25.
AMBIGUOUS = "2026-10-25T02:30:00"


@pytest.fixture
async def team(database: Database, client: httpx.AsyncClient) -> Team:
    """A workspace in Paris time, with an owner and a viewer."""
    team = await make_team(database, (Role.owner, Role.viewer))
    response = await client.patch(
        f"/api/v1/workspaces/{team.workspace_id}",
        json={"timezone": "Europe/Paris"},
        headers=team.owner,
    )
    assert response.status_code == 200, response.text
    return team


def page_url(team: Team, rest: str = "calendar") -> str:
    return f"/w/{team.workspace_id}/{rest}"


def chip_ids(html: str) -> list[str]:
    return re.findall(r'class="chip st-[a-z_]+" href="[^"]+" data-post="([^"]+)"', html)


async def get(client: httpx.AsyncClient, team: Team, url: str, role: Role = Role.owner):
    return await client.get(url, headers={**team.headers[role], **HTML})


async def test_the_workspace_opens_on_its_calendar(client: httpx.AsyncClient, team: Team) -> None:
    response = await get(client, team, f"/w/{team.workspace_id}")
    assert response.status_code == 303
    assert response.headers["location"] == page_url(team)


async def test_month_shows_posts_on_their_days_with_the_theme_of_the_week(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    masto = await add_channel(database, team, Network.mastodon)
    label = await add_label(database, team, name="Launch week", color="#aa3300")
    await add_plan(database, team, themes=[{"week": "2026-W49", "theme": "Release party"}])
    first = await create_post(
        client, team, title="Release notes", channels=[str(x), str(masto)], labels=[str(label)]
    )
    second = await create_post(
        client, team, title="Only on X", local_at="2026-12-20T18:00:00", channels=[str(x)]
    )
    response = await get(client, team, page_url(team) + "?month=2026-12")
    assert response.status_code == 200
    html = response.text
    assert '<h1 id="cal-title">December 2026</h1>' in html
    assert chip_ids(html) == [first["id"], second["id"]]
    # On its day (Paris wall time 09:30), with its networks, status and label.
    cell = html[html.index('data-day="2026-12-03">') : html.index('data-day="2026-12-04">')]
    assert "<time>09:30</time>" in cell and "Release notes" in cell
    assert "Mastodon, X; Draft" in cell and "Launch week" in cell
    assert re.findall(r'<use href="[^"]*networks\.svg\?v=[^"#]+#(\w+)"', cell) == ["mastodon", "x"]
    assert 'data-version="1"' in cell and 'data-local="2026-12-03T09:30:00"' in cell
    assert "Release party" in html
    assert "Previous" in html and "?view=month&amp;month=2026-11" in html

    only_mastodon = await get(client, team, page_url(team) + "?month=2026-12&network=mastodon")
    assert chip_ids(only_mastodon.text) == [first["id"]]
    by_label = await get(client, team, page_url(team) + f"?month=2026-12&label={label}")
    assert chip_ids(by_label.text) == [first["id"]]
    by_channel = await get(client, team, page_url(team) + f"?month=2026-12&channel={x}")
    assert chip_ids(by_channel.text) == [first["id"], second["id"]]
    approved = await get(client, team, page_url(team) + "?month=2026-12&status=approved")
    assert chip_ids(approved.text) == []


async def test_another_zone_moves_posts_across_midnight(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    await create_post(client, team, title="Late", local_at="2026-12-03T23:30:00", channels=[str(x)])
    paris = await get(client, team, page_url(team) + "?month=2026-12")
    assert 'data-day="2026-12-03"' in paris.text.split("Late")[0].rsplit("<td", 1)[1]
    tokyo = await get(client, team, page_url(team) + "?month=2026-12&tz=Asia/Tokyo")
    cell = tokyo.text.split("Late")[0].rsplit("<td", 1)[1]
    assert 'data-day="2026-12-04"' in cell
    assert "<time>07:30</time>" in tokyo.text
    assert "times in <strong>Asia/Tokyo</strong>" in tokyo.text


async def test_week_quarter_and_list_views(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    plan = await add_plan(database, team, cadence_targets={"x": 3})
    post = await create_post(client, team, title="Weekly", channels=[str(x)], plan_id=str(plan))
    week = await get(client, team, page_url(team) + "?view=week&week=2026-12-03")
    assert week.status_code == 200 and "Week 49" in week.text
    assert chip_ids(week.text) == [post["id"]]
    quarter = await get(client, team, page_url(team) + "?view=quarter&month=2026-11")
    assert quarter.status_code == 200
    assert "2026 Q4" in quarter.text and "1 post" in quarter.text
    assert "Cadence per network" in quarter.text and "short" in quarter.text
    listing = await get(client, team, page_url(team) + "?view=list&month=2026-12")
    assert listing.status_code == 200 and "Weekly" in listing.text
    assert f'data-move-inline="{post["id"]}"' in listing.text
    assert re.search(r'<use href="[^"]*networks\.svg\?v=[^"#]+#x"', listing.text)
    assert re.search(r'<use href="[^"]*networks\.svg\?v=[^"#]+#x"', week.text)


async def test_viewers_read_without_write_controls(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    await create_post(client, team, channels=[str(x)])
    response = await get(client, team, page_url(team) + "?month=2026-12", Role.viewer)
    assert response.status_code == 200
    assert 'draggable="true"' not in response.text
    assert "New post" not in response.text and "Pause publishing" not in response.text


@pytest.mark.parametrize(
    ("query", "field"),
    [("month=2026-13", "month"), ("tz=Mars/Base", "tz"), ("view=week&week=yesterday", "week")],
)
async def test_bad_parameters_are_a_clear_error(
    client: httpx.AsyncClient, team: Team, query: str, field: str
) -> None:
    response = await client.get(page_url(team) + "?" + query, headers=team.owner)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_paused_workspace_shows_the_banner(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    pause = await client.post(
        f"/api/v1/workspaces/{team.workspace_id}/pause",
        json={"reason": "Crisis"},
        headers=team.owner,
    )
    assert pause.status_code == 200, pause.text
    await add_channel(database, team, Network.x, name="Our X", paused=True)
    html = (await get(client, team, page_url(team))).text
    assert "Publishing is paused for" in html and "Reason: Crisis" in html
    assert "Publishing to the channel Our X is paused" in html
    assert "Resume publishing" in html


def day_cell(html: str, day: str) -> str:
    start = html.index(f'data-day="{day}">')
    return html[start : html.index("</td>", start)]


async def test_a_busy_day_shows_its_first_posts_and_a_link_to_the_rest(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    masto = await add_channel(database, team, Network.mastodon)
    # Created latest first: the chips are in time order all the same.
    hours = [20, 18, 16, 14, 12, 10, 8]
    busy = [
        await create_post(
            client,
            team,
            title=f"At {hour}",
            local_at=f"2026-12-03T{hour:02d}:00:00",
            channels=[str(x if hour < 16 else masto)],
        )
        for hour in hours
    ]
    for hour in range(9, 9 + CHIPS_PER_DAY):
        await create_post(client, team, local_at=f"2026-12-04T{hour:02d}:00:00", channels=[str(x)])

    html = (await get(client, team, page_url(team) + "?month=2026-12")).text
    cell = day_cell(html, "2026-12-03")
    by_time = [p["id"] for p in reversed(busy)]
    assert chip_ids(cell) == by_time[:CHIPS_PER_DAY]
    assert '<p class="day-count">7 posts</p>' in cell
    more = re.search(r'<a class="day-more" href="([^"]+)">(.*?)</a>', cell)
    assert more is not None
    assert more[2] == (
        '<span aria-hidden="true">+</span>2 more'
        '<span class="visually-hidden"> posts on 3 December 2026</span>'
    )
    # To the week view, on that day, where every post of the day is.
    assert more[1] == page_url(team) + "?view=week&amp;week=2026-12-03#day-2026-12-03"
    week = (await get(client, team, more[1].replace("&amp;", "&"))).text
    assert 'id="day-2026-12-03"' in week
    day_four = [i for i in chip_ids(html) if i not in by_time]
    assert set(chip_ids(week)) == set(by_time) | set(day_four)
    # The whole month's count, not the chips shown.
    assert f"{7 + CHIPS_PER_DAY} posts" in html

    # A day with exactly as many posts as chips has no link.
    full = day_cell(html, "2026-12-04")
    assert len(chip_ids(full)) == CHIPS_PER_DAY and "day-more" not in full

    # Filters apply to the count, and the link keeps them and the zone.
    only_mastodon = await get(client, team, page_url(team) + "?month=2026-12&network=mastodon")
    cell = day_cell(only_mastodon.text, "2026-12-03")
    assert '<p class="day-count">3 posts</p>' in cell and "day-more" not in cell
    drafts = await get(client, team, page_url(team) + "?month=2026-12&tz=UTC&status=draft")
    assert "?view=week&amp;week=2026-12-03&amp;tz=UTC&amp;status=draft#day-2026-12-03" in (
        day_cell(drafts.text, "2026-12-03")
    )
    assert "day-count" not in day_cell(drafts.text, "2026-12-05")


async def test_posts_land_on_their_day_at_midnight_and_across_a_dst_change(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    # Paris springs forward on 28 March 2027 (02:00 → 03:00).
    times = {
        "2027-03-27T23:59:00": "2027-03-27",
        "2027-03-28T00:00:00": "2027-03-28",
        "2027-03-28T23:59:00": "2027-03-28",
        "2027-03-29T00:00:00": "2027-03-29",
        "2027-03-01T00:00:00": "2027-03-01",  # the first day of the range
        "2027-04-04T23:59:00": "2027-04-04",  # the last day of the grid
    }
    ids = {}
    for local_at in times:
        post = await create_post(client, team, title=local_at, local_at=local_at, channels=[str(x)])
        ids[post["id"]] = times[local_at]
    html = (await get(client, team, page_url(team) + "?month=2027-03")).text
    placed = {}
    for day in set(times.values()):
        for post_id in chip_ids(day_cell(html, day)):
            placed[post_id] = day
    assert placed == ids
    midnight = day_cell(html, "2027-03-28")
    assert "<time>00:00</time>" in midnight and "<time>23:59</time>" in midnight
    # The same rule in the quarter's counts.
    quarter = (await get(client, team, page_url(team) + "?view=quarter&month=2027-03")).text
    assert "5 posts" in quarter


async def test_chips_show_the_deliveries_outcome_once_publishing_started(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    """DESIGN: the workflow status until a delivery leaves pending, then the outcome."""
    x = await add_channel(database, team, Network.x)
    masto = await add_channel(database, team, Network.mastodon)
    waiting = await create_post(client, team, title="Waiting", channels=[str(x)])
    half = await create_post(
        client, team, title="Half out", channels=[str(x), str(masto)], local_at=AMBIGUOUS, fold=1
    )
    # Drafts have their deliveries already, pending (waiting for their time and approval).
    async with session_scope(database.write_session) as db:
        pending = (await db.scalars(select(Delivery.post_id))).all()
        assert sorted(map(str, pending)) == sorted([waiting["id"], half["id"], half["id"]])
        await db.execute(
            update(Delivery)
            .where(Delivery.post_id == uuid.UUID(half["id"]), Delivery.channel_id == x)
            .values(
                status=DeliveryStatus.published, published_at=datetime(2026, 10, 25, tzinfo=UTC)
            )
        )
    for month in ("2026-10", "2026-12"):
        html = (await get(client, team, page_url(team) + f"?month={month}")).text
        chip = re.search(
            r'<a class="chip st-([a-z_]+)"[^>]*data-fold="(\d)"[^>]*>(.*?)</a>', html, re.S
        )
        assert chip is not None
        if month == "2026-10":
            assert chip.group(1, 2) == ("partially_published", "1")
            assert "; Partially published</span>" in chip.group(3)
        else:
            assert chip.group(1, 2) == ("draft", "0")
            assert "; Draft</span>" in chip.group(3)
    listing = (await get(client, team, page_url(team) + "?view=list&month=2026-10")).text
    assert '<span class="status st-partially_published">Partially published</span>' in listing
    assert 'data-fold="1"' in listing
