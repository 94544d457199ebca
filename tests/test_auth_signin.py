"""Sign-in and sign-out pages: the session cookie, one message for every wrong
credential, the throttle shared by every web process, revocation, CSRF."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select

from app.auth import passwords
from app.auth.sessions import SESSION_COOKIE, unsign_session_token
from app.auth.tokens import hash_secret
from app.db import Database, create_engine
from app.main import create_app
from app.models import LoginAttempt, User, UserSession, utcnow
from app.settings import Settings
from app.web.auth_pages import describe_agent, safe_next
from tests.auth_helpers import (
    HTML,
    PASSWORD,
    add_user,
    audit_events,
    client_at,
    csrf_of,
    sign_in,
)
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import make_membership, make_workspace

WRONG = "Wrong e-mail or password."


def session_cookie_header(response: httpx.Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)]
    assert len(headers) == 1, headers
    return headers[0]


# -- signing in ------------------------------------------------------------------------


async def test_sign_in_sets_a_signed_http_only_lax_cookie(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await add_user(database, email="ada@example.org")
    response = await sign_in(client, "Ada@Example.org ")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    header = session_cookie_header(response)
    flags = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # the base URL is http://
    # The value is the signed random token whose hash names a live session of the user.
    raw = unsign_session_token(TEST_SECRET, client.cookies[SESSION_COOKIE])
    assert raw is not None
    async with database.read_session() as db:
        row = await db.scalar(select(UserSession).where(UserSession.token_hash == hash_secret(raw)))
    assert row is not None and row.user_id == user.id and row.revoked_at is None
    assert row.ip == "127.0.0.1"

    home = await client.get("/", headers=HTML)
    assert home.status_code == 200
    assert "data-current-user>Ada Lovelace<" in home.text
    assert 'action="/sign-out"' in home.text
    assert f'name="csrf_token" value="{row.csrf_token}"' in home.text

    (event,) = await audit_events(database, "sign_in.succeeded")
    assert event.actor_id == user.id and event.ip == "127.0.0.1"


async def test_cookie_is_secure_when_the_base_url_is_https(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = database.engine.url.render_as_string(hide_password=False)
    settings = make_settings(tmp_path / "data", url, base_url="https://almanac.example.org")
    await add_user(database, email="ada@example.org")
    async with client_at(create_app(settings, database)) as client:
        response = await sign_in(client, "ada@example.org")
    assert response.status_code == 303
    assert "secure" in [p.strip().lower() for p in session_cookie_header(response).split(";")]


async def test_a_forged_cookie_is_ignored(client: httpx.AsyncClient, database: Database) -> None:
    await add_user(database)
    client.cookies.set(SESSION_COOKIE, "not-a-signed-value")
    response = await client.get("/account", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/account"


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_user(database, email="ada@example.org")
    verified: list[str] = []
    current = passwords.HASHER

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            verified.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(
        passwords,
        "HASHER",
        CountingHasher(current.time_cost, current.memory_cost, current.parallelism),
    )

    wrong = await sign_in(client, "ada@example.org", "not the password")
    unknown = await sign_in(client, "nobody@example.org", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert WRONG in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    # The e-mail typed is kept in the form, the password is not.
    assert 'value="nobody@example.org"' in unknown.text
    assert "not the password" not in unknown.text
    # Both paths paid for one argon2 verification (the unknown one against a dummy hash).
    assert len(verified) == 2 and all(h.startswith("$argon2") for h in verified)

    events = await audit_events(database, "sign_in.failed")
    assert [e.actor_label for e in events] == ["ada@example.org", "nobody@example.org"]
    assert all(e.ip == "127.0.0.1" and e.actor_id is None for e in events)
    assert [e.data["reason"] for e in events] == ["wrong_password", "unknown_email"]


async def test_an_inactive_user_cannot_sign_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="gone@example.org", is_active=False)
    response = await sign_in(client, "gone@example.org")
    assert response.status_code == 401
    assert WRONG in response.text


async def test_an_outdated_hash_is_upgraded_at_sign_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await add_user(database, email="ada@example.org")
    # Parameters other than the current hasher's (the suite's cheap one, see conftest).
    weak = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    async with database.write_session() as db:
        (await db.get(User, user.id)).password_hash = weak  # type: ignore[union-attr]
        await db.commit()
    assert (await sign_in(client, "ada@example.org")).status_code == 303
    async with database.read_session() as db:
        stored = (await db.get(User, user.id)).password_hash  # type: ignore[union-attr]
    assert stored != weak
    assert passwords.HASHER.verify(stored, PASSWORD)
    assert not passwords.needs_rehash(stored)


# -- next ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/account", "/account"),
        ("/w/1/calendar?month=2026-12#today", "/w/1/calendar?month=2026-12#today"),
        ("", "/"),
        ("account", "/"),
        ("//evil.example.org/x", "/"),
        ("/\\evil.example.org", "/"),
        ("https://evil.example.org/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\nSet-Cookie: x=1", "/"),
        ("/sign-in?next=/account", "/"),
    ],
)
def test_next_is_honoured_only_for_local_paths(given: str, expected: str) -> None:
    assert safe_next(given) == expected


async def test_sign_in_goes_back_to_next(client: httpx.AsyncClient, database: Database) -> None:
    await add_user(database, email="ada@example.org")
    page = await client.get("/account", headers=HTML)
    assert page.headers["location"] == "/sign-in?next=/account"
    form = await client.get("/sign-in?next=/account", headers=HTML)
    assert 'name="next" value="/account"' in form.text
    response = await sign_in(client, "ada@example.org", next="/account")
    assert response.headers["location"] == "/account"
    # Already signed in: the sign-in page sends you on.
    again = await client.get("/sign-in?next=/account", headers=HTML)
    assert again.status_code == 303 and again.headers["location"] == "/account"


async def test_sign_in_refuses_to_send_you_off_site(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    response = await sign_in(client, "ada@example.org", next="https://evil.example.org/")
    assert response.headers["location"] == "/"


# -- the throttle ----------------------------------------------------------------------


async def test_five_failures_for_one_account_then_429_from_any_address(
    app: FastAPI, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    for n in range(5):
        async with client_at(app, f"10.0.0.{n + 1}") as client:
            assert (await sign_in(client, "ada@example.org", "guess")).status_code == 401
    async with client_at(app, "10.0.0.99") as client:
        # Throttled even with the right password: the guesser learns nothing more.
        response = await sign_in(client, "ADA@example.org")
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert "Too many failed sign-ins" in response.text
    assert f"Wait {retry_after} second" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_five_failures_from_one_address_then_429_for_any_account(
    app: FastAPI, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    async with client_at(app, "192.0.2.7") as client:
        for n in range(5):
            assert (await sign_in(client, f"guess-{n}@example.org", "guess")).status_code == 401
        response = await sign_in(client, "ada@example.org")
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
    # Another address is not affected.
    async with client_at(app, "192.0.2.8") as client:
        assert (await sign_in(client, "ada@example.org")).status_code == 303


async def test_the_throttle_is_shared_by_two_web_processes(
    settings: Settings, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    other = Database(create_engine(database.engine.url))  # a second process: its own pool
    try:
        first, second = create_app(settings, database), create_app(settings, other)
        async with client_at(first, "198.51.100.1") as a, client_at(second, "198.51.100.2") as b:
            for client in (a, b, a, b, a):
                assert (await sign_in(client, "ada@example.org", "guess")).status_code == 401
            assert (await sign_in(b, "ada@example.org")).status_code == 429
            assert (await sign_in(a, "ada@example.org")).status_code == 429
    finally:
        await other.dispose()


async def test_parallel_guesses_cannot_outrun_the_throttle(
    app: FastAPI, database: Database
) -> None:
    await add_user(database, email="ada@example.org")

    async def guess(n: int) -> int:
        async with client_at(app, f"203.0.113.{n}") as client:
            return (await sign_in(client, "ada@example.org", f"guess {n}")).status_code

    codes = await asyncio.gather(*(guess(n) for n in range(1, 11)))
    assert sorted(codes) == [401] * 5 + [429] * 5


async def test_retry_after_counts_from_the_oldest_recent_failure(
    app: FastAPI, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    now = utcnow()
    async with database.write_session() as db:
        db.add_all(
            LoginAttempt(key="account:ada@example.org", attempted_at=now - timedelta(seconds=s))
            for s in (50, 40, 30, 20, 10)
        )
        await db.commit()
    async with client_at(app) as client:
        response = await sign_in(client, "ada@example.org")
    assert response.status_code == 429
    assert 9 <= int(response.headers["retry-after"]) <= 11


async def test_old_failures_do_not_count_and_are_pruned(app: FastAPI, database: Database) -> None:
    await add_user(database, email="ada@example.org")
    old = utcnow() - timedelta(minutes=2)
    async with database.write_session() as db:
        db.add_all(LoginAttempt(key="account:ada@example.org", attempted_at=old) for _ in range(9))
        await db.commit()
    async with client_at(app) as client:
        assert (await sign_in(client, "ada@example.org", "guess")).status_code == 401
    async with database.read_session() as db:
        rows = (await db.scalars(select(LoginAttempt.attempted_at))).all()
    assert len(rows) == 2  # the new failure, per account and per address
    assert all(at > old for at in rows)


async def test_a_success_clears_the_account_failures(app: FastAPI, database: Database) -> None:
    await add_user(database, email="ada@example.org")
    async with client_at(app, "10.1.0.1") as client:
        for _ in range(4):
            assert (await sign_in(client, "ada@example.org", "guess")).status_code == 401
        assert (await sign_in(client, "ada@example.org")).status_code == 303
    async with database.read_session() as db:
        keys = (await db.scalars(select(LoginAttempt.key))).all()
    assert "account:ada@example.org" not in keys
    assert keys.count("address:10.1.0.1") == 4  # the address keeps its record
    async with client_at(app, "10.1.0.2") as client:
        for _ in range(4):
            assert (await sign_in(client, "ada@example.org", "guess")).status_code == 401


# -- signing out -----------------------------------------------------------------------


async def test_sign_out_revokes_the_session_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await add_user(database, email="ada@example.org")
    await sign_in(client, "ada@example.org")
    cookie = client.cookies[SESSION_COOKIE]
    csrf = await csrf_of(client)

    response = await client.post("/sign-out", data={"csrf_token": csrf}, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"
    assert 'almanac_session=""' in session_cookie_header(response)
    assert SESSION_COOKIE not in client.cookies

    # The old cookie, replayed, no longer works.
    replay = await client.get("/account", headers={**HTML, "cookie": f"{SESSION_COOKIE}={cookie}"})
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/sign-in")
    (event,) = await audit_events(database, "sign_out")
    assert event.actor_id == user.id


async def test_sign_out_everywhere_ends_every_session(app: FastAPI, database: Database) -> None:
    user = await add_user(database, email="ada@example.org")
    async with client_at(app, "10.2.0.1") as laptop, client_at(app, "10.2.0.2") as phone:
        await sign_in(laptop, "ada@example.org")
        await sign_in(phone, "ada@example.org")
        page = await laptop.get("/account", headers=HTML)
        assert page.text.count('class="session') >= 2
        assert "This browser" in page.text

        csrf = await csrf_of(phone)
        response = await phone.post(
            "/account/sign-out-everywhere", data={"csrf_token": csrf}, headers=HTML
        )
        assert response.status_code == 303 and response.headers["location"] == "/sign-in"
        for client in (laptop, phone):
            assert (await client.get("/account", headers=HTML)).status_code == 303
    async with database.read_session() as db:
        live = await db.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        )
    assert live == 0
    (event,) = await audit_events(database, "sessions.revoked_all")
    assert event.data == {"count": 2}


async def test_signing_in_again_drops_the_previous_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    await sign_in(client, "ada@example.org")
    first = client.cookies[SESSION_COOKIE]
    await sign_in(client, "ada@example.org")
    assert client.cookies[SESSION_COOKIE] != first
    replay = await client.get("/account", headers={**HTML, "cookie": f"{SESSION_COOKIE}={first}"})
    assert replay.status_code == 303


# -- CSRF --------------------------------------------------------------------------------


async def test_sign_out_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    await add_user(database, email="ada@example.org")
    await sign_in(client, "ada@example.org")
    response = await client.post("/sign-out", data={}, headers=HTML)
    assert response.status_code == 403
    assert "CSRF" in response.text
    wrong = await client.post("/sign-out", data={"csrf_token": "nope"}, headers=HTML)
    assert wrong.status_code == 403
    # Still signed in.
    assert (await client.get("/account", headers=HTML)).status_code == 200


async def test_a_cross_site_post_is_refused(client: httpx.AsyncClient, database: Database) -> None:
    await add_user(database, email="ada@example.org")
    await sign_in(client, "ada@example.org")
    csrf = await csrf_of(client)
    forged = await client.post(
        "/sign-out",
        data={"csrf_token": csrf},
        headers={**HTML, "origin": "https://evil.example.org"},
    )
    assert forged.status_code == 403
    # A sign-in form posted from another site (login CSRF) is refused too.
    login = await client.post(
        "/sign-in",
        data={"email": "ada@example.org", "password": PASSWORD},
        headers={"origin": "https://evil.example.org"},
    )
    assert login.status_code == 403
    same_site = await client.post(
        "/sign-out", data={"csrf_token": csrf}, headers={**HTML, "origin": "http://testserver"}
    )
    assert same_site.status_code == 303


# -- the frame ---------------------------------------------------------------------------


async def test_the_frame_lists_the_users_workspaces(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await add_user(database, email="ada@example.org")
    async with database.write_session() as db:
        mine = await make_workspace(db, name="Zebra Club")
        other = await make_workspace(db, name="Acme <Community>")
        await make_workspace(db, name="Not Mine")
        await make_membership(db, workspace=mine, user_id=user.id)
        await make_membership(db, workspace=other, user_id=user.id)
        await db.commit()
    await sign_in(client, "ada@example.org")
    text = (await client.get("/", headers=HTML)).text
    assert "Acme &lt;Community&gt;" in text and "Zebra Club" in text
    assert text.index("Acme &lt;Community&gt;") < text.index("Zebra Club")
    assert "Not Mine" not in text
    assert f'href="/w/{mine.id}"' in text


async def test_anonymous_pages_offer_sign_in(client: httpx.AsyncClient, database: Database) -> None:
    await add_user(database)
    home = await client.get("/", headers=HTML)
    assert 'href="/sign-in"' in home.text
    assert "data-current-user" not in home.text
    page = await client.get("/sign-in", headers=HTML)
    assert page.status_code == 200
    assert 'action="/sign-in"' in page.text
    assert 'autocomplete="current-password"' in page.text


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (None, "Unknown browser"),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
    ],
)
def test_sessions_are_described_for_a_person(agent: str | None, expected: str) -> None:
    assert describe_agent(agent) == expected
