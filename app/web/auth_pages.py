"""Sign-in, sign-out, first-run setup and the account page.

Forms of anonymous visitors (sign-in, setup) have no session to bind a CSRF token
to; the same-origin check of :mod:`app.security` refuses forged cross-site posts
of them. Forms of signed-in users carry the session's CSRF token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import service, sessions
from app.auth.deps import OptionalPrincipal, PagePrincipal
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, NotFound
from app.models import ApiToken, utcnow
from app.settings import Settings
from app.web.frame import render

router = APIRouter()

TOKEN_LIFETIMES = {"": None, "30": 30, "90": 90, "365": 365}


# -- helpers ------------------------------------------------------------------------


class SetupRequired(AppError):
    """Raised on a fresh install (no user yet); rendered as a redirect to /setup."""

    status_code = 303

    def __init__(self) -> None:
        super().__init__("Set up Almanac first.", headers={"Location": "/setup"})


async def first_run_gate(db: SessionDep) -> None:
    """Page dependency: on a fresh install, send the visitor to the setup page."""
    if await service.needs_setup(db):
        raise SetupRequired()


FirstRunGate = Depends(first_run_gate)


def safe_next(value: str | None) -> str:
    """``next`` only when it is a path of this site (no open redirect), else ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 32 or char == "\\" for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith(("/sign-in", "/sign-out", "/setup")):
        return "/"
    return value


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        sessions.SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


# -- sign in / sign out -------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(
    request: Request, db: SessionDep, principal: OptionalPrincipal, next: str = "/"
) -> Response:
    if await service.needs_setup(db):
        return _redirect("/setup")
    if principal is not None:
        return _redirect(safe_next(next))
    return await render(request, db, "sign_in.html", {"next": safe_next(next), "email": ""})


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if await service.needs_setup(db):
        return _redirect("/setup")
    target = safe_next(next)
    outcome = await service.authenticate(db, email=email, password=password, request=request)
    if outcome.user is None:
        # Rendered, not raised: the failure and its audit event must commit.
        if outcome.retry_after is not None:
            status, error = 429, service.throttle_message(outcome.retry_after)
        else:
            status, error = 401, service.WRONG_CREDENTIALS
        response = await render(
            request,
            db,
            "sign_in.html",
            {"next": target, "email": email.strip(), "error": error},
            status_code=status,
        )
        if outcome.retry_after is not None:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    # A browser signing in again drops its previous session rather than leaving it live.
    await service.revoke_cookie_session(
        db, settings.secret_key, request.cookies.get(sessions.SESSION_COOKIE)
    )
    raw = await service.open_session(db, outcome.user, request)
    response = _redirect(target)
    sessions.set_session_cookie(response, settings, raw)
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, db: SessionDep, settings: SettingsDep, principal: OptionalPrincipal
) -> Response:
    """Revoke this browser's session (the CSRF check ran when the caller was resolved)."""
    if principal is not None:
        await service.sign_out(db, principal, request)
    response = _redirect("/sign-in")
    clear_session_cookie(response, settings)
    return response


# -- first run ----------------------------------------------------------------------


def _setup_context(**values: Any) -> dict[str, Any]:
    return {"error": None, "field_errors": {}, "email": "", "display_name": "", **values}


@router.get("/setup", response_class=HTMLResponse)
async def setup_page(request: Request, db: SessionDep) -> Response:
    if not await service.needs_setup(db):
        raise NotFound("Nothing here.")
    return await render(request, db, "setup.html", _setup_context())


