"""Sign-in, sign-out, first-run setup and API tokens: the rules, once, for the
pages and the JSON API alike.

Sign-in throttle: at most ``THROTTLE_LIMIT`` failed sign-ins per ``THROTTLE_WINDOW``
per account (the e-mail tried, known or not) and per client address. The
failures are ``LoginAttempt`` rows, so every web process sees the same count.
Concurrent attempts on one key are serialised (SQLite: the write transaction's
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock per key), so a
burst of parallel guesses cannot all pass the count before any is recorded.

Failures are *returned* (:class:`SignInOutcome`), not raised: the request's one
commit point must keep the failure row and its audit event.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import client_ip, record
from app.auth import passwords, sessions, tokens
from app.db import Database
from app.errors import AppError, Forbidden, NotFound
from app.models import ApiToken, LoginAttempt, Membership, User, UserSession, Workspace, utcnow
from app.users.service import create_user

THROTTLE_LIMIT = 5
THROTTLE_WINDOW = timedelta(minutes=1)
WRONG_CREDENTIALS = "Wrong e-mail or password."


class TooManyAttempts(AppError):
    """429 with ``Retry-After``: too many failed sign-ins for this account or address."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(throttle_message(retry_after), headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def throttle_message(retry_after: int) -> str:
    unit = "second" if retry_after == 1 else "seconds"
    return (
        "Too many failed sign-ins for this account or from this address. "
        f"Wait {retry_after} {unit} and try again."
    )


@dataclass(frozen=True)
class SignInOutcome:
    """``user`` on success; otherwise ``retry_after`` (seconds) when throttled, or
    neither when the e-mail or password was wrong."""

    user: User | None = None
    retry_after: int | None = None


# -- the throttle ------------------------------------------------------------------


def _clean_email(email: str) -> str:
    return email.strip().lower()[:254]


def account_key(email: str) -> str:
    return f"account:{_clean_email(email)}"


def address_key(ip: str) -> str:
    return f"address:{ip}"


def _throttle_keys(email: str, ip: str | None) -> list[str]:
    keys = [account_key(email)]
    if ip:
        keys.append(address_key(ip))
    return keys


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


async def _serialise(db: AsyncSession, keys: list[str]) -> None:
    """Take one lock per key until the transaction ends (sorted: no deadlock)."""
    if db.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction already holds the database's write lock.
    for lock in sorted({_lock_id(key) for key in keys}):
        await db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock})


async def throttle_wait(db: AsyncSession, keys: list[str], now: datetime) -> int | None:
    """Seconds until a sign-in may be tried again, or None when it may be tried now."""
    wait = 0.0
    for key in keys:
        recent = list(
            (
                await db.scalars(
                    select(LoginAttempt.attempted_at)
                    .where(
                        LoginAttempt.key == key, LoginAttempt.attempted_at > now - THROTTLE_WINDOW
                    )
                    .order_by(LoginAttempt.attempted_at.desc())
                    .limit(THROTTLE_LIMIT)
                )
            ).all()
        )
        if len(recent) >= THROTTLE_LIMIT:
            # Allowed again once the oldest of the last LIMIT failures leaves the window.
            wait = max(wait, (recent[-1] + THROTTLE_WINDOW - now).total_seconds())
    return max(1, math.ceil(wait)) if wait > 0 else None


async def _record_failure(db: AsyncSession, keys: list[str], now: datetime) -> None:
    await db.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= now - THROTTLE_WINDOW))
    db.add_all([LoginAttempt(key=key, attempted_at=now) for key in keys])
    await db.flush()


# -- signing in --------------------------------------------------------------------


async def find_user(db: AsyncSession, email: str) -> User | None:
    cleaned = _clean_email(email)
    if not cleaned:
        return None
    return await db.scalar(select(User).where(func.lower(User.email) == cleaned))


async def authenticate(
    db: AsyncSession, *, email: str, password: str, request: Request
) -> SignInOutcome:
    """Check an e-mail and password, throttled and audited.

    An unknown e-mail, a wrong password and a deactivated account look the same
    from outside (same message, one argon2 verification each)."""
    ip = client_ip(request)
    keys = _throttle_keys(email, ip)
    await _serialise(db, keys)
    now = utcnow()
    wait = await throttle_wait(db, keys, now)
    if wait is not None:
        return SignInOutcome(retry_after=wait)

    user = await find_user(db, email)
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = await passwords.verify_password(stored, password)
    if user is None or not matches or not user.is_active:
        reason = (
            "unknown_email"
            if user is None
            else "no_password"
            if stored is None
            else "wrong_password"
            if not matches
            else "inactive"
        )
        await _record_failure(db, keys, now)
        await record(
            db,
            action="sign_in.failed",
            actor=None,
            actor_label=_clean_email(email) or None,
            request=request,
            data={"reason": reason},
        )
        return SignInOutcome()

    if stored is not None and passwords.needs_rehash(stored):
        user.password_hash = await passwords.hash_password_async(password)
    await db.execute(delete(LoginAttempt).where(LoginAttempt.key == account_key(user.email)))
    await record(db, action="sign_in.succeeded", actor=user, request=request)
    return SignInOutcome(user=user)


