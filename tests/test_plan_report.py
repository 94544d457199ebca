"""The plan report on a hand-built plan: planned vs target per ISO week × network,
label mix, days with nothing planned (in the workspace's zone), totals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx

from app.db import Database, session_scope
from app.models import PostStatus, Role
from app.networks.base import Network
from tests.factories import make_channel, make_label, make_plan, make_post, make_variant
from tests.test_plans_api import add_labels, local_post, make_team

PARIS = "Europe/Paris"


def cells(week: dict[str, Any]) -> dict[str, tuple[int, int | None]]:
    return {cell["network"]: (cell["planned"], cell["target"]) for cell in week["networks"]}


async def test_report_of_a_hand_built_december(
    client: httpx.AsyncClient, database: Database
) -> None:
    team = await make_team(database, timezone=PARIS)
    ws = team.workspace_id
    async with session_scope(database.write_session) as session:
        mastodon = await make_channel(session, workspace_id=ws, network=Network.mastodon)
        mastodon_2 = await make_channel(session, workspace_id=ws, network=Network.mastodon)
        bluesky = await make_channel(session, workspace_id=ws, network=Network.bluesky)
        tips = await make_label(session, workspace_id=ws, name="Tips", color="#0ea5e9")
        news = await make_label(session, workspace_id=ws, name="News")
        events = await make_label(session, workspace_id=ws, name="Events")
        unused = await make_label(session, workspace_id=ws, name="Unused")
        plan = await make_plan(
            session,
            workspace_id=ws,
            themes=[{"week": "2026-W50", "theme": "Gifts"}],
            cadence_targets={"mastodon": 3, "x": 1},
            mix_targets={str(tips.id): 50, str(news.id): 20, str(events.id): 10},
        )

        async def post(local: datetime, zone: str = PARIS, **kw: Any) -> Any:
            return await make_post(
                session, workspace_id=ws, plan_id=plan.id, **local_post(local, zone), **kw
            )

        # Week 49 (Tue 1 – Sun 6 December): three Mastodon variants, one Bluesky.
        first = await post(datetime(2026, 12, 1, 10, 0))
        await make_variant(session, post=first, channel=mastodon)
        await make_variant(session, post=first, channel=mastodon_2)
        await make_variant(session, post=first, channel=bluesky)
        await add_labels(session, first, tips)
        second = await post(datetime(2026, 12, 2, 9, 0), status=PostStatus.approved)
        await make_variant(session, post=second, channel=mastodon)
        await add_labels(session, second, tips, news)
        # Week 50: one.
        third = await post(datetime(2026, 12, 9, 18, 0), status=PostStatus.in_review)
        await make_variant(session, post=third, channel=mastodon)
        # Week 53: 31 December 23:30 in New York is already 1 January in Paris, so it
        # counts for week 53 (its own local date) but leaves 31 December empty.
        late = await post(datetime(2026, 12, 31, 23, 30), "America/New_York")
        await make_variant(session, post=late, channel=mastodon)
        # 20 December 00:30 in Paris is 19 December 23:30 UTC: the 20th is planned.
        midnight = await post(datetime(2026, 12, 20, 0, 30))
        await make_variant(session, post=midnight, channel=bluesky)
        # Not counted: an idea, a post outside the period, a post of no plan.
        idea = await make_post(session, workspace_id=ws, plan_id=plan.id, status=PostStatus.idea)
        await make_variant(session, post=idea, channel=mastodon)
        await add_labels(session, idea, events)
        outside = await post(datetime(2027, 1, 5, 9, 0))
        await make_variant(session, post=outside, channel=mastodon)
        stray = await make_post(
            session, workspace_id=ws, **local_post(datetime(2026, 12, 15, 9, 0), PARIS)
        )
        await make_variant(session, post=stray, channel=mastodon)
        await add_labels(session, stray, unused)

    response = await client.get(f"{team.url()}/{plan.id}/report", headers=team.headers[Role.viewer])
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["period"], report["starts_on"], report["ends_on"], report["timezone"]) == (
        "2026-12",
        "2026-12-01",
        "2026-12-31",
        PARIS,
    )

    weeks = {week["week"]: week for week in report["weeks"]}
    assert list(weeks) == ["2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"]
    assert [week["days_in_period"] for week in report["weeks"]] == [6, 7, 7, 7, 4]
    assert weeks["2026-W50"]["theme"] == "Gifts" and weeks["2026-W49"]["theme"] is None
    assert cells(weeks["2026-W49"]) == {"bluesky": (1, None), "mastodon": (3, 3), "x": (0, 1)}
    assert weeks["2026-W49"]["planned"] == 4 and weeks["2026-W49"]["target"] == 4
    assert cells(weeks["2026-W50"]) == {"bluesky": (0, None), "mastodon": (1, 3), "x": (0, 1)}
    assert cells(weeks["2026-W51"]) == {"bluesky": (1, None), "mastodon": (0, 3), "x": (0, 1)}
    assert cells(weeks["2026-W52"]) == {"bluesky": (0, None), "mastodon": (0, 3), "x": (0, 1)}
    assert cells(weeks["2026-W53"]) == {"bluesky": (0, None), "mastodon": (1, 3), "x": (0, 1)}

    mix = {item["name"]: item for item in report["label_mix"]}
    assert set(mix) == {"Tips", "News", "Events"}
    assert (mix["Tips"]["posts"], mix["Tips"]["actual_percent"], mix["Tips"]["target_percent"]) == (
        2,
        40.0,
        50,
    )
    assert mix["Tips"]["color"] == "#0ea5e9"
    assert (mix["News"]["posts"], mix["News"]["actual_percent"]) == (1, 20.0)
    # The idea carries Events, but ideas are not planned posts.
    assert (mix["Events"]["posts"], mix["Events"]["actual_percent"]) == (0, 0.0)
    assert [item["name"] for item in report["label_mix"]] == ["Tips", "News", "Events"]

    busy = {date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 9), date(2026, 12, 20)}
    expected_empty = [
        date(2026, 12, day).isoformat() for day in range(1, 32) if date(2026, 12, day) not in busy
    ]
    assert report["empty_days"] == expected_empty
    assert "2026-12-31" in report["empty_days"]

    totals = report["totals"]
    assert totals["posts"] == 5
    assert totals["ideas"] == 1
    assert totals["outside_period"] == 1
    assert totals["variants"] == 7
    assert totals["target"] == 4 * 5
    assert {
        cell["network"]: (cell["planned"], cell["target"]) for cell in totals["by_network"]
    } == {
        "bluesky": (2, None),
        "mastodon": (5, 15),
        "x": (0, 5),
    }
    assert (totals["days"], totals["empty_days"]) == (31, 27)


async def test_report_of_an_empty_quarter(client: httpx.AsyncClient, database: Database) -> None:
    team = await make_team(database)
    async with session_scope(database.write_session) as session:
        plan = await make_plan(
            session,
            workspace_id=team.workspace_id,
            kind="quarter",
            period="2027-Q1",
            starts_on=date(2027, 1, 1),
            ends_on=date(2027, 3, 31),
        )
    response = await client.get(f"{team.url()}/{plan.id}/report", headers=team.owner)
    assert response.status_code == 200, response.text
    report = response.json()
    assert len(report["weeks"]) == 14
    assert all(week["networks"] == [] and week["target"] is None for week in report["weeks"])
    assert report["label_mix"] == []
    assert len(report["empty_days"]) == 90
    assert report["totals"] == {
        "posts": 0,
        "ideas": 0,
        "variants": 0,
        "target": None,
        "by_network": [],
        "days": 90,
        "empty_days": 90,
        "outside_period": 0,
    }
