"""Users: creation and password hashing (argon2)."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Invalid
from app.models import User

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email:
        raise Invalid(
            f"{email!r} is not an e-mail address",
            errors=[{"field": "email", "network": None, "message": "not an e-mail address"}],
        )
    return email


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "network": None, "message": "too short"}],
        )
    return _hasher.hash(password)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(
        select(User).where(func.lower(User.email) == normalize_email(email))
    )


async def create_user(
    session: AsyncSession, *, email: str, display_name: str, password: str | None
) -> User:
    email = normalize_email(email)
    if await get_user_by_email(session, email) is not None:
        raise Conflict(f"A user with the e-mail {email} already exists.")
    user = User(
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    await session.flush()
    return user
