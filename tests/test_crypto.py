"""Channel credentials at rest: Fernet with key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.crypto import CredentialBox, CredentialsUnreadable

CREDENTIALS = {
    "access_token": "mastodon-token-0123456789abcdef",
    "instance": "https://social.example",
    "nested": {"refresh_token": "refresh-ÅÄÖ-✓"},
}


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_seal_and_open_round_trip() -> None:
    box = CredentialBox([new_key()])
    token = box.seal(CREDENTIALS)
    assert isinstance(token, bytes)
    assert box.open(token) == CREDENTIALS


def test_ciphertext_holds_no_plaintext() -> None:
    box = CredentialBox([new_key()])
    token = box.seal(CREDENTIALS)
    for secret in ("mastodon-token-0123456789abcdef", "social.example", "refresh", "access_token"):
        assert secret.encode() not in token
    # Each seal is fresh (random IV): equal credentials do not give equal tokens.
    assert box.seal(CREDENTIALS) != token


def test_a_token_sealed_with_an_old_key_opens_after_rotation() -> None:
    old, new = new_key(), new_key()
    token = CredentialBox([old]).seal(CREDENTIALS)

    rotated_box = CredentialBox([new, old])
    assert rotated_box.open(token) == CREDENTIALS

    rotated = rotated_box.rotate(token)
    assert rotated != token
    # Re-encrypted with the current key: the old one can go.
    assert CredentialBox([new]).open(rotated) == CREDENTIALS
    with pytest.raises(CredentialsUnreadable):
        CredentialBox([old]).open(rotated)


def test_new_tokens_use_the_first_key() -> None:
    old, new = new_key(), new_key()
    token = CredentialBox([new, old]).seal(CREDENTIALS)
    assert CredentialBox([new]).open(token) == CREDENTIALS
    with pytest.raises(CredentialsUnreadable):
        CredentialBox([old]).open(token)


def test_a_removed_key_gives_a_clear_error() -> None:
    old, new = new_key(), new_key()
    token = CredentialBox([old]).seal(CREDENTIALS)
    with pytest.raises(CredentialsUnreadable) as caught:
        CredentialBox([new]).open(token)
    message = str(caught.value)
    assert "cannot be decrypted with the configured keys" in message
    # The error carries no trace of the token or the keys.
    assert token.decode() not in message and old not in message and new not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_damaged_token_is_unreadable() -> None:
    box = CredentialBox([new_key()])
    token = bytearray(box.seal(CREDENTIALS))
    token[-5] ^= 0x01
    with pytest.raises(CredentialsUnreadable):
        box.open(bytes(token))
    with pytest.raises(CredentialsUnreadable):
        box.open(b"not a fernet token")


def test_a_box_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one encryption key"):
        CredentialBox([])
    with pytest.raises(ValueError):
        CredentialBox(["not-a-fernet-key"])


def test_opened_credentials_are_a_new_dict_each_time_and_keys_still_decide() -> None:
    """Opening keeps recent plaintexts (the scheduler opens one channel's credentials
    per delivery): a caller's change never reaches the next caller, and a box with
    other keys still cannot open the token."""
    box = CredentialBox([new_key()])
    token = box.seal({"token": "s3cret", "scopes": ["write"]})

    first = box.open(token)
    first["token"] = "changed by a caller"
    assert box.open(token) == {"token": "s3cret", "scopes": ["write"]}
    assert box.open(token) is not box.open(token)

    with pytest.raises(CredentialsUnreadable):
        CredentialBox([new_key()]).open(token)
