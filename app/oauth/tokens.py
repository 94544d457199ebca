"""The token endpoint of an OAuth 2.0 network (RFC 6749 §4.1.3 and §6): trading an
authorization code, or a refresh token, for an access token.

Errors are the adapters' typed ones: the network refusing the grant (``invalid_grant``,
a revoked or expired refresh token, a used code) is :class:`CredentialsExpiredError`;
a refused client id or secret is :class:`PermanentError` naming the settings to fix.
No message carries a token, a code or the client secret.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.networks.base import (
    CredentialsExpiredError,
    OAuthApp,
    PermanentError,
    RefreshUnsupported,
)
from app.networks.http import epoch_reset, json_or_empty, raise_for_status, rate_limited, send
from app.networks.http import retry_after as retry_after_header

# Refused grants (RFC 6749 §5.2): the account has to be connected again.
_REFUSED_GRANT = frozenset({"invalid_grant", "invalid_request", "unauthorized_client"})


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str | None


async def token_request(
    http: httpx.AsyncClient,
    app: OAuthApp,
    form: dict[str, str],
    *,
    network: str,
    settings_prefix: str,
) -> TokenGrant:
    """POST ``form`` to the app's token endpoint. Confidential clients authenticate with
    HTTP Basic (RFC 6749 §2.3.1) or, where the network asks for it, with the secret in
    the form; public clients send only their ``client_id``."""
    if not app.client_id or not app.token_url:
        raise PermanentError(
            f"{network} is not configured on this server: set {settings_prefix}CLIENT_ID "
            f"(and {settings_prefix}CLIENT_SECRET for a confidential app)"
        )
    body = {**form, "client_id": app.client_id}
    auth = None
    if app.client_secret and app.client_auth == "body":
        body["client_secret"] = app.client_secret
    elif app.client_secret:
        auth = (app.client_id, app.client_secret)
    response = await send(
        http,
        "POST",
        app.token_url,
        network=network,
        data=body,
        auth=auth,
        headers={"accept": "application/json"},
    )
    payload = json_or_empty(response)
    payload = payload if isinstance(payload, dict) else {}
    error = str(payload.get("error") or "")
    words = str(payload.get("error_description") or error or "")
    if response.status_code == 429:
        reset = epoch_reset(response.headers.get("x-rate-limit-reset"))
        raise rate_limited(network, reset or retry_after_header(response.headers), words)
    if error == "invalid_client" or (response.status_code == 401 and not error):
        raise PermanentError(
            f"{network} refused this server's application credentials ({words or 'HTTP 401'}); "
            f"check {settings_prefix}CLIENT_ID and {settings_prefix}CLIENT_SECRET"
        )
    if error in _REFUSED_GRANT or (400 <= response.status_code < 500 and error):
        raise CredentialsExpiredError(f"{network} refused the authorization: {words}")
    raise_for_status(response, network=network, message=words)
    return _grant(payload, network)


def _grant(payload: dict[str, Any], network: str) -> TokenGrant:
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError(f"{network}'s token endpoint answered without an access token")
    refresh = payload.get("refresh_token")
    scope = payload.get("scope")
    return TokenGrant(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=expiry(payload.get("expires_in")),
        scope=scope if isinstance(scope, str) else None,
    )


def expiry(lifetime: Any) -> datetime | None:
    """The instant a token given ``expires_in`` seconds ago expires; None when the
    answer names no (positive) lifetime."""
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        return datetime.now(UTC) + timedelta(seconds=float(lifetime))
    return None


async def refresh(
    http: httpx.AsyncClient,
    app: OAuthApp | None,
    credentials: dict[str, Any],
    *,
    network: str,
    settings_prefix: str,
    default_token_url: str,
) -> tuple[dict[str, Any], datetime | None]:
    """The refresh_token grant: the credentials with a new access token (and the new
    refresh token where the network rotates them) and the new expiry. The app's
    ``token_url`` wins over ``default_token_url`` (the network's own endpoint)."""
    if app is not None and not app.token_url:
        app = replace(app, token_url=default_token_url)
    current = credentials.get("refresh_token")
    if not isinstance(current, str) or not current:
        raise RefreshUnsupported(
            f"{network} granted no refresh token for this account; connect it again "
            "before its access token expires"
        )
    grant = await token_request(
        http,
        app or OAuthApp(client_id=""),
        {"grant_type": "refresh_token", "refresh_token": current},
        network=network,
        settings_prefix=settings_prefix,
    )
    renewed = {**credentials, "access_token": grant.access_token}
    if grant.refresh_token:
        renewed["refresh_token"] = grant.refresh_token
    return renewed, grant.expires_at
