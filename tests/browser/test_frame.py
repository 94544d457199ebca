"""The page frame in a real browser: banner, keyboard access, small screens, assets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from app.auth.tokens import setup_token
from tests.browser.conftest import FRAME_PAGE, LiveServer
from tests.conftest import TEST_SECRET

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def installed(live_server: LiveServer) -> None:
    """An installed Almanac (a fresh one sends every visitor of / to /setup); the
    browser stays signed out."""
    form = {
        "setup_token": setup_token(TEST_SECRET),
        "display_name": "Owner",
        "email": "owner@example.org",
        "password": "a long enough password",
        "password_confirm": "a long enough password",
    }
    response = httpx.post(f"{live_server.url}/setup", data=form)
    assert response.status_code == 303, response.text


def test_home_shows_the_scheduler_warning(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_title("Almanac — editorial calendar and scheduler")
    banner = page.locator('[data-banner="scheduler"]')
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("No scheduler process has been seen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Almanac")
    expect(page.get_by_role("main")).to_be_visible()
    expect(page.get_by_role("banner")).to_be_visible()
    expect(page.get_by_role("contentinfo")).to_be_visible()
    # The stylesheet applied (the top bar is dark, not the browser's default white).
    topbar_bg = page.locator(".topbar").evaluate("el => getComputedStyle(el).backgroundColor")
    assert topbar_bg not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")


def test_skip_link_is_the_first_tab_stop(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Skip to main content")
    expect(focused).to_be_in_viewport()
    outline = focused.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "a focused element must show where the focus is"

    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    # The next stop is inside the main content, past the top bar.
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_no_horizontal_scroll_on_a_phone(page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("/", FRAME_PAGE, "/no-such-page"):
        page.goto(path)
        widths = page.evaluate(
            "({doc: document.documentElement.scrollWidth, view: window.innerWidth})"
        )
        assert widths["doc"] <= widths["view"], f"{path} scrolls sideways at 375px: {widths}"


def test_frame_slots_work_with_a_keyboard(page: Page) -> None:
    page.goto(FRAME_PAGE)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Calendar")).to_have_attribute("aria-current", "page")
    expect(page.locator(".banner-danger")).to_be_visible()

    switcher = page.locator(".switcher-button")
    switcher.focus()
    page.keyboard.press("Enter")
    beta = page.get_by_role("link", name="Beta Club")
    expect(beta).to_be_visible()
    page.keyboard.press("Escape")
    expect(beta).to_be_hidden()
    expect(switcher).to_be_focused()


def test_pages_load_only_from_the_app(page: Page, live_server: LiveServer) -> None:
    requests: list[Request] = []
    failures: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requests.append(request))
    page.on("requestfailed", lambda request: failures.append(request.url))
    page.on(
        "response",
        lambda response: (
            failures.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto("/", wait_until="networkidle")

    assert requests, "the page made no request at all"
    outside = [r.url for r in requests if not r.url.startswith(live_server.url)]
    assert outside == [], "every asset comes from the app (no CDN, no external font)"
    assert failures == []
    assert console_errors == []
    favicon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert "/static/favicon.svg" in favicon
    # Inline-SVG icons resolved from the sprite: the banner icon has a size.
    box = page.locator('[data-banner="scheduler"] .icon').bounding_box()
    assert box is not None and box["width"] > 0


def test_error_page_in_a_browser(page: Page) -> None:
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.get_by_role("link", name="Go to the home page").click()
    expect(page).to_have_url("/")


def test_screenshots(page: Page, tmp_path: Path) -> None:
    shots = {
        "home-desktop.png": ("/", {"width": 1280, "height": 800}),
        "home-phone.png": ("/", {"width": 375, "height": 812}),
        "frame-desktop.png": (FRAME_PAGE, {"width": 1280, "height": 800}),
        "frame-phone.png": (FRAME_PAGE, {"width": 375, "height": 812}),
        "home-dark.png": ("/", {"width": 1280, "height": 800}),
        "frame-dark-phone.png": (FRAME_PAGE, {"width": 375, "height": 812}),
    }
    for name, (path, viewport) in shots.items():
        page.emulate_media(color_scheme="dark" if "dark" in name else "light")
        page.set_viewport_size(viewport)
        page.goto(path)
        target = tmp_path / name
        page.screenshot(path=target, full_page=True)
        data = target.read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, f"{name} looks empty ({len(data)} bytes)"
