"""The review inbox, post detail, overdue, notifications and settings pages over HTTP
(the browser tests drive them in Chromium; these check what the server renders)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.db import Database, session_scope
from app.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    MetricSnapshot,
    Role,
    SnapshotKind,
    WebhookDelivery,
    WebhookDeliveryStatus,
    utcnow,
)
from app.networks.base import Network
from app.web.display import diff_lines, due_in, text_diff
from tests.test_approvals import new_post, step
from tests.test_channels_api import Team, make_team
from tests.test_posts_api import add_channel, posts_url

HTML = {"accept": "text/html"}


@pytest.fixture
async def team(database: Database) -> Team:
    return await make_team(
        database, (Role.owner, Role.admin, Role.editor, Role.reviewer, Role.viewer)
    )


async def page(
    client: httpx.AsyncClient, team: Team, rest: str, role: Role = Role.owner
) -> httpx.Response:
    return await client.get(
        f"/w/{team.workspace_id}/{rest}", headers={**team.headers[role], **HTML}
    )


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def submitted_post(
    client: httpx.AsyncClient, team: Team, channels: list[uuid.UUID], **body: Any
) -> dict[str, Any]:
    post = await new_post(client, team, channels, **body)
    return await step(client, team, post, "submit", Role.editor)


# -- pure helpers -------------------------------------------------------------------


def test_diff_lines_say_added_and_removed_in_words() -> None:
    lines = text_diff("Spring roast\nSee you", "Spring roast, now 10% off\nSee you")
    assert [(line.kind, line.text) for line in lines] == [
        ("removed", "Spring roast"),
        ("added", "Spring roast, now 10% off"),
        ("context", "See you"),
    ]
    assert [line.word for line in lines] == ["Removed", "Added", "Unchanged"]
    assert text_diff("same", "same") == []
    notes = diff_lines(["--- approved", "+++ now", "@@ -1 +1 @@", "link: a → b", "media changed"])
    assert [(line.kind, line.sign) for line in notes] == [("note", "•"), ("note", "•")]


def test_due_in_words() -> None:
    assert due_in(None) == "no date"
    assert due_in(3 * 3600 + 5 * 60) == "due in 3 h 5 min"
    assert due_in(-90) == "overdue by 1 min"
    assert due_in(2 * 86400 + 3600) == "due in 2 days 1 h"
    assert due_in(20) == "due in less than a minute"


# -- inbox --------------------------------------------------------------------------


async def test_inbox_lists_posts_waiting_soonest_first_with_the_diff_per_channel(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x, name="Our X")
    mastodon = await add_channel(database, team, Network.mastodon, name="Our Mastodon")
    later = await submitted_post(
        client, team, [x], title="Later post", local_at="2026-12-20T09:00:00"
    )
    sooner = await submitted_post(
        client, team, [x, mastodon], title="Sooner post", local_at="2026-12-05T09:00:00"
    )
    # Approve "sooner", then edit its X copy: the inbox shows that diff, per channel.
    sooner = await step(client, team, sooner, "approve", Role.reviewer)
    edited = await client.put(
        posts_url(team, sooner["id"], "variants", str(x)),
        json={"text": "Our spring roast is here, now 10% off.", "version": sooner["version"]},
        headers=team.headers[Role.editor],
    )
    assert edited.status_code == 200, edited.text

    response = await page(client, team, "inbox", Role.reviewer)
    assert response.status_code == 200
    html = response.text
    assert html.index("Sooner post") < html.index("Later post")
    text = visible_text(html)
    assert "Removed: Our spring roast is here." in text
    assert "Added: Our spring roast is here, now 10% off." in text
    assert "Unchanged" in text and "New copy" in text  # Mastodon untouched; "later" new
    assert (
        f'data-step-url="/api/v1/workspaces/{team.workspace_id}/posts/{later["id"]}/approve"'
        in html
    )
    assert 'aria-keyshortcuts="a"' in html and 'for="comment-' in html
    assert "review.css" in html and "review.js" in html
    # The frame: an Inbox link with the count of posts in review, for reviewers.
    assert re.search(r'href="/w/[^"]+/inbox"[^>]*>\s*Inbox <span class="badge">2', html)


async def test_inbox_for_the_author_and_for_roles_that_do_not_review(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    await submitted_post(client, team, [x], title="Mine")
    editor = await page(client, team, "inbox", Role.editor)
    assert editor.status_code == 200
    assert "does not review posts" in editor.text and "Mine" not in editor.text
    viewer = await page(client, team, "inbox", Role.viewer)
    assert viewer.status_code == 200 and "Mine" not in viewer.text
    reviewer = await page(client, team, "inbox", Role.reviewer)
    assert "Mine" in reviewer.text


# -- notifications ------------------------------------------------------------------


async def test_notifications_page_lists_mine_and_the_bell_counts_them(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x)
    post = await submitted_post(client, team, [x], title="Bell test")
    response = await page(client, team, "notifications", Role.reviewer)
    assert response.status_code == 200
    html = response.text
    assert "submitted “Bell test” for review" in html
    assert f'href="/w/{team.workspace_id}/posts/{post["id"]}/detail"' in html
    assert "Notifications, 1 unread" in html and "Mark all as read" in html
    # The editor caused it: nothing for them.
    editor = await page(client, team, "notifications", Role.editor)
    assert "Bell test" not in editor.text and "Nothing unread." in editor.text

    marked = await client.post(
        f"/api/v1/workspaces/{team.workspace_id}/notifications/read",
        json={"all": True},
        headers=team.headers[Role.reviewer],
    )
    assert marked.status_code == 200
    after = await page(client, team, "notifications?unread=true", Role.reviewer)
    assert "No unread notification." in after.text and "1 unread" not in after.text
    everything = await page(client, team, "notifications", Role.reviewer)
    assert "Bell test" in everything.text and "data-mark-read" not in everything.text


# -- post detail --------------------------------------------------------------------


async def test_post_detail_shows_steps_deliveries_revisions_and_comments(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x, name="Our X")
    post = await new_post(client, team, [x], title="Detail post")
    edited = await client.patch(
        posts_url(team, post["id"]),
        json={"body": "Our spring roast is here. Come by!", "version": post["version"]},
        headers=team.headers[Role.editor],
    )
    assert edited.status_code == 200, edited.text
    post = edited.json()
    await client.post(
        posts_url(team, post["id"], "comments"),
        json={"body": "Nice one"},
        headers=team.headers[Role.reviewer],
    )

    draft = await page(client, team, f"posts/{post['id']}/detail", Role.editor)
    assert draft.status_code == 200
    text = visible_text(draft.text)
    assert "Submit for review" in text and "Approve" not in text.split("Deliveries")[0]
    assert "Added: Our spring roast is here. Come by!" in text  # the edit's diff
    assert "Removed: Our spring roast is here." in text
    assert "Restore version 1" in text and "Nice one" in text
    assert "Pending" in text and "waits for the approval of its copy" in text

    post = await step(client, team, post, "submit", Role.editor)
    reviewer = await page(client, team, f"posts/{post['id']}/detail", Role.reviewer)
    text = visible_text(reviewer.text)
    assert "Approve" in text and "Request changes" in text
    assert "Submit for review" not in text and "Restore version" not in text  # no writing
    # Four eyes: the author (the editor) gets no Approve button on their post.
    author = visible_text(
        (await page(client, team, f"posts/{post['id']}/detail", Role.editor)).text
    )
    assert "Withdraw from review" in author and "Request changes" not in author

    post = await step(client, team, post, "approve", Role.reviewer)
    approved = await page(client, team, f"posts/{post['id']}/detail", Role.editor)
    text = visible_text(approved.text)
    assert "Unschedule" in text and "Publish now" in text
    assert "Our X" in text and "Pending" in text
    viewer = visible_text(
        (await page(client, team, f"posts/{post['id']}/detail", Role.viewer)).text
    )
    assert "Publish now" not in viewer and "Unschedule" not in viewer and "Pending" in viewer
    other = await client.get(
        f"/w/{team.workspace_id}/posts/{uuid.uuid4()}/detail",
        headers={**team.owner, **HTML},
    )
    assert other.status_code == 404


async def test_post_detail_shows_attempts_errors_links_and_metrics(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x, name="Our X")
    mastodon = await add_channel(database, team, Network.mastodon, name="Our Mastodon")
    post = await new_post(client, team, [x, mastodon], title="Went out")
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    now = utcnow()
    async with session_scope(database.write_session) as session:
        rows = {
            d.channel_id: d
            for d in (
                await session.scalars(
                    select(Delivery).where(Delivery.post_id == uuid.UUID(post["id"]))
                )
            ).all()
        }
        published, unsure = rows[x], rows[mastodon]
        published.status = DeliveryStatus.published
        published.external_id = "1799"
        published.external_url = "https://x.example/acme/status/1799"
        published.published_at = now
        unsure.status = DeliveryStatus.uncertain
        unsure.last_error = "The process stopped while sending; it may be out."
        for delivery, outcome, error in (
            (published, AttemptOutcome.published, None),
            (unsure, AttemptOutcome.lease_expired, "Lease expired mid-request."),
        ):
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    started_at=now,
                    finished_at=now,
                    outcome=outcome,
                    error=error,
                    process_id="test",
                )
            )
        session.add(
            MetricSnapshot(
                delivery_id=published.id,
                kind=SnapshotKind.hour,
                taken_at=now,
                likes=12,
                reposts=3,
                replies=1,
                views=None,
            )
        )
    response = await page(client, team, f"posts/{post['id']}/detail", Role.editor)
    assert response.status_code == 200
    html = response.text
    text = visible_text(html)
    assert 'href="https://x.example/acme/status/1799"' in html
    assert "Published" in text and "Take down" in text
    assert "Uncertain: needs a decision" in text and "Retry anyway" in text
    assert "Mark as published" in text and "may publish it twice" in html
    assert "Lease expired mid-request." in text and "lease_expired" in text
    assert "The process stopped while sending" in text
    metrics = text.split("Metrics", 1)[1]
    assert "1h" in metrics and "12" in metrics and "—" in metrics


# -- overdue ------------------------------------------------------------------------


async def test_overdue_page_after_a_resume(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    x = await add_channel(database, team, Network.x, name="Our X")
    post = await new_post(client, team, [x], title="Late one")
    post = await step(client, team, post, "submit", Role.editor)
    post = await step(client, team, post, "approve", Role.reviewer)
    ws_api = f"/api/v1/workspaces/{team.workspace_id}"
    paused = await client.post(f"{ws_api}/pause", json={"reason": "Storm"}, headers=team.owner)
    assert paused.status_code == 200, paused.text
    async with session_scope(database.write_session) as session:  # its time passes
        await session.execute(
            update(Delivery)
            .where(Delivery.post_id == uuid.UUID(post["id"]))
            .values(due_at=utcnow() - timedelta(minutes=20), next_attempt_at=utcnow())
        )
    during = await page(client, team, "overdue", Role.editor)
    assert "No post waits for a decision." in during.text
    resumed = await client.post(f"{ws_api}/resume", headers=team.owner)
    assert resumed.status_code == 200, resumed.text

    response = await page(client, team, "overdue", Role.editor)
    assert response.status_code == 200
    text = visible_text(response.text)
    assert "Late one" in text and "20 min late" in text
    assert "Publish now" in text and "Shift later by (minutes)" in text and "Skip" in text
    assert re.search(
        r'href="/w/[^"]+/overdue"[^>]*>\s*Overdue <span class="badge">1', response.text
    )
    viewer = visible_text((await page(client, team, "overdue", Role.viewer)).text)
    assert "Late one" in viewer and "Shift later" not in viewer

    skipped = await client.post(
        f"{ws_api}/overdue/{post['id']}", json={"decision": "skip"}, headers=team.owner
    )
    assert skipped.status_code == 200, skipped.text
    after = await page(client, team, "overdue", Role.editor)
    assert "No post waits for a decision." in after.text and "Overdue <span" not in after.text


# -- settings -----------------------------------------------------------------------


async def test_settings_page_policy_members_and_webhooks(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    created = await client.post(
        f"/api/v1/workspaces/{team.workspace_id}/webhooks",
        json={"url": "https://hooks.example.org/almanac", "event_types": ["missed"]},
        headers=team.owner,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    async with session_scope(database.write_session) as session:
        session.add(
            WebhookDelivery(
                workspace_id=team.workspace_id,
                endpoint_id=uuid.UUID(created.json()["id"]),
                event_id=uuid.uuid4(),
                event_type="missed",
                payload={},
                status=WebhookDeliveryStatus.failed,
                attempts=5,
                last_status_code=500,
                last_error="The receiver answered HTTP 500.",
                attempt_log=[],
            )
        )
    admin = await page(client, team, "settings", Role.admin)
    assert admin.status_code == 200
    html = admin.text
    text = visible_text(html)
    assert "Save settings" in text and 'name="lateness_limit_minutes"' in html
    assert "https://hooks.example.org/…" in text and "A post missed its time" in text
    assert "/almanac" not in text  # the URL's path may be the receiver's secret
    assert "1 failed" in text and "HTTP 500" in text and "The receiver answered HTTP 500." in text
    assert "Add webhook" in text and secret not in html
    for role in Role:  # every member is listed, a select where the admin may change the role
        shown = rf'value="{role.value}" selected>|>\s*{role.value.capitalize()}\s*</td>'
        assert re.search(shown, html), role
    assert 'aria-label="Role of' in html and "Invite someone" in text

    editor = await page(client, team, "settings", Role.editor)
    assert editor.status_code == 200
    assert "Only admins and owners change these." in editor.text
    assert "Save settings" not in editor.text and "hooks.example.org" not in editor.text
    assert "Webhooks" not in visible_text(editor.text)
