"""Security headers on every response (pages, error pages, JSON, static files), and
templates that keep the Content-Security-Policy true: no inline script or style."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.db import Database
from app.main import TEMPLATES_DIR, create_app
from app.models import Role
from app.settings import Settings
from tests.authz import add_invitation, new_workspace, sign_in_browser
from tests.factories import make_user

HTML = {"accept": "text/html,application/xhtml+xml"}
JSON = {"accept": "application/json"}


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers.get("content-security-policy", "")
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name.lower()] = sources
    return directives


def assert_secure_headers(response: httpx.Response, *, docs: bool = False) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") in {"same-origin", "no-referrer", "strict-origin"}, where
    csp = csp_directives(response)
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("default-src") == ["'self'"], where
    assert csp.get("object-src") == ["'none'"] or docs, where
    if not docs:  # the API docs pages boot Swagger UI / ReDoc inline
        script = csp.get("script-src", csp["default-src"])
        style = csp.get("style-src", csp["default-src"])
        for source in ("'unsafe-inline'", "'unsafe-eval'", "data:", "*"):
            assert source not in script, f"{where}: script-src allows {source}"
        assert "'unsafe-inline'" not in style, f"{where}: style-src allows 'unsafe-inline'"


async def test_pages_carry_the_headers(client: httpx.AsyncClient) -> None:
    for path in ("/", "/sign-in", "/static/almanac.css", "/static/almanac.js"):
        response = await client.get(path, headers=HTML)
        assert response.status_code in (200, 303), path
        assert_secure_headers(response)


async def test_a_signed_in_page_carries_the_headers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    async with database.write_session() as session:
        user = await make_user(session)
        await new_workspace(session, (user, Role.owner))
        browser = await sign_in_browser(session, user, settings.secret_key)
        await session.commit()
    response = await client.get("/account", headers={**HTML, **browser.headers})
    assert response.status_code == 200
    assert_secure_headers(response)
    assert_no_inline_code(response.text, "/account")


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/no-such-page", HTML, 404),  # the error page
        ("GET", "/no-such-page", JSON, 404),
        ("GET", "/api/v1/no-such-thing", JSON, 404),
        ("GET", "/api/v1/auth/me", JSON, 401),
        ("GET", "/account", HTML, 303),  # to sign-in
        ("POST", "/api/v1/auth/token", JSON, 422),
        ("DELETE", "/healthz", JSON, 405),
        ("GET", "/healthz", JSON, 200),
        ("POST", "/sign-in", {"origin": "https://evil.example"}, 403),  # refused up front
    ],
)
async def test_errors_and_json_carry_the_headers(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = await client.request(method, path, headers=headers)
    assert response.status_code == status
    assert_secure_headers(response)


class _QuietLog:
    """Stands in for the error logger (its rich traceback takes seconds; it has tests
    of its own)."""

    def exception(self, *args: object, **kwargs: object) -> None:
        pass


async def test_an_unexpected_error_carries_the_headers(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.errors.log", _QuietLog())
    app: FastAPI = create_app(settings, database)

    @app.get("/_test/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for headers in (HTML, JSON):
            response = await http.get("/_test/boom", headers=headers)
            assert response.status_code == 500
            assert_secure_headers(response)


async def test_the_api_docs_may_run_inline_code_but_not_be_framed(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/docs", "/redoc"):
        response = await client.get(path)
        assert response.status_code == 200
        assert_secure_headers(response, docs=True)
    # Only the docs: a page whose path merely starts alike gets the strict policy.
    assert_secure_headers(await client.get("/docsx", headers=HTML))


# -- templates keep the policy true ------------------------------------------------------

# An inline <script> with a body, a <script> without src, <style>, style="…",
# on…= event handlers and javascript: URLs all need 'unsafe-inline' (the CSP refuses
# them, so the page would break in a browser): JS and CSS live in app/static/.
# A JSON data block (<script type="application/json">) is data, never run: allowed.
_NOT_DATA = r"(?![^>]*\btype\s*=\s*[\"']application/json[\"'])"
INLINE_CODE = {
    "an inline <script> body": re.compile(
        r"<script\b" + _NOT_DATA + r"[^>]*>\s*[^<\s]", re.IGNORECASE
    ),
    "a <script> without src": re.compile(
        r"<script\b" + _NOT_DATA + r"(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE
    ),
    "a <style> element": re.compile(r"<style\b", re.IGNORECASE),
    "a style= attribute": re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    "an on…= event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def inline_code(text: str) -> list[str]:
    return [what for what, pattern in INLINE_CODE.items() if pattern.search(text)]


def assert_no_inline_code(text: str, where: str) -> None:
    found = inline_code(text)
    assert not found, f"{where} has {', '.join(found)}: move it to app/static/"


def templates() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


def test_templates_exist() -> None:
    assert any(path.name == "base.html" for path in templates())


@pytest.mark.parametrize("template", templates(), ids=lambda path: path.name)
def test_no_template_has_inline_script_or_style(template: Path) -> None:
    # Jinja comments may mention anything.
    text = re.sub(r"{#.*?#}", "", template.read_text(), flags=re.DOTALL)
    assert_no_inline_code(text, f"templates/{template.relative_to(TEMPLATES_DIR)}")


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        '<script type="module">\n import x from "/y"</script>',
        "<script></script>",
        "<style>p {}</style>",
        '<p style="color: red">',
        '<button type="button" onclick="go()">',
        '<a href="javascript:void(0)">',
    ],
)
def test_the_scan_finds_inline_code(snippet: str) -> None:
    assert inline_code(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/almanac.js?v=1" defer></script>',
        '<link rel="stylesheet" href="/static/almanac.css">',
        '<p class="lede" data-style="x">',
        '<input name="button_style" value="on">',
    ],
)
def test_the_scan_lets_external_files_pass(snippet: str) -> None:
    assert not inline_code(snippet)


async def test_rendered_pages_have_no_inline_code(
    client: httpx.AsyncClient, database: Database
) -> None:
    fresh = await client.get("/setup", headers=HTML)  # no user yet: the first-run page
    assert fresh.status_code == 200
    assert_no_inline_code(fresh.text, "/setup")

    async with database.write_session() as session:
        user = await make_user(session)
        workspace = await new_workspace(session, (user, Role.owner))
        link, _ = await add_invitation(session, workspace.id, user.id)
        await session.commit()
    pages = {"/": 200, "/sign-in": 200, f"/invitations/{link}": 200, "/no-such-page": 404}
    for path, status in pages.items():
        response = await client.get(path, headers=HTML)
        assert response.status_code == status, path
        assert "<html" in response.text
        assert_no_inline_code(response.text, path)
