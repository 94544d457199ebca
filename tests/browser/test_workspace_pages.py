"""The workspace pages in a real browser: plan a month, write per-network copy with
live limits, move a post on the calendar, pause the workspace. axe-core checks every
page; each step saves a screenshot under the test's output folder.

axe-core comes from npm through ``tests/tools/install-axe.sh`` (idempotent; it prints
the path of ``axe.min.js``). The tests share one workspace and run in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.web.calendar_pages import CHIPS_PER_DAY
from tests.browser.conftest import LiveServer, set_up_owner, watched

EMAIL = "cm@example.org"
PASSWORD = "a long enough password"
MONTH = "2027-03"
expect.set_options(timeout=10_000)


@dataclass
class Workspace:
    id: str
    x: str
    mastodon: str
    sandbox: str
    # The owner's API token, for setting data up as a script would.
    auth: dict[str, str]

    def url(self, rest: str) -> str:
        return f"/w/{self.id}/{rest}"


@pytest.fixture(scope="module")
def workspace(live_server: LiveServer) -> Workspace:
    """An installed Almanac whose owner has a workspace in Paris time with an X, a
    Mastodon and a sandbox channel (set up through the API, as a script would)."""
    with httpx.Client(base_url=live_server.url) as http:
        auth = set_up_owner(http, name="Casey Manager", email=EMAIL, password=PASSWORD)
        made = http.post(
            "/api/v1/workspaces",
            json={"name": "Acme Community", "timezone": "Europe/Paris"},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        ws = made.json()["id"]
        ids = {}
        for network, name in (
            ("x", "Acme on X"),
            ("mastodon", "Acme on Mastodon"),
            ("sandbox", "Try-out"),
        ):
            created = http.post(
                f"/api/v1/workspaces/{ws}/channels",
                json={"network": network, "name": name, "credentials": {"access_token": "t"}},
                headers=auth,
            )
            assert created.status_code == 201, created.text
            ids[network] = created.json()["id"]
    return Workspace(ws, ids["x"], ids["mastodon"], ids["sandbox"], auth)


@pytest.fixture(scope="module")
def signed_in(
    browser: Browser, live_server: LiveServer, workspace: Workspace
) -> Iterator[BrowserContext]:
    """One browser profile signed in through the sign-in form, shared by the tests."""
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.goto(workspace.url("calendar"))
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "/calendar" in page.url
    page.close()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[Page]:
    tab, errors = watched(signed_in, accept_dialogs=False)
    yield tab
    tab.close()
    assert errors == [], f"errors in the page: {errors}"


def check_accessibility(page: Page, axe_script: str, name: str) -> None:
    """axe-core on the page as it is; serious and critical violations fail the test."""
    page.evaluate(axe_script + "\n;true")
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: accessibility violations {bad}"


def shot(page: Page, tmp_path: Path, name: str) -> None:
    target = tmp_path / f"{name}.png"
    page.screenshot(path=target, full_page=True)
    assert target.stat().st_size > 5_000


def no_sideways_scroll(page: Page, name: str) -> None:
    widths = page.evaluate(
        """() => ({
            doc: document.documentElement.scrollWidth,
            view: window.innerWidth,
            wide: [...document.querySelectorAll("body *")]
                .filter(el => el.getBoundingClientRect().right > window.innerWidth)
                .slice(0, 3)
                .map(el => el.tagName + "." + el.className),
        })"""
    )
    assert widths["doc"] <= widths["view"], f"{name} scrolls sideways: {widths}"


def test_create_a_month_plan(
    page: Page, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    page.goto(workspace.url("plans"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Plans")
    check_accessibility(page, axe_script, "plans")
    page.get_by_label("Period").fill(MONTH)
    page.get_by_label("Title").fill("March launch")
    page.get_by_label("Goals").fill("Announce the release on every network.")
    page.get_by_role("button", name="Create plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("March launch")
    expect(page.get_by_text("31 days without a post")).to_be_visible()
    # Edit: a theme and a cadence target, shown in the cadence table.
    page.get_by_label("Themes, one per line").fill("2027-W10 Release week")
    page.get_by_label("X", exact=True).fill("3")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.get_by_role("cell", name="Release week")).to_be_visible()
    check_accessibility(page, axe_script, "plan")
    shot(page, tmp_path, "plan")


def test_write_a_post_with_x_and_mastodon_copies(
    page: Page, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    page.goto(workspace.url(f"posts/new?date={MONTH}-10"))
    expect(page.get_by_label("Date")).to_have_value(f"{MONTH}-10")
    expect(page.get_by_text("Europe/Paris").first).to_be_visible()
    page.get_by_label("Title").fill("Release 2.0")
    page.get_by_label("Base copy").fill("Almanac 2.0 is out today.")
    page.get_by_role("checkbox", name=re.compile("^Acme on X")).check()
    page.get_by_role("checkbox", name=re.compile("^Acme on Mastodon")).check()
    expect(page.get_by_role("tab", name="Acme on X")).to_have_attribute("aria-selected", "true")
    counter = page.locator(f'[data-counter="{workspace.x}"]')
    expect(counter).to_have_text("25 / 280 weighted characters")

    x_copy = page.get_by_label("Copy for Acme on X (X)")
    x_copy.fill("a" * 280)
    expect(counter).to_contain_text("280 / 280")
    expect(counter).not_to_have_class("counter over")
    x_copy.fill("a" * 281)
    expect(counter).to_contain_text("281 / 280")
    expect(counter).to_contain_text("1 over the limit")
    expect(counter).to_have_class("counter over")
    colour = counter.evaluate("el => getComputedStyle(el).color")
    red, green, blue = (int(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3])
    assert red > 150 and green < 100 and blue < 100, colour
    shot(page, tmp_path, "editor-x-over")

    # The Mastodon tab counts in its own unit, from the base copy.
    page.get_by_role("tab", name="Acme on Mastodon").click()
    mastodon = page.locator(f'[data-counter="{workspace.mastodon}"]')
    expect(mastodon).to_contain_text("25 / 500")
    page.get_by_role("tab", name="Acme on X").click()
    x_copy.fill("Almanac 2.0 is out: plan, write, approve, publish. #release")
    expect(counter).not_to_have_class("counter over")
    check_accessibility(page, axe_script, "editor")

    page.get_by_role("button", name="Create post").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Release 2.0")
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.get_by_label("Copy for Acme on X (X)")).to_have_value(
        "Almanac 2.0 is out: plan, write, approve, publish. #release"
    )
    page.get_by_label("Add a comment").fill("Ready for review.")
    page.get_by_role("button", name="Comment").click()
    expect(page.locator(".comment-list")).to_contain_text("Ready for review.")
    check_accessibility(page, axe_script, "post")
    shot(page, tmp_path, "post")


def test_drag_the_post_to_another_day(
    page: Page, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    page.goto(workspace.url(f"calendar?month={MONTH}"))
    chip = page.locator("a.chip", has_text="Release 2.0")
    expect(page.locator(f'td[data-day="{MONTH}-10"] a.chip')).to_have_count(1)
    expect(page.get_by_text("Release week")).to_be_visible()
    check_accessibility(page, axe_script, "month")
    chip.drag_to(page.locator(f'td[data-day="{MONTH}-12"]'))
    expect(page.locator(f'td[data-day="{MONTH}-12"] a.chip')).to_have_count(1)
    page.reload()
    moved = page.locator(f'td[data-day="{MONTH}-12"] a.chip')
    expect(moved).to_contain_text("09:00")
    expect(page.locator(f'td[data-day="{MONTH}-10"] a.chip')).to_have_count(0)

    # The keyboard way: focus the post, press M, pick a date.
    moved.focus()
    page.keyboard.press("m")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Move to…")).to_be_focused()
    dialog.get_by_label("Move to…").fill(f"{MONTH}-15")
    page.keyboard.press("Enter")
    expect(page.locator(f'td[data-day="{MONTH}-15"] a.chip')).to_have_count(1)
    shot(page, tmp_path, "month")

    for view, seen in (
        ("week&week=2027-03-15", "Release 2.0"),
        ("quarter", "March launch"),
        ("list", "Release 2.0"),
    ):
        page.goto(workspace.url(f"calendar?view={view}&month={MONTH}"))
        expect(page.get_by_text(seen).first).to_be_visible()
        check_accessibility(page, axe_script, view)
        shot(page, tmp_path, view.split("&")[0])

    # An empty day starts a post on its date.
    page.goto(workspace.url(f"calendar?month={MONTH}"))
    page.get_by_role("link", name=f"New post on {MONTH}-20").click()
    expect(page.get_by_label("Date")).to_have_value(f"{MONTH}-20")


def test_a_busy_day_shows_its_first_posts_and_more(
    page: Page, live_server: LiveServer, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    day, busy = "2027-04-08", CHIPS_PER_DAY + 2
    with httpx.Client(base_url=live_server.url, headers=workspace.auth) as http:
        for hour in range(8, 8 + busy):
            created = http.post(
                f"/api/v1/workspaces/{workspace.id}/posts",
                json={
                    "title": f"Busy {hour}:00",
                    "body": "One of many.",
                    "local_at": f"{day}T{hour:02d}:00:00",
                    "timezone": "Europe/Paris",
                    "channels": [workspace.mastodon],
                },
            )
            assert created.status_code == 201, created.text
    page.goto(workspace.url("calendar?month=2027-04"))
    cell = page.locator(f'td[data-day="{day}"]')
    chips = cell.locator("a.chip")
    expect(chips).to_have_count(CHIPS_PER_DAY)
    expect(chips.first).to_contain_text("08:00")
    expect(cell.get_by_text(f"{busy} posts")).to_be_visible()
    check_accessibility(page, axe_script, "month-busy")
    shot(page, tmp_path, "month-busy")

    # The keyboard reaches "+2 more" after the day's last chip, and it opens the day.
    more = page.get_by_role("link", name="2 more posts on 8 April 2027", exact=True)
    expect(more).to_contain_text("+2 more")
    chips.last.focus()
    page.keyboard.press("Tab")
    expect(more).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"view=week&week={day}#day-{day}$"))
    expect(page.locator(f'td[data-day="{day}"] a.chip')).to_have_count(busy)
    expect(page.get_by_text(f"Busy {7 + busy}:00")).to_be_visible()


def api_post(http: httpx.Client, workspace: Workspace, **body: object) -> dict:
    created = http.post(f"/api/v1/workspaces/{workspace.id}/posts", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def test_saving_a_copy_keeps_its_own_link_and_time(
    page: Page, live_server: LiveServer, workspace: Workspace
) -> None:
    """PUT replaces a whole copy: the editor sends what it loaded with the new text."""
    with httpx.Client(base_url=live_server.url, headers=workspace.auth) as http:
        post = api_post(
            http,
            workspace,
            title="Own link and time",
            body="Base copy.",
            local_at="2027-05-04T09:00:00",
            timezone="Europe/Paris",
            channels=[workspace.x, workspace.mastodon],
        )
        url = f"/api/v1/workspaces/{workspace.id}/posts/{post['id']}"
        put = http.put(
            f"{url}/variants/{workspace.x}",
            json={
                "text": "X copy.",
                "link": "https://example.org/x-only",
                "local_at": "2027-05-04T11:30:00",
            },
            headers={"If-Match": f'W/"{post["version"]}"'},
        )
        assert put.status_code == 200, put.text
    page.goto(workspace.url(f"posts/{post['id']}"))
    page.get_by_role("tab", name="Acme on X").click()
    # The counters check the copy as it would be saved: its own link included.
    with page.expect_request(lambda r: r.url.endswith("/posts/validate")) as checked:
        page.get_by_label("Copy for Acme on X (X)").fill("X copy, edited.")
    sent = {v["channel_id"]: v for v in checked.value.post_data_json["variants"]}
    assert sent[workspace.x]["link"] == "https://example.org/x-only"
    assert "link" not in sent[workspace.mastodon]
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?saved=1$"))
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    with httpx.Client(base_url=live_server.url, headers=workspace.auth) as http:
        read = http.get(url)
    (x_copy,) = [v for v in read.json()["variants"] if v["channel_id"] == workspace.x]
    assert x_copy["text"] == "X copy, edited."
    assert x_copy["link"] == "https://example.org/x-only"
    assert x_copy["local_at"] == "2027-05-04T11:30:00"


def test_a_time_that_happens_twice_saves_and_asks_which_one(
    page: Page, live_server: LiveServer, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    """Paris, 2026-10-25: 02:30 happens twice. The post's own occurrence is sent back
    while the time is unchanged; a new ambiguous time asks first or second."""
    with httpx.Client(base_url=live_server.url, headers=workspace.auth) as http:
        second = api_post(
            http,
            workspace,
            title="At the second 02:30",
            body="Clocks go back tonight.",
            local_at="2026-10-25T02:30:00",
            timezone="Europe/Paris",
            fold=1,
            channels=[workspace.mastodon],
        )
        day_before = api_post(
            http,
            workspace,
            title="The day before",
            body="Clocks go back tomorrow.",
            local_at="2026-10-24T02:30:00",
            timezone="Europe/Paris",
            channels=[workspace.mastodon],
        )
    page.goto(workspace.url(f"posts/{second['id']}"))
    expect(page.get_by_label("Which occurrence")).to_have_value("1")
    page.get_by_label("Title").fill("At the second 02:30, renamed")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?saved=1$"))
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()

    page.goto(workspace.url(f"posts/{day_before['id']}"))
    expect(page.get_by_label("Which occurrence")).to_be_hidden()
    page.get_by_label("Date").fill("2026-10-25")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="happens twice")).to_be_visible()
    page.get_by_label("Which occurrence").select_option("1")
    check_accessibility(page, axe_script, "editor-occurrence")
    shot(page, tmp_path, "editor-occurrence")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?saved=1$"))
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()

    with httpx.Client(base_url=live_server.url, headers=workspace.auth) as http:
        base = f"/api/v1/workspaces/{workspace.id}/posts"
        renamed = http.get(f"{base}/{second['id']}").json()
        moved = http.get(f"{base}/{day_before['id']}").json()
    assert renamed["title"] == "At the second 02:30, renamed"
    assert (renamed["local_at"], renamed["fold"]) == ("2026-10-25T02:30:00", 1)
    assert renamed["due_at"] == "2026-10-25T01:30:00Z"
    assert (moved["local_at"], moved["fold"]) == ("2026-10-25T02:30:00", 1)

    # The calendar moves a post by whole days with its occurrence (the server refuses
    # an ambiguous wall time without one).
    page.goto(workspace.url("calendar?month=2026-10"))
    chip = page.locator("a.chip", has_text="At the second 02:30, renamed")
    chip.focus()
    page.keyboard.press("m")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Move to…").fill("2026-10-26")
    page.keyboard.press("Enter")
    expect(page.locator('td[data-day="2026-10-26"] a.chip')).to_have_count(1)
    with httpx.Client(base_url=live_server.url, headers=workspace.auth) as http:
        base = f"/api/v1/workspaces/{workspace.id}/posts"
        assert http.get(f"{base}/{second['id']}").json()["local_at"] == "2026-10-26T02:30:00"
        back = http.patch(
            f"{base}/{second['id']}",
            json={"local_at": "2026-10-24T02:30:00"},
            headers={"If-Match": http.get(f"{base}/{second['id']}").headers["etag"]},
        )
        assert back.status_code == 200, back.text
    page.goto(workspace.url("calendar?month=2026-10"))
    page.locator("a.chip", has_text="At the second 02:30, renamed").focus()
    page.keyboard.press("m")
    page.get_by_role("dialog").get_by_label("Move to…").fill("2026-10-25")
    page.keyboard.press("Enter")
    expect(page.locator('td[data-day="2026-10-25"] a.chip')).to_have_count(2)


def test_connect_forms(page: Page, workspace: Workspace, axe_script: str, tmp_path: Path) -> None:
    page.goto(workspace.url("channels"))
    page.get_by_text("Bluesky", exact=True).click()
    expect(page.get_by_label("App password")).to_have_attribute("type", "password")
    expect(page.get_by_label("App password")).to_have_accessible_description(
        re.compile("Settings → Privacy and security → App passwords")
    )
    # X connects through OAuth; this server has no X app, and the form says so.
    page.locator("summary", has_text="X").filter(has_text=re.compile("^ *X$")).click()
    page.get_by_role("button", name="Connect with X").click()
    expect(page.get_by_role("alert").filter(has_text="not set up on this server")).to_be_visible()
    check_accessibility(page, axe_script, "channels-connect")
    shot(page, tmp_path, "channels-connect")


def test_small_screens_and_the_other_pages(
    page: Page, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    for rest, name in (("channels", "channels"), ("sandbox", "sandbox"), ("backlog", "backlog")):
        page.goto(workspace.url(rest))
        check_accessibility(page, axe_script, name)
        shot(page, tmp_path, name)
    page.set_viewport_size({"width": 390, "height": 844})
    for rest in (f"calendar?month={MONTH}", "posts/new", "plans", "channels"):
        page.goto(workspace.url(rest))
        no_sideways_scroll(page, rest)
    page.goto(workspace.url(f"calendar?month={MONTH}"))
    shot(page, tmp_path, "month-phone")


def test_pause_the_workspace_and_see_the_banner(
    page: Page, workspace: Workspace, axe_script: str, tmp_path: Path
) -> None:
    page.goto(workspace.url("channels"))
    page.get_by_text("Pause publishing").click()
    page.get_by_label("Why stop publishing?").fill("Outage at the venue")
    page.get_by_role("button", name="Pause all publishing").click()
    banner = page.locator(".banner-danger")
    expect(banner).to_contain_text("Publishing is paused for Acme Community")
    expect(banner).to_contain_text("Outage at the venue")
    page.goto(workspace.url(f"calendar?month={MONTH}"))
    expect(page.locator(".banner-danger")).to_be_visible()
    check_accessibility(page, axe_script, "paused")
    shot(page, tmp_path, "paused")
    page.get_by_role("button", name="Resume publishing").click()
    expect(page.locator(".banner-danger")).to_have_count(0)
