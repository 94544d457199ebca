"""The page frame over HTTP: banners, slots, static assets, error pages."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from app.db import Database
from app.deps import SessionDep
from app.errors import Invalid
from app.models import SchedulerHeartbeat, utcnow
from app.web.frame import Banner, NavItem, WorkspaceLink, render
from tests.factories import make_user

HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture(autouse=True)
async def installed(database: Database) -> None:
    """An install with a user: a fresh one sends every visitor of / to /setup."""
    async with database.write_session() as session:
        await make_user(session)
        await session.commit()


async def add_heartbeat(database: Database, *, age: timedelta = timedelta(0)) -> None:
    async with database.write_session() as session:
        session.add(
            SchedulerHeartbeat(process_id="h:1:a", hostname="h", pid=1, seen_at=utcnow() - age)
        )
        await session.commit()


# -- home ---------------------------------------------------------------------------


async def test_home_warns_when_no_scheduler_was_ever_seen(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    banner = re.search(r'<div[^>]*data-banner="scheduler"[^>]*>', response.text)
    assert banner is not None
    assert 'role="alert"' in banner.group(0)
    assert "No scheduler process has been seen" in response.text
    assert "Start a scheduler." in response.text
    assert "Needs attention" in response.text


async def test_home_has_no_banner_when_the_scheduler_is_fresh(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_heartbeat(database)
    response = await client.get("/", headers=HTML)
    assert response.status_code == 200
    assert 'data-banner="scheduler"' not in response.text
    assert "Start a scheduler." not in response.text
    assert "Running, last seen just now." in response.text
    assert "All systems running" in response.text


async def test_home_warns_when_the_scheduler_is_stale(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_heartbeat(database, age=timedelta(minutes=5))
    response = await client.get("/", headers=HTML)
    assert 'data-banner="scheduler"' in response.text
    assert "Last seen 5 minutes ago." in response.text


async def test_home_shows_status_and_next_steps(client: httpx.AsyncClient, backend: str) -> None:
    text = (await client.get("/")).text
    database_name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    assert f"{database_name} reachable, migrations up to date." in text
    assert 'href="/docs"' in text
    assert 'href="/readyz"' in text
    # The frame: one main landmark that the skip link points at, no navigation yet.
    assert '<a class="skip-link" href="#main">' in text
    assert text.count("<main") == 1 and 'id="main"' in text
    assert 'aria-label="Main"' not in text


# -- static assets -----------------------------------------------------------------


async def test_static_assets_are_served_with_their_types(client: httpx.AsyncClient) -> None:
    expected = {
        "/static/almanac.css": "text/css",
        "/static/almanac.js": "javascript",
        "/static/favicon.svg": "image/svg+xml",
        "/static/icons.svg": "image/svg+xml",
    }
    for path, content_type in expected.items():
        response = await client.get(path)
        assert response.status_code == 200, path
        assert content_type in response.headers["content-type"], path
        assert response.content, path


async def test_every_asset_the_home_page_uses_is_served_by_the_app(
    client: httpx.AsyncClient,
) -> None:
    text = (await client.get("/", headers=HTML)).text
    urls = set(re.findall(r'(?:href|src)="([^"#]+)', text))
    assets = {url for url in urls if url.startswith("/static/")}
    assert {u.split("?")[0] for u in assets} >= {
        "/static/almanac.css",
        "/static/almanac.js",
        "/static/favicon.svg",
        "/static/icons.svg",
    }
    assert not [url for url in urls if url.startswith(("http:", "https:", "//"))], (
        "no asset or link may leave the app (no CDN)"
    )
    for url in assets:
        assert (await client.get(url)).status_code == 200, url


# -- the frame's slots ---------------------------------------------------------------


async def test_frame_slots_render_what_a_page_gives(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def page(request: Request, session: SessionDep) -> HTMLResponse:
        return await render(
            request,
            session,
            "error.html",
            {
                "status": 409,
                "detail": "A page with every slot.",
                "errors": [],
                "nav_items": [
                    NavItem("Calendar", "/calendar"),
                    NavItem("Inbox", "/inbox", badge=3),
                ],
                "workspaces": [
                    WorkspaceLink("a", "Acme Community", "/w/a"),
                    WorkspaceLink("b", "Beta <Club>", "/w/b"),
                ],
                "current_workspace": WorkspaceLink("b", "Beta <Club>", "/w/b"),
                "banners": [
                    Banner("info", "Plans were imported."),
                    Banner("danger", "<script>alert(1)</script>"),
                ],
                "notifications_url": "/notifications",
                "unread_count": 2,
            },
        )

    app.add_api_route("/calendar/month", page, response_class=HTMLResponse)
    text = (await client.get("/calendar/month", headers=HTML)).text

    assert 'aria-label="Main"' in text
    assert re.search(r'href="/calendar" aria-current="page"', text)
    assert not re.search(r'href="/inbox" aria-current', text)
    assert '3<span class="visually-hidden"> waiting</span>' in text
    assert re.search(r'href="/w/b" aria-current="true">Beta &lt;Club&gt;</a>', text)
    assert 'class="switcher-current">Beta &lt;Club&gt;</span>' in text
    assert re.search(r'class="banner banner-info" role="status"', text)
    assert re.search(r'class="banner banner-danger" role="alert"', text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert" not in text
    assert "Notifications, 2 unread" in text


# -- error pages ------------------------------------------------------------------------


async def test_unknown_page_for_a_browser_is_the_error_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert "Page not found" in text
    assert "Nothing here." in text
    assert 'data-status="404"' in text
    assert '<a class="button" href="/">' in text
    assert "/static/almanac.css" in text  # the full frame, with its look


async def test_unknown_page_for_a_client_is_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers={"accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Nothing here.", "errors": []}


async def test_api_paths_answer_json_even_to_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing", headers=HTML)
    assert response.status_code == 404
    assert response.json() == {"detail": "Nothing here.", "errors": []}


async def test_error_page_lists_field_errors(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def refuse() -> None:
        raise Invalid(
            "Some fields are not valid.",
            errors=[
                {"field": "text", "network": "bluesky", "message": "Longer than 300 characters."},
                {"field": None, "network": None, "message": "Pick at least one channel."},
            ],
        )

    app.add_api_route("/refuse", refuse)
    response = await client.get("/refuse", headers=HTML)
    assert response.status_code == 422
    text = response.text
    assert "Some fields need attention" in text
    assert '<strong class="field-name">text</strong>' in text
    assert "(bluesky)" in text
    assert "Longer than 300 characters." in text
    assert "Pick at least one channel." in text

    as_json = await client.get("/refuse", headers={"accept": "application/json"})
    assert as_json.json()["errors"][0]["network"] == "bluesky"


async def test_unexpected_error_is_logged_and_answers_the_one_shape(settings, database) -> None:  # type: ignore[no-untyped-def]
    from app.main import create_app

    app = create_app(settings, database)

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom with a secret inside")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Something went wrong on our side; it has been logged.",
        "errors": [],
    }
    assert "kaboom" not in response.text
