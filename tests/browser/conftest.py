"""Real-browser tests: the app under uvicorn, driven by Debian's Chromium via Playwright.

Browser tests run on SQLite only (DESIGN.md, "Stack"). The browser is the
system's ``/usr/bin/chromium`` (``apt-get install chromium``; ``make test``
installs it), never one downloaded by ``playwright install``. Without it these
tests fail rather than skip, so a green run always means a browser ran them.

The server runs in a background thread with its own event loop (uvicorn does
not touch signals outside the main thread); the sync Playwright API runs in the
test thread, where no event loop is running during a sync test.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from app import migrate
from app.auth.tokens import setup_token
from app.db import create_engine
from app.deps import SessionDep
from app.main import create_app
from app.web.frame import Banner, NavItem, WorkspaceLink, render
from tests.conftest import TEST_SECRET, make_settings

CHROMIUM = Path(os.environ.get("ALMANAC_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT = 20.0
FRAME_PAGE = "/_test/frame"


@dataclass(frozen=True)
class LiveServer:
    url: str
    # Where its SQLite database and data folder are (for a scheduler process beside it).
    database_url: str = ""
    data_dir: Path | None = None


async def _frame_page(request: Request, session: SessionDep) -> HTMLResponse:
    """A test-only page that fills every slot of the frame (for layout checks)."""
    return await render(
        request,
        session,
        "error.html",
        {
            "status": 422,
            "detail": "A page with every slot of the frame filled, to check the layout.",
            "errors": [
                {"field": "text", "network": "bluesky", "message": "Longer than 300 characters."}
            ],
            "nav_items": [
                NavItem("Calendar", FRAME_PAGE),
                NavItem("Plans", "/plans"),
                NavItem("Inbox", "/inbox", badge=12),
                NavItem("Channels", "/channels"),
            ],
            "workspaces": [
                WorkspaceLink("a", "Acme Open Source Community", "/w/a"),
                WorkspaceLink("b", "Beta Club", "/w/b"),
            ],
            "current_workspace": WorkspaceLink("a", "Acme Open Source Community", "/w/a"),
            "banners": [
                Banner("info", "42 posts were imported from plan-q3-with-a-long-name.csv."),
                Banner("danger", "Publishing is paused for this workspace."),
            ],
            "notifications_url": "/notifications",
            "unread_count": 3,
        },
    )


def _build_app(data_dir: Path, database_url: str) -> FastAPI:
    app = create_app(make_settings(data_dir, database_url))
    app.add_api_route(FRAME_PAGE, _frame_page, response_class=HTMLResponse)
    return app


class _ServerThread(threading.Thread):
    """Migrates the database, then serves the app on an already bound socket."""

    def __init__(self, app: FastAPI, database_url: str, sock: socket.socket) -> None:
        super().__init__(name="almanac-live-server", daemon=True)
        self.database_url = database_url
        self.sock = sock
        self.error: BaseException | None = None
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the fixture, which fails the test
            self.error = exc

    async def _main(self) -> None:
        engine = create_engine(self.database_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        await self.server.serve(sockets=[self.sock])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app under uvicorn on 127.0.0.1, on a fresh migrated SQLite database."""
    root = tmp_path_factory.mktemp("live")
    data_dir = root / "data"
    data_dir.mkdir()
    database_url = f"sqlite+aiosqlite:///{root / 'almanac.db'}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = _ServerThread(_build_app(data_dir, database_url), database_url, sock)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not thread.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the live server did not start: {thread.error!r}")
            time.sleep(0.02)
        yield LiveServer(
            url=f"http://127.0.0.1:{port}", database_url=database_url, data_dir=data_dir
        )
    finally:
        thread.server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()
    if thread.error is not None:
        raise thread.error


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's chromium. "
            "Install it with `apt-get install chromium` (`make test` does), "
            "or point ALMANAC_TEST_CHROMIUM at a Chromium binary. "
            "Do not use `playwright install`.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A fresh browser profile per test, desktop-sized; tests resize as they need."""
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def set_up_owner(http: httpx.Client, *, name: str, email: str, password: str) -> dict[str, str]:
    """The first-run set-up (``/setup``) as this owner, then an API token of theirs:
    the ``authorization`` header to send (as a script would)."""
    form = {
        "setup_token": setup_token(TEST_SECRET),
        "display_name": name,
        "email": email,
        "password": password,
        "password_confirm": password,
    }
    assert http.post("/setup", data=form).status_code == 303
    http.cookies.clear()
    issued = http.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert issued.status_code == 201, issued.text
    return {"authorization": f"Bearer {issued.json()['token']}"}


def join_by_invitation(
    http: httpx.Client,
    workspace_id: str,
    owner: dict[str, str],
    *,
    email: str,
    role: str,
    name: str,
    password: str,
) -> None:
    """The owner invites ``email``, who signs up through the invitation's link."""
    invited = http.post(
        f"/api/v1/workspaces/{workspace_id}/invitations",
        json={"email": email, "role": role},
        headers=owner,
    )
    assert invited.status_code == 201, invited.text
    path = httpx.URL(invited.json()["link"]).path
    joined = http.post(
        f"{path}/sign-up",
        data={"display_name": name, "password": password, "password_confirm": password},
    )
    assert joined.status_code in (200, 303), joined.text
    http.cookies.clear()


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core from npm, installed by tests/tools/install-axe.sh into the test cache."""
    installer = Path(__file__).resolve().parents[1] / "tools" / "install-axe.sh"
    done = subprocess.run([str(installer)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"install-axe.sh failed:\n{done.stderr}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file(), path
    return path.read_text()


def watched(ctx: BrowserContext, *, accept_dialogs: bool = True) -> tuple[Page, list[str]]:
    """A new tab whose script errors are collected (tests assert there are none);
    confirmations are accepted unless ``accept_dialogs`` is false (then dismissed)."""
    errors: list[str] = []
    tab = ctx.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    if accept_dialogs:
        tab.on("dialog", lambda dialog: dialog.accept())
    return tab, errors
