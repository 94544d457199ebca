"""Managing members on the settings page in a real browser: invite someone (the link
shown once), withdraw the invitation, change a member's role (it persists), read the
API's refusal in words (the last owner), remove a member. axe-core checks the page
in each state; each test saves screenshots under its output folder.

The tests share one installation (an owner, an editor who joined through an
invitation link) and run in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import LiveServer, join_by_invitation, set_up_owner, watched
from tests.browser.test_workspace_pages import check_accessibility, no_sideways_scroll, shot

OWNER = "olga@example.org"
EDITOR = "eddie@example.org"
GUEST = "newbie@example.org"
PASSWORD = "a long enough password"
ZONE = "Europe/Paris"
expect.set_options(timeout=10_000)


@dataclass
class Install:
    url: str
    ws: str
    token: str
    editor_id: str

    def page(self, rest: str) -> str:
        return f"/w/{self.ws}/{rest}"

    def api(self, method: str, rest: str, **kw: Any) -> Any:
        with httpx.Client(base_url=self.url) as http:
            response = http.request(
                method,
                f"/api/v1/workspaces/{self.ws}/{rest}",
                headers={"authorization": f"Bearer {self.token}"},
                **kw,
            )
        assert response.is_success, response.text
        return response.json() if response.content else None


def install_team(server: LiveServer) -> Install:
    """An owner and an editor who joined through an invitation link, in a workspace in
    Paris time (set up through the API, as a script would)."""
    with httpx.Client(base_url=server.url) as http:
        owner = set_up_owner(http, name="Olga Owner", email=OWNER, password=PASSWORD)
        token = owner["authorization"].split()[1]
        made = http.post(
            "/api/v1/workspaces", json={"name": "Acme Crew", "timezone": ZONE}, headers=owner
        )
        assert made.status_code == 201, made.text
        ws = made.json()["id"]
        join_by_invitation(
            http, ws, owner, email=EDITOR, role="editor", name="Eddie Editor", password=PASSWORD
        )
        members = http.get(f"/api/v1/workspaces/{ws}/members", headers=owner).json()
    (editor_id,) = [m["user_id"] for m in members if m["email"] == EDITOR]
    return Install(server.url, ws, token, editor_id)


@pytest.fixture(scope="module")
def team(live_server: LiveServer) -> Install:
    return install_team(live_server)


@pytest.fixture(scope="module")
def owner(browser: Browser, live_server: LiveServer, team: Install) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    tab = ctx.new_page()
    tab.goto(team.page("settings"))
    expect(tab).to_have_url(re.compile(r"/sign-in\?next="))
    tab.get_by_label("E-mail").fill(OWNER)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Settings")
    tab.close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(owner: BrowserContext) -> Iterator[Page]:
    """A new tab whose script errors are collected (the test asserts there are none);
    confirmations are accepted."""
    tab, errors = watched(owner)
    yield tab
    tab.close()
    assert errors == [], f"errors in the page: {errors}"


def test_invite_someone_and_withdraw_the_invitation(
    page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page.goto(team.page("settings"))
    expect(page.get_by_role("heading", name="Invite someone")).to_be_visible()
    expect(page.get_by_text("No invitation is waiting to be accepted.")).to_be_visible()
    expect(page.get_by_text("through the API")).to_have_count(0)
    check_accessibility(page, axe_script, "members")

    page.get_by_label("E-mail address").fill(GUEST)
    page.get_by_label("Role", exact=True).select_option("reviewer")
    page.get_by_role("button", name="Invite", exact=True).click()

    link = page.get_by_label("Invitation link")
    expect(link).to_have_value(re.compile(r"^https?://\S+/invitations/\S{16,}$"))
    expect(link).to_be_focused()
    box = page.locator("[data-invite-link]")
    expect(box).to_contain_text(f"Invitation for {GUEST} as Reviewer created.")
    expect(box).to_contain_text("works for seven days and is shown only this once")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(box).to_contain_text(re.compile(r"Copied\.|press Ctrl\+C"))
    expect(page.get_by_label("E-mail address")).to_have_value("")

    pending = page.locator("[data-invitations] tbody tr", has_text=GUEST)
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text("Reviewer")
    expect(pending).to_contain_text("Olga Owner")
    expect(pending.locator("td").nth(2)).to_have_text(
        re.compile(r"^\w{3} \d{1,2} \w{3} \d{4}, \d{2}:\d{2}$")
    )
    check_accessibility(page, axe_script, "members-link")
    shot(page, tmp_path, "members-link")

    # Shown once: after a reload the invitation is listed, its link nowhere.
    shown = link.input_value()
    page.reload()
    expect(page.get_by_label("Invitation link")).to_have_count(0)
    pending = page.locator("[data-invitations] tbody tr", has_text=GUEST)
    expect(pending).to_contain_text("Reviewer")
    assert shown.rsplit("/", 1)[1] not in page.content()

    pending.get_by_role("button", name=f"Withdraw the invitation for {GUEST}").click()
    expect(pending).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="was withdrawn")).to_be_visible()
    expect(page.get_by_text("No invitation is waiting to be accepted.")).to_be_visible()
    assert team.api("GET", "invitations") == []
    with httpx.Client(base_url=team.url) as http:
        assert http.get(httpx.URL(shown).path).status_code == 410


def test_change_a_role_and_it_stays_changed(
    page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page.goto(team.page("settings"))
    # Only the name cell is named after the member (the controls' names live elsewhere).
    expect(page.get_by_role("cell", name="Eddie Editor")).to_have_count(1)
    role = page.get_by_label("Role of Eddie Editor")
    expect(role).to_have_value("editor")
    with page.expect_response(lambda r: r.request.method == "PATCH") as answered:
        role.select_option("reviewer")
    assert answered.value.status == 200
    row = page.locator(f'[data-member="{team.editor_id}"]')
    expect(row.get_by_role("status")).to_have_text("Eddie Editor is now Reviewer.")
    page.reload()
    expect(page.get_by_label("Role of Eddie Editor")).to_have_value("reviewer")
    roles = {m["email"]: m["role"] for m in team.api("GET", "members")}
    assert roles[EDITOR] == "reviewer"


def test_the_last_owner_is_refused_in_words(
    page: Page, team: Install, axe_script: str, tmp_path: Path
) -> None:
    page.goto(team.page("settings"))
    own = page.get_by_label("Role of Olga Owner")
    own.select_option("admin")
    row = page.locator("[data-member][data-self]")
    alert = row.get_by_role("alert")
    expect(alert).to_contain_text("Olga Owner is the last owner of this workspace")
    expect(alert).to_contain_text("make someone else an owner first")
    expect(own).to_have_value("owner")  # back to what it is

    row.get_by_role("button", name="Leave workspace").click()
    expect(alert).to_contain_text("You are the last owner of this workspace and cannot leave")
    check_accessibility(page, axe_script, "members-error")
    shot(page, tmp_path, "members-error")
    page.reload()
    expect(page.get_by_label("Role of Olga Owner")).to_have_value("owner")


def test_remove_a_member(page: Page, team: Install, axe_script: str, tmp_path: Path) -> None:
    page.goto(team.page("settings"))
    page.get_by_role("button", name=f"Remove {EDITOR}").click()
    expect(page.locator(f'[data-member="{team.editor_id}"]')).to_have_count(0)
    status = page.locator("[data-members-status]")
    expect(status).to_have_text("Eddie Editor was removed from Acme Crew.")
    expect(status).to_be_focused()
    assert [m["email"] for m in team.api("GET", "members")] == [OWNER]
    page.reload()
    expect(page.get_by_role("cell", name="Eddie Editor")).to_have_count(0)
    check_accessibility(page, axe_script, "members-after")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(team.page("settings"))
    no_sideways_scroll(page, "settings")
    shot(page, tmp_path, "members-phone")
