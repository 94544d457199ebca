"""Encryption of channel credentials at rest (Fernet, with key rotation).

``ALMANAC_ENCRYPTION_KEYS`` lists Fernet keys, the first one current: tokens made
with an older key still decrypt, and :meth:`CredentialBox.rotate` re-encrypts them
with the current one.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialsUnreadable(Exception):
    """No configured key decrypts these credentials (a key was removed too early)."""


class CredentialBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise CredentialsUnreadable(
                "channel credentials cannot be decrypted with the configured keys"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        return self._fernet.rotate(token)
