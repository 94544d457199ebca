"""Users: e-mail addresses and creation."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import hash_password, hash_password_async
from app.errors import Conflict, Invalid
from app.models import User


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email:
        raise Invalid(
            f"{email!r} is not an e-mail address",
            errors=[{"field": "email", "network": None, "message": "not an e-mail address"}],
        )
    return email


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
        password_hash=await hash_password_async(password) if password is not None else None,
    )
    session.add(user)
    await session.flush()
    return user


__all__ = ["create_user", "get_user_by_email", "hash_password", "normalize_email"]
