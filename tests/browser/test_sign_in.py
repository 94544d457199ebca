"""First run, sign-out and sign-in in a real browser, on a fresh install."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from app.auth.tokens import setup_token
from tests.conftest import TEST_SECRET

PASSWORD = "a long enough password"
SHOTS = "/tmp/almanac-{}.png"
# argon2 is deliberately slow, and slower still on a busy CI machine.
expect.set_options(timeout=10_000)


def test_fresh_install_setup_sign_out_and_sign_in_again(page: Page) -> None:
    # Refused setup codes and passwords answer 4xx pages on purpose; anything else
    # failing (an asset, a CSP violation) is a bug.
    console_errors: list[str] = []
    broken_assets: list[str] = []
    page.on(
        "console",
        lambda m: (
            console_errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            broken_assets.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )

    # A fresh install sends the visitor to the setup page.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up Almanac")
    expect(page.get_by_label("Setup code")).to_be_focused()

    # A wrong code is refused, and the form keeps what was typed.
    page.get_by_label("Setup code").fill("not-the-code")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create the owner account").click()
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text("setup code is not right")
    expect(page.get_by_label("E-mail")).to_have_value("grace@example.org")
    expect(page.get_by_label("Setup code")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=SHOTS.format("setup"), full_page=True)

    page.get_by_label("Setup code").fill(setup_token(TEST_SECRET))
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create the owner account").click()

    # Signed in, on the home page, the account menu names the owner.
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Almanac")
    account = page.locator(".account-menu summary")
    expect(account).to_contain_text("Grace Hopper")
    page.screenshot(path=SHOTS.format("home-signed-in"), full_page=True)

    # The setup page is gone for good.
    response = page.goto("/setup")
    assert response is not None and response.status == 404
    page.goto("/")

    # Sign out from the account menu, with the keyboard.
    account.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("grace@example.org")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.locator(".account-menu")).to_have_count(0)
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/account$"))

    # A wrong password: one clear sentence, the e-mail kept, focus on the password.
    page.get_by_label("E-mail").fill("grace@example.org")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("main").get_by_role("alert")).to_have_text("Wrong e-mail or password.")
    expect(page.get_by_label("E-mail")).to_have_value("grace@example.org")
    expect(page.get_by_label("Password")).to_be_focused()
    page.screenshot(path=SHOTS.format("signin"), full_page=True)

    # Sign in again: back to where we were going.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    expect(page.get_by_text("This browser")).to_be_visible()

    # Create an API token: its value is shown once.
    page.get_by_label("Name").fill("Publishing script")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Token value")
    expect(token).to_have_value(re.compile(r"^alm_[0-9a-f]{8}_"))
    page.screenshot(path=SHOTS.format("account"), full_page=True)
    page.goto("/account")
    expect(page.get_by_label("Token value")).to_have_count(0)
    expect(page.get_by_role("cell", name="Publishing script", exact=True)).to_be_visible()
    page.get_by_role("button", name="Revoke Publishing script").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_text("Revoked", exact=True)).to_be_visible()

    assert console_errors == []
    assert broken_assets == []


def test_the_account_page_fits_a_phone(page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/sign-in")
    widths = page.evaluate("({doc: document.documentElement.scrollWidth, view: innerWidth})")
    assert widths["doc"] <= widths["view"], widths
    page.get_by_label("E-mail").fill("grace@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/account")
    widths = page.evaluate("({doc: document.documentElement.scrollWidth, view: innerWidth})")
    assert widths["doc"] <= widths["view"], widths
    page.screenshot(path=SHOTS.format("account-phone"), full_page=True)
