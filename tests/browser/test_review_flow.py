"""Review and crisis in a real browser: submit a post, approve it from the reviewer's
inbox by keyboard (and send another back with a comment), read notifications, pause
and see the banner, resume and decide on the overdue post, the settings page. axe-core
checks every page; each test saves screenshots under its output folder.

The tests share one installation (owner + reviewer, a sandbox channel) and run in
order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import LiveServer, join_by_invitation, set_up_owner, watched
from tests.browser.test_workspace_pages import check_accessibility, no_sideways_scroll, shot

OWNER = "owner@example.org"
REVIEWER = "rita@example.org"
PASSWORD = "a long enough password"
ZONE = "Europe/Paris"
expect.set_options(timeout=10_000)


@dataclass
class Install:
    url: str
    ws: str
    sandbox: str
    tokens: dict[str, str] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def page(self, rest: str) -> str:
        return f"/w/{self.ws}/{rest}"

    def api(self, method: str, rest: str, who: str = OWNER, **kw: Any) -> dict[str, Any]:
        with httpx.Client(base_url=self.url) as http:
            response = http.request(
                method,
                f"/api/v1/workspaces/{self.ws}/{rest}",
                headers={"authorization": f"Bearer {self.tokens[who]}"},
                **kw,
            )
        assert response.is_success, response.text
        return response.json() if response.content else {}


def local_in(minutes: int) -> str:
    """A wall time in the workspace zone, ``minutes`` from now (negative: the past)."""
    return (datetime.now(ZoneInfo(ZONE)) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def token(http: httpx.Client, email: str) -> str:
    issued = http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert issued.status_code == 201, issued.text
    return str(issued.json()["token"])


def install_team(server: LiveServer) -> Install:
    """An owner, a reviewer who joined through an invitation link, a workspace in
    Paris time with a sandbox channel (set up through the API, as a script would)."""
    with httpx.Client(base_url=server.url) as http:
        owner = set_up_owner(http, name="Casey Owner", email=OWNER, password=PASSWORD)
        made = http.post(
            "/api/v1/workspaces", json={"name": "Acme Crew", "timezone": ZONE}, headers=owner
        )
        assert made.status_code == 201, made.text
        ws = made.json()["id"]
        channel = http.post(
            f"/api/v1/workspaces/{ws}/channels",
            json={"network": "sandbox", "name": "Try-out", "credentials": {"handle": "acme"}},
            headers=owner,
        )
        assert channel.status_code == 201, channel.text
        join_by_invitation(
            http,
            ws,
            owner,
            email=REVIEWER,
            role="reviewer",
            name="Rita Reviewer",
            password=PASSWORD,
        )
        install = Install(server.url, ws, channel.json()["id"])
        install.tokens = {OWNER: owner["authorization"].split()[1], REVIEWER: token(http, REVIEWER)}
    return install


def signed_in_context(browser: Browser, server: LiveServer, ws: str, email: str) -> BrowserContext:
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    tab = ctx.new_page()
    tab.goto(f"/w/{ws}/inbox")
    expect(tab).to_have_url(re.compile(r"/sign-in\?next="))
    tab.get_by_label("E-mail").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Review inbox")
    tab.close()
    return ctx


@pytest.fixture(scope="module")
def team(live_server: LiveServer) -> Install:
    return install_team(live_server)


@pytest.fixture(scope="module")
def owner(browser: Browser, live_server: LiveServer, team: Install) -> Iterator[BrowserContext]:
    ctx = signed_in_context(browser, live_server, team.ws, OWNER)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def reviewer(browser: Browser, live_server: LiveServer, team: Install) -> Iterator[BrowserContext]:
    ctx = signed_in_context(browser, live_server, team.ws, REVIEWER)
    yield ctx
    ctx.close()


@pytest.fixture
def owner_page(owner: BrowserContext) -> Iterator[Page]:
    tab, errors = watched(owner)
    yield tab
    tab.close()
    assert errors == [], f"errors in the page: {errors}"


@pytest.fixture
def reviewer_page(reviewer: BrowserContext) -> Iterator[Page]:
    tab, errors = watched(reviewer)
    yield tab
    tab.close()
    assert errors == [], f"errors in the page: {errors}"


def test_submit_a_post(owner_page: Page, team: Install, axe_script: str, tmp_path: Path) -> None:
    page = owner_page
    for title, minutes in (("Summer menu", 24 * 60), ("Autumn teaser", 48 * 60)):
        post = team.api(
            "POST",
            "posts",
            json={
                "title": title,
                "body": f"{title}: coming soon.",
                "local_at": local_in(minutes),
                "timezone": ZONE,
                "channels": [team.sandbox],
            },
        )
        team.posts[title] = post
        page.goto(team.page(f"posts/{post['id']}/detail"))
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator("[data-post-status]")).to_have_text("Draft")
        if title == "Summer menu":
            check_accessibility(page, axe_script, "post detail (draft)")
        page.get_by_role("button", name="Submit for review").click()
        expect(page.locator("[data-post-status]")).to_have_text("In review")
    # The author may take it back, not approve it (four eyes).
    expect(page.get_by_role("button", name="Withdraw from review")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    check_accessibility(page, axe_script, "post detail (in review)")
    shot(page, tmp_path, "post-in-review")


def test_reviewer_approves_from_the_inbox_by_keyboard(
    reviewer_page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page = reviewer_page
    page.goto(team.page("inbox"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Review inbox")
    items = page.locator("[data-review]")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Summer menu")  # soonest first
    expect(items.first).to_contain_text("due in 23 h")
    expect(items.first).to_contain_text("New copy")
    # The bell counts the two "submitted" notifications.
    expect(page.get_by_role("link", name="Notifications, 2 unread")).to_be_visible()
    check_accessibility(page, axe_script, "inbox")
    shot(page, tmp_path, "inbox")

    # Keyboard: j goes to the first post, a approves it; focus moves to the next one.
    page.locator("body").press("j")
    expect(items.first).to_be_focused()
    page.keyboard.press("a")
    expect(items.first.get_by_role("status")).to_have_text("Approved: it is scheduled.")
    expect(items.nth(1)).to_be_focused()
    # The second: c goes to its comment box; Request changes needs the comment.
    page.keyboard.press("c")
    comment = items.nth(1).get_by_label("What should change?")
    expect(comment).to_be_focused()
    comment.fill("Please add the date of the tasting.")
    items.nth(1).get_by_role("button", name=re.compile("^Request changes")).click()
    expect(items.nth(1).get_by_role("status")).to_have_text(
        "Sent back to its author with your comment."
    )
    shot(page, tmp_path, "inbox-done")
    page.reload()
    expect(page.get_by_text("Nothing waits for your review.")).to_be_visible()

    summer = team.posts["Summer menu"]["id"]
    page.goto(team.page(f"posts/{summer}/detail"))
    expect(page.locator("[data-post-status]")).to_have_text("Approved")
    expect(page.locator("[data-delivery]")).to_contain_text("Pending")


def test_notifications_page_and_mark_read(
    owner_page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page = owner_page
    page.goto(team.page("calendar"))
    bell = page.get_by_role("link", name="Notifications, 2 unread")
    expect(bell).to_be_visible()
    bell.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    notices = page.locator("[data-notification]")
    expect(notices.first).to_contain_text("asked for changes to “Autumn teaser”")
    expect(notices.nth(1)).to_contain_text("approved “Summer menu”")
    check_accessibility(page, axe_script, "notifications")
    notices.first.get_by_role("button", name=re.compile("^Mark as read")).click()
    expect(page.get_by_role("link", name="Notifications, 1 unread")).to_be_visible()
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_text("Nothing unread.")).to_be_visible()
    expect(page.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    shot(page, tmp_path, "notifications")
    # The comment is on the post, with the mention hint beside the comment box.
    notices.first.get_by_role("link", name=re.compile("^Open the post")).click()
    expect(page.locator(".comment-list")).to_contain_text("Please add the date of the tasting.")


def test_pause_and_resume_then_decide_on_the_overdue_post(
    owner_page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page = owner_page
    # A post approved for a time that passes during the pause (no scheduler runs
    # beside this test server, so it stays waiting).
    late = team.api(
        "POST",
        "posts",
        json={
            "title": "Flash sale",
            "body": "Flash sale: today only.",
            "local_at": local_in(-30),
            "timezone": ZONE,
            "channels": [team.sandbox],
        },
    )
    late = team.api("POST", f"posts/{late['id']}/submit", json={"version": late["version"]})
    team.api("POST", f"posts/{late['id']}/approve", who=REVIEWER, json={"version": late["version"]})

    page.goto(team.page("inbox"))
    page.get_by_text("Pause publishing").click()
    page.get_by_label("Why stop publishing?").fill("A crisis on the news")
    page.get_by_role("button", name="Pause all publishing").click()
    banner = page.locator(".banner-danger")
    expect(banner).to_contain_text("Publishing is paused for Acme Crew")
    expect(banner).to_contain_text("A crisis on the news")
    page.goto(team.page("settings"))
    expect(page.locator(".banner-danger")).to_be_visible()
    check_accessibility(page, axe_script, "paused settings")
    shot(page, tmp_path, "paused")

    page.get_by_role("button", name="Resume publishing").click()
    expect(page.locator(".banner-danger")).to_have_count(0)
    overdue = page.get_by_role("link", name=re.compile("^Overdue"))
    expect(overdue).to_be_visible()
    overdue.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overdue posts")
    item = page.locator("[data-overdue]")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Flash sale")
    expect(item).to_contain_text("late")
    check_accessibility(page, axe_script, "overdue")
    shot(page, tmp_path, "overdue")

    # Shift it: too little is refused with the reason, then a real shift.
    minutes = item.get_by_label("Shift later by (minutes)")
    minutes.fill("1")
    item.get_by_role("button", name=re.compile("^Shift")).click()
    expect(item.get_by_role("alert").filter(has_text="still leaves")).to_be_visible()
    minutes.fill("120")
    item.get_by_role("button", name=re.compile("^Shift")).click()
    expect(page.get_by_text("No post waits for a decision.")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Overdue"))).to_have_count(0)

    page.goto(team.page(f"posts/{late['id']}/detail"))
    expect(page.locator("[data-delivery]")).to_contain_text("Pending")
    expect(page.get_by_text(re.compile("Version \\d+: shifted"))).to_be_visible()


def test_settings_webhooks_and_small_screens(
    owner_page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page = owner_page
    page.goto(team.page("settings"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.get_by_role("cell", name="Rita Reviewer")).to_be_visible()
    page.get_by_label("Lateness limit, in minutes").fill("90")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_label("URL", exact=True).fill("https://hooks.example.org/almanac")
    page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("[data-secret]")
    expect(secret).to_have_text(re.compile(r"\S{16,}"))
    check_accessibility(page, axe_script, "settings")
    shot(page, tmp_path, "settings-secret")
    page.reload()
    expect(page.get_by_label("Lateness limit, in minutes")).to_have_value("90")
    expect(page.locator("[data-webhook]")).to_contain_text("hooks.example.org")
    expect(page.locator("[data-secret]")).to_have_count(0)  # shown once

    page.set_viewport_size({"width": 390, "height": 844})
    summer = team.posts["Summer menu"]["id"]
    for rest in ("inbox", "notifications", "overdue", "settings", f"posts/{summer}/detail"):
        page.goto(team.page(rest))
        no_sideways_scroll(page, rest)
    shot(page, tmp_path, "post-detail-phone")