@router.post("/setup", response_class=HTMLResponse)
async def setup(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    setup_token: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=120)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Create the owner of a fresh install and sign them in."""
    if not await service.needs_setup(db):
        raise NotFound("Nothing here.")
    filled = {"email": email.strip(), "display_name": display_name.strip()}
    if password != password_confirm:
        return await render(
            request,
            db,
            "setup.html",
            _setup_context(
                error="The two passwords differ; type the same password twice.",
                field_errors={"password_confirm": "Not the same as the password."},
                **filled,
            ),
            status_code=422,
        )
    try:
        user = await service.complete_setup(
            db,
            secret_key=settings.secret_key,
            setup_token=setup_token,
            email=email,
            display_name=display_name,
            password=password,
            request=request,
        )
    except NotFound:
        raise
    except AppError as exc:
        fields = {e["field"]: e["message"] for e in exc.errors if e.get("field")}
        if exc.status_code == 403:
            fields["setup_token"] = "Not the setup code of this server."
        return await render(
            request,
            db,
            "setup.html",
            _setup_context(error=exc.detail, field_errors=fields, **filled),
            status_code=exc.status_code,
        )
    raw = await service.open_session(db, user, request)
    response = _redirect("/")
    sessions.set_session_cookie(response, settings, raw)
    return response


# -- the account page ---------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    device: str
    current: bool


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_agent(user_agent: str | None) -> str:
    """“Firefox on Linux” from a User-Agent header, for a person to recognise a session."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:60]


@dataclass(frozen=True)
class TokenView:
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    state: Literal["active", "expired", "revoked"]


def _token_view(row: ApiToken, now: datetime) -> TokenView:
    state: Literal["active", "expired", "revoked"] = "active"
    if row.revoked_at is not None:
        state = "revoked"
    elif row.expires_at is not None and row.expires_at <= now:
        state = "expired"
    return TokenView(
        id=str(row.id),
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        state=state,
    )


async def _account_page(
    request: Request,
    db: SessionDep,
    principal: sessions.Principal,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    now = utcnow()
    current_id = principal.session.id if principal.session else None
    session_rows = await service.active_sessions(db, principal.user)
    token_rows = await service.list_api_tokens(db, principal.user)
    context = {
        "user": {"display_name": principal.user.display_name, "email": principal.user.email},
        "sessions": [
            SessionView(
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                ip=row.ip,
                user_agent=row.user_agent,
                device=describe_agent(row.user_agent),
                current=row.id == current_id,
            )
            for row in session_rows
        ],
        "tokens": [_token_view(row, now) for row in token_rows],
        "new_token": None,
        "token_error": None,
        "token_name": "",
        **extra,
    }
    response = await render(request, db, "account.html", context, status_code=status_code)
    # It may hold a new token's value: keep it out of every cache, the browser's included.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, db: SessionDep, principal: PagePrincipal) -> Response:
    """Who you are, where you are signed in, your API tokens."""
    return await _account_page(request, db, principal)


@router.post("/account/tokens", response_class=HTMLResponse)
async def account_create_token(
    request: Request,
    db: SessionDep,
    principal: PagePrincipal,
    name: Annotated[str, Form(max_length=200)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Create an API token and show its value, this once."""
    name = name.strip()
    if not name or len(name) > 100 or expires_in_days not in TOKEN_LIFETIMES:
        return await _account_page(
            request,
            db,
            principal,
            status_code=422,
            token_error="Give the token a name of 1 to 100 characters and pick an expiry.",
            token_name=name[:100],
        )
    days = TOKEN_LIFETIMES[expires_in_days]
    expires_at = utcnow() + timedelta(days=days) if days else None
    value, row = await service.create_api_token(
        db, principal.user, name=name, expires_at=expires_at, request=request
    )
    return await _account_page(
        request,
        db,
        principal,
        new_token={"value": value, "name": row.name, "prefix": row.prefix},
    )


@router.post("/account/tokens/{token_id}/revoke")
async def account_revoke_token(
    token_id: uuid.UUID, request: Request, db: SessionDep, principal: PagePrincipal
) -> Response:
    await service.revoke_api_token(db, principal.user, token_id, request=request)
    return _redirect("/account")


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(
    request: Request, db: SessionDep, settings: SettingsDep, principal: PagePrincipal
) -> Response:
    """Revoke every session of the user, this browser's included."""
    await service.sign_out_everywhere(db, principal.user, request)
    response = _redirect("/sign-in")
    clear_session_cookie(response, settings)
    return response