async def open_session(db: AsyncSession, user: User, request: Request) -> str:
    """Start a browser session for ``user``; return the raw token for the cookie."""
    token, _row = await sessions.start_session(
        db, user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    return token


async def revoke_cookie_session(db: AsyncSession, secret_key: str, cookie: str | None) -> None:
    """Revoke the session a (possibly stale) cookie names, if it is still live."""
    raw = sessions.unsign_session_token(secret_key, cookie) if cookie else None
    if raw is None:
        return
    row = await db.scalar(
        select(UserSession).where(UserSession.token_hash == tokens.hash_secret(raw))
    )
    if row is not None:
        await sessions.revoke_session(db, row)


async def sign_out(db: AsyncSession, principal: sessions.Principal, request: Request) -> None:
    if principal.session is not None:
        await sessions.revoke_session(db, principal.session)
    await record(db, action="sign_out", actor=principal.user, request=request)


async def sign_out_everywhere(db: AsyncSession, user: User, request: Request) -> int:
    count = await sessions.revoke_all_sessions(db, user)
    await record(
        db, action="sessions.revoked_all", actor=user, request=request, data={"count": count}
    )
    return count


async def active_sessions(db: AsyncSession, user: User) -> list[UserSession]:
    now = utcnow()
    return list(
        (
            await db.scalars(
                select(UserSession)
                .where(
                    UserSession.user_id == user.id,
                    UserSession.revoked_at.is_(None),
                    UserSession.expires_at > now,
                )
                .order_by(UserSession.last_seen_at.desc())
            )
        ).all()
    )


async def memberships(db: AsyncSession, user: User) -> list[tuple[Workspace, Any]]:
    """The user's workspaces with their role, by workspace name."""
    rows = await db.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id)
        .order_by(func.lower(Workspace.name), Workspace.id)
    )
    return [(workspace, role) for workspace, role in rows.all()]


# -- first run ---------------------------------------------------------------------


async def needs_setup(db: AsyncSession) -> bool:
    """True on a fresh install: no user exists yet."""
    return await db.scalar(select(User.id).limit(1)) is None


async def setup_announcement(database: Database, *, secret_key: str, base_url: str) -> str | None:
    """The start-up log line of a fresh install (None once a user exists)."""
    async with database.read_session() as db:
        if not await needs_setup(db):
            return None
    return (
        f"First run: no user exists yet. Open {base_url}/setup and enter the setup code "
        f"{tokens.setup_token(secret_key)} to create the owner account "
        "(or run `almanac user create`)."
    )


async def complete_setup(
    db: AsyncSession,
    *,
    secret_key: str,
    setup_token: str,
    email: str,
    display_name: str,
    password: str,
    request: Request,
) -> User:
    """Create the first user (the owner of the install) if the setup token is right."""
    if not await needs_setup(db):
        raise NotFound("Nothing here.")
    # Serialise concurrent set-ups (SQLite already does, in its write transaction).
    await _serialise(db, ["setup"])
    if not await needs_setup(db):
        raise NotFound("Nothing here.")
    if not tokens.same(setup_token.strip(), tokens.setup_token(secret_key)):
        raise Forbidden(
            "That setup code is not right. Copy it from the server's log, from the line "
            "that starts with “First run”."
        )
    user = await create_user(db, email=email, display_name=display_name, password=password)
    await record(db, action="setup.completed", actor=user, request=request)
    return user


# -- API tokens --------------------------------------------------------------------


async def create_api_token(
    db: AsyncSession,
    user: User,
    *,
    name: str,
    expires_at: datetime | None,
    request: Request | None,
) -> tuple[str, ApiToken]:
    """Create a token; return its value (shown once, never stored) and the row."""
    value, prefix = tokens.new_api_token()
    row = ApiToken(
        user_id=user.id,
        name=name.strip()[:100],
        prefix=prefix,
        token_hash=tokens.hash_secret(value),
        expires_at=expires_at.astimezone(UTC) if expires_at is not None else None,
    )
    db.add(row)
    await db.flush()
    await record(
        db,
        action="token.created",
        actor=user,
        request=request,
        target_type="api_token",
        target_id=row.id,
        data={"name": row.name, "prefix": prefix},
    )
    return value, row


async def list_api_tokens(db: AsyncSession, user: User) -> list[ApiToken]:
    return list(
        (
            await db.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == user.id)
                .order_by(ApiToken.created_at.desc(), ApiToken.id)
            )
        ).all()
    )


async def revoke_api_token(
    db: AsyncSession, user: User, token_id: uuid.UUID, *, request: Request | None
) -> ApiToken:
    """Revoke one of the user's tokens (404 for anyone else's). Idempotent."""
    row = await db.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such API token.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await db.flush()
        await record(
            db,
            action="token.revoked",
            actor=user,
            request=request,
            target_type="api_token",
            target_id=row.id,
            data={"name": row.name, "prefix": row.prefix},
        )
    return row
