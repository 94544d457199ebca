"""End to end, with a real scheduler process: a post approved in the browser, due a
few seconds ahead, goes out through the sandbox channel; the sandbox outbox page shows
it, and the post's page shows its delivery ``published``.

The scheduler is ``almanac scheduler`` in a subprocess, on the same SQLite database as
the test server (``tests/browser/conftest.py``), as ``almanac run`` would start it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import LiveServer, watched
from tests.browser.test_review_flow import (
    OWNER,
    REVIEWER,
    ZONE,
    Install,
    install_team,
    signed_in_context,
)
from tests.browser.test_workspace_pages import shot
from tests.conftest import TEST_KEYS, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
# How far ahead the post is due: time for the API calls and the approval click.
LEAD_SECONDS = 12
# From its due time to "published" on the page: the scheduler polls SQLite every
# second, the sandbox answers at once, the page follows its deliveries every 2 s.
PUBLISH_TIMEOUT_MS = 40_000
STARTUP_SECONDS = 30


@pytest.fixture(scope="module")
def team(live_server: LiveServer) -> Install:
    return install_team(live_server)


class SchedulerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def wait_until_seen(self, url: str) -> None:
        """Until the app sees its heartbeat (``/readyz``), or fail with its log."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the scheduler exited:\n{self.log()}")
            if httpx.get(f"{url}/readyz").json().get("scheduler_seen_at"):
                return
            time.sleep(0.2)
        raise AssertionError(f"no scheduler heartbeat after {STARTUP_SECONDS} s:\n{self.log()}")


def almanac_command() -> list[str]:
    """The installed ``almanac`` command of this environment."""
    script = Path(sys.executable).with_name("almanac")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


@pytest.fixture(scope="module")
def scheduler(
    live_server: LiveServer, team: Install, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SchedulerProcess]:
    """``almanac scheduler`` beside the test server, on its database; its log is kept
    (and shown when a test fails)."""
    assert live_server.database_url and live_server.data_dir, "the live server's database"
    log_path = tmp_path_factory.mktemp("scheduler") / "scheduler.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMANAC_")}
    env.update(
        {
            "ALMANAC_ENV": "test",
            "ALMANAC_DATABASE_URL": live_server.database_url,
            "ALMANAC_DATA_DIR": str(live_server.data_dir),
            "ALMANAC_SECRET_KEY": TEST_SECRET,
            "ALMANAC_ENCRYPTION_KEYS": TEST_KEYS[0],
            "ALMANAC_ALLOW_PRIVATE_HOSTS": "true",
            "ALMANAC_LOG_LEVEL": "INFO",
        }
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*almanac_command(), "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            running = SchedulerProcess(process, log_path)
            running.wait_until_seen(live_server.url)
            yield running
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def reviewer(browser: Browser, live_server: LiveServer, team: Install) -> Iterator[BrowserContext]:
    ctx = signed_in_context(browser, live_server, team.ws, REVIEWER)
    yield ctx
    ctx.close()


@pytest.fixture
def reviewer_page(reviewer: BrowserContext) -> Iterator[Page]:
    tab, errors = watched(reviewer)
    yield tab
    tab.close()
    assert errors == [], f"errors in the page: {errors}"


def test_an_approved_post_goes_out_through_the_sandbox(
    reviewer_page: Page, team: Install, scheduler: SchedulerProcess, tmp_path: Path
) -> None:
    page = reviewer_page
    due = datetime.now(ZoneInfo(ZONE)) + timedelta(seconds=LEAD_SECONDS)
    post = team.api(
        "POST",
        "posts",
        json={
            "title": "Doors open",
            "body": "Doors open now: come in!",
            "local_at": due.replace(tzinfo=None).isoformat(timespec="seconds"),
            "timezone": ZONE,
            "channels": [team.sandbox],
        },
        who=OWNER,
    )
    team.api("POST", f"posts/{post['id']}/submit", json={"version": post["version"]})

    # The reviewer approves it from the inbox; the scheduler runs meanwhile.
    page.goto(team.page("inbox"))
    expect(page.locator("[data-review]")).to_contain_text("Doors open")
    expect(page.locator("[data-banner=scheduler]")).to_have_count(0)  # a scheduler is seen
    page.get_by_role("button", name="Approve Doors open").click()
    expect(page.get_by_role("status").filter(has_text="Approved")).to_be_visible()
    assert scheduler.process.poll() is None, f"the scheduler stopped:\n{scheduler.log()}"

    # The post's page follows its delivery until it is published (no reload needed).
    page.goto(team.page(f"posts/{post['id']}/detail"))
    delivery = page.locator("[data-delivery]")
    try:
        expect(delivery.locator("[data-delivery-status]")).to_have_text(
            "Published", timeout=PUBLISH_TIMEOUT_MS
        )
    except AssertionError as failed:
        shot(page, tmp_path, "post-not-published")
        raise AssertionError(
            f"{failed}\n-- page: {delivery.inner_text()}\n-- scheduler log:\n{scheduler.log()}"
        ) from None
    expect(delivery).to_contain_text("Published")
    expect(delivery.get_by_role("link", name=re.compile("the post on Try-out"))).to_be_visible()
    shot(page, tmp_path, "post-published")

    page.goto(team.page("sandbox"))
    item = page.locator(".outbox-item").filter(has_text="Doors open now: come in!")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Try-out")
    shot(page, tmp_path, "sandbox-outbox")
