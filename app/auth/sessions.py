"""Who is calling: API tokens (Bearer) and browser sessions (signed cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from app.auth.tokens import hash_secret, new_secret
from app.models import ApiToken, User, UserSession, utcnow
from app.settings import Settings

SESSION_COOKIE = "almanac_session"
SESSION_LIFETIME = timedelta(days=14)
# last_seen_at / last_used_at are written at most this often (not on every request).
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, through a browser session or an API token."""

    user: User
    session: UserSession | None = None
    token: ApiToken | None = None

    @property
    def via_cookie(self) -> bool:
        return self.session is not None


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="almanac-session")


def sign_session_token(secret_key: str, token: str) -> str:
    return _serializer(secret_key).dumps(token)


def unsign_session_token(secret_key: str, cookie: str) -> str | None:
    try:
        value = _serializer(secret_key).loads(cookie, max_age=int(SESSION_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def set_session_cookie(response: Response, settings: Settings, raw_token: str) -> None:
    """Put a new session's cookie on a response: the one place that decides its flags
    (signed, HttpOnly, SameSite=Lax, Secure when the base URL is https)."""
    response.set_cookie(
        SESSION_COOKIE,
        sign_session_token(settings.secret_key, raw_token),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


async def start_session(
    db: AsyncSession, user: User, *, ip: str | None, user_agent: str | None
) -> tuple[str, UserSession]:
    """Create a session; return the raw token (for the cookie) and the row."""
    token = new_secret()
    row = UserSession(
        user_id=user.id,
        token_hash=hash_secret(token),
        csrf_token=new_secret(24),
        expires_at=utcnow() + SESSION_LIFETIME,
        ip=ip,
        user_agent=(user_agent or "")[:255] or None,
    )
    db.add(row)
    await db.flush()
    return token, row


async def session_principal(db: AsyncSession, token: str) -> Principal | None:
    now = utcnow()
    row = await db.scalar(
        select(UserSession).where(
            UserSession.token_hash == hash_secret(token),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
    )
    if row is None:
        return None
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(user=user, session=row)


async def token_principal(db: AsyncSession, token: str) -> Principal | None:
    now = utcnow()
    row = await db.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_secret(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(user=user, token=row)


def needs_touch(principal: Principal) -> bool:
    now = utcnow()
    if principal.session is not None:
        return now - principal.session.last_seen_at > TOUCH_EVERY
    last = principal.token.last_used_at if principal.token else None
    return last is None or now - last > TOUCH_EVERY


async def touch(sessions: async_sessionmaker[AsyncSession], principal: Principal) -> None:
    """Record last use in its own short write transaction, so a GET request's read
    transaction never has to upgrade to a write (SQLite would refuse a stale one)."""
    now = utcnow()
    async with sessions() as db:
        if principal.session is not None:
            await db.execute(
                update(UserSession)
                .where(UserSession.id == principal.session.id)
                .values(last_seen_at=now)
            )
        elif principal.token is not None:
            await db.execute(
                update(ApiToken).where(ApiToken.id == principal.token.id).values(last_used_at=now)
            )
        await db.commit()


async def revoke_session(db: AsyncSession, row: UserSession) -> None:
    row.revoked_at = row.revoked_at or utcnow()
    await db.flush()


async def revoke_all_sessions(db: AsyncSession, user: User) -> int:
    """Sign out everywhere."""
    result = await db.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0
