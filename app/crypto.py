"""Encryption of channel credentials at rest (Fernet, with key rotation).

``ALMANAC_ENCRYPTION_KEYS`` lists Fernet keys, the first one current: tokens made
with an older key still decrypt, and :meth:`CredentialBox.rotate` re-encrypts them
with the current one.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialsUnreadable(Exception):
    """No configured key decrypts these credentials (a key was removed too early)."""


class CredentialBox:
    """Seals and opens channel credentials with the configured keys (the first one
    seals; every one opens, for key rotation).

    The plaintexts of the last ``OPENED_KEPT`` tokens opened are kept: the scheduler
    opens a channel's credentials for each of its deliveries, hundreds of times in a
    burst, and decrypting was a few per cent of a delivery's CPU. This keeps nothing
    the process could not decrypt again at once: it holds the keys.
    """

    OPENED_KEPT = 512

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        # Per box (not a class-wide cache): a box with other keys opens nothing of this one.
        self._plaintext = functools.lru_cache(maxsize=self.OPENED_KEPT)(self._fernet.decrypt)

    def seal(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            # A new dict each time: callers may change theirs.
            return json.loads(self._plaintext(token))
        except InvalidToken:
            raise CredentialsUnreadable(
                "channel credentials cannot be decrypted with the configured keys"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        return self._fernet.rotate(token)
