"""Password hashing with argon2: the one hasher of the app.

argon2 is slow on purpose (about 0.3 s a check here), so the async helpers run it
in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import Invalid

MIN_PASSWORD_LENGTH = 10
HASHER = PasswordHasher()


def check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "network": None, "message": "too short"}],
        )


def hash_password(password: str) -> str:
    check_strength(password)
    return HASHER.hash(password)


async def hash_password_async(password: str) -> str:
    check_strength(password)
    return await asyncio.to_thread(HASHER.hash, password)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """What an unknown account is checked against, so it costs as much as a real one."""
    return HASHER.hash("almanac: no such user, same cost as a real check")


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still costs one verification."""

    def check() -> bool:
        try:
            return HASHER.verify(password_hash or dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check) and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)
