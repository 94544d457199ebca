"""Random secrets handed to people, and how they are stored (SHA-256 only)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "alm"


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token() -> tuple[str, str]:
    """Return (token, visible prefix). The token is ``alm_<prefix>_<secret>``."""
    prefix = secrets.token_hex(4)
    return f"{API_TOKEN_PREFIX}_{prefix}_{new_secret()}", f"{API_TOKEN_PREFIX}_{prefix}"


def setup_token(secret_key: str) -> str:
    """The one-time setup token of a fresh install: derived from the secret key, so
    every web process prints and accepts the same one, and useless once a user exists."""
    digest = hmac.new(secret_key.encode(), b"almanac-setup-token", hashlib.sha256).hexdigest()
    return digest[:24]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
