"""OAuth connect schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class OAuthStartRead(BaseModel):
    """Where to send the person's browser: the network's consent page. The URL holds
    a single-use ``state`` (and, for X and LinkedIn, the PKCE ``code_challenge``); it
    works until ``expires_at``."""

    authorize_url: str
    expires_at: datetime
