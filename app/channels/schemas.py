"""Channel schemas. Credentials are write-only: accepted in ``ChannelCreate`` and
``ChannelUpdate``, never returned; ``ChannelRead`` says only which fields are set."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.models import ChannelStatus
from app.networks.base import Network

MAX_CREDENTIAL_FIELDS = 50
MAX_CREDENTIALS_BYTES = 16_384

ChannelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def _check_credentials(value: dict[str, Any]) -> dict[str, Any]:
    # Messages name sizes and fields, never a value: credentials are secrets.
    if len(value) > MAX_CREDENTIAL_FIELDS:
        raise ValueError(f"at most {MAX_CREDENTIAL_FIELDS} fields are accepted")
    for key in value:
        if not key.strip() or len(key) > 64:
            raise ValueError("field names must be 1 to 64 characters long")
    if len(json.dumps(value)) > MAX_CREDENTIALS_BYTES:
        raise ValueError(f"credentials are limited to {MAX_CREDENTIALS_BYTES} bytes")
    return value


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: Network
    name: ChannelName
    # A JSON object whose fields depend on the network (e.g. an access token and
    # an instance URL). Stored encrypted; never returned.
    credentials: dict[str, Any] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_credentials(value)


class ChannelUpdate(BaseModel):
    """Every field optional. New ``credentials`` replace the old ones entirely.
    The network of a channel cannot change: make another channel."""

    model_config = ConfigDict(extra="forbid")

    name: ChannelName | None = None
    credentials: dict[str, Any] | None = None

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _check_credentials(value)


class ChannelPause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class ChannelRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    network: Network
    name: str
    status: ChannelStatus
    status_message: str | None
    account_handle: str | None
    limits: dict[str, Any]
    verified_at: datetime | None
    paused: bool
    paused_reason: str | None
    rate_limited_until: datetime | None
    # The names of the credential fields that are set; their values are never returned.
    credentials_set: list[str]
    # False when no configured encryption key opens the stored credentials
    # (a key was removed too early): enter them again.
    credentials_readable: bool
    created_at: datetime
    updated_at: datetime
