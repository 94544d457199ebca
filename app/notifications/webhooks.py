"""Webhook payloads and signatures: the sender's side and the receiver's check.

Every request carries three headers::

    Almanac-Event-Id:   the event's UUID (the same on every retry: de-duplicate on it)
    Almanac-Event-Type: submitted, approved, ... or ping
    Almanac-Signature:  t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes
with the endpoint's secret, compares in constant time, and refuses a timestamp
older (or newer) than a tolerance (:data:`DEFAULT_TOLERANCE`, five minutes), so a
captured request cannot be replayed later. :func:`verify_signature` does all of
that and is what ``docs/webhooks.md`` shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from app.crypto import CredentialBox

SIGNATURE_HEADER = "Almanac-Signature"
EVENT_ID_HEADER = "Almanac-Event-Id"
EVENT_TYPE_HEADER = "Almanac-Event-Type"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300  # seconds
SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The request is not signed by the holder of the secret, or too old."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Almanac-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SIGNATURE_VERSION}={_mac(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """The receiver's check: raise :class:`SignatureError` unless ``header`` signs
    ``body`` with ``secret`` and its timestamp lies within ``tolerance`` seconds of
    ``now``. Returns the signed timestamp. Several ``v1=`` values (during a secret
    rotation) are accepted if any matches."""
    if not header:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("the signature's timestamp is not a number") from None
        elif key == SIGNATURE_VERSION:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"the {SIGNATURE_HEADER} header has no t= or {SIGNATURE_VERSION}=")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("the signature's timestamp is outside the tolerance (replay?)")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("the signature does not match the body")
    return timestamp


def open_url(sealed: bytes, box: CredentialBox) -> str:
    """An endpoint's URL, sealed because it may carry the receiver's secret (Slack and
    Discord incoming webhooks). Raises CredentialsUnreadable."""
    return str(box.open(sealed)["url"])


def render_body(payload: dict[str, Any], base_url: str) -> bytes:
    """The request body: the stored payload plus absolute URLs (the base URL is the
    sender's setting, so the stored event keeps paths). Deterministic for a payload."""
    body = dict(payload)
    post = body.get("post")
    if isinstance(post, dict) and post.get("path"):
        post = dict(post)
        post["url"] = base_url.rstrip("/") + post["path"]
        body["post"] = post
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def request_headers(
    secret: str, *, event_id: str, event_type: str, body: bytes, timestamp: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        SIGNATURE_HEADER: sign(secret, body, timestamp),
    }
