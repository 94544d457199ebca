"""First run: a fresh install sends everyone to /setup, which needs the setup code
from the server's log, creates the owner and signs them in; then it is gone."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

import app.main as main_module
from app.auth import service
from app.auth.sessions import SESSION_COOKIE
from app.auth.tokens import setup_token
from app.db import Database
from app.models import User
from app.settings import Settings
from tests.auth_helpers import HTML, PASSWORD, add_user, audit_events
from tests.conftest import TEST_SECRET

CODE = setup_token(TEST_SECRET)


def setup_form(**overrides: str) -> dict[str, str]:
    form = {
        "setup_token": CODE,
        "display_name": "Grace Hopper",
        "email": "Grace@Example.org",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    form.update(overrides)
    return form


async def user_count(database: Database) -> int:
    async with database.read_session() as db:
        return int(await db.scalar(select(func.count()).select_from(User)) or 0)


async def test_a_fresh_install_sends_visitors_to_setup(client: httpx.AsyncClient) -> None:
    for path in ("/", "/sign-in", "/sign-in?next=/account"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/setup"
    page = await client.get("/setup", headers=HTML)
    assert page.status_code == 200
    assert 'action="/setup"' in page.text
    assert 'name="setup_token"' in page.text
    assert "First run" in page.text
    assert CODE not in page.text  # the page never gives the code away


async def test_setup_creates_the_owner_and_signs_them_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post("/setup", data=setup_form(), headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert SESSION_COOKIE in client.cookies
    async with database.read_session() as db:
        (user,) = (await db.scalars(select(User))).all()
    assert user.email == "grace@example.org"
    assert user.display_name == "Grace Hopper"
    assert user.password_hash and user.password_hash.startswith("$argon2")

    home = await client.get("/", headers=HTML)
    assert home.status_code == 200
    assert "data-current-user>Grace Hopper<" in home.text
    (event,) = await audit_events(database, "setup.completed")
    assert event.actor_id == user.id

    # The owner can sign in again later with that password.
    await client.post("/sign-out", data={"csrf_token": _csrf(home.text)}, headers=HTML)
    again = await client.post(
        "/sign-in", data={"email": "grace@example.org", "password": PASSWORD}, headers=HTML
    )
    assert again.status_code == 303


def _csrf(text: str) -> str:
    marker = 'name="csrf_token" value="'
    start = text.index(marker) + len(marker)
    return text[start : text.index('"', start)]


@pytest.mark.parametrize("code", ["", "0" * 24, CODE[:-1], CODE.upper() + "x"])
async def test_a_wrong_setup_code_is_refused(
    client: httpx.AsyncClient, database: Database, code: str
) -> None:
    response = await client.post("/setup", data=setup_form(setup_token=code), headers=HTML)
    assert response.status_code == 403
    assert "setup code is not right" in response.text
    assert 'value="grace@example.org"' in response.text.lower()  # the form keeps its input
    assert SESSION_COOKIE not in client.cookies
    assert await user_count(database) == 0


async def test_setup_checks_the_password(client: httpx.AsyncClient, database: Database) -> None:
    differ = await client.post(
        "/setup", data=setup_form(password_confirm=PASSWORD + "!"), headers=HTML
    )
    assert differ.status_code == 422
    assert "The two passwords differ" in differ.text
    short = await client.post(
        "/setup", data=setup_form(password="short", password_confirm="short"), headers=HTML
    )
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    bad_email = await client.post("/setup", data=setup_form(email="not-an-email"), headers=HTML)
    assert bad_email.status_code == 422
    assert await user_count(database) == 0


async def test_setup_is_gone_once_a_user_exists(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database)
    assert (await client.get("/setup", headers=HTML)).status_code == 404
    response = await client.post("/setup", data=setup_form(), headers=HTML)
    assert response.status_code == 404
    assert await user_count(database) == 1
    assert (await client.get("/sign-in", headers=HTML)).status_code == 200
    assert (await client.get("/", headers=HTML)).status_code == 200


async def test_the_setup_code_is_announced_at_start_only_on_a_fresh_install(
    app: FastAPI, settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[str] = []

    class Recorder:
        def warning(self, line: str) -> None:
            logged.append(line)

    monkeypatch.setattr(main_module, "log", Recorder())
    async with app.router.lifespan_context(app):
        pass
    (line,) = logged
    assert CODE in line
    assert f"{settings.base_url}/setup" in line

    await add_user(database)
    async with app.router.lifespan_context(app):
        pass
    assert len(logged) == 1
    assert (
        await service.setup_announcement(
            database, secret_key=settings.secret_key, base_url=settings.base_url
        )
        is None
    )


async def test_the_setup_line_survives_log_redaction() -> None:
    from app.logging import redact_text

    line = "First run: … Open http://127.0.0.1:8000/setup and enter the setup code " + CODE
    assert CODE in redact_text(line)
