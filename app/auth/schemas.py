"""Request and response bodies of the auth API. A token's value appears only in
:class:`ApiTokenCreated`, the answer to its creation; lists never carry it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.models import Role
from app.timeutil import ApiAwareDatetime


class TokenRequest(BaseModel):
    """E-mail and password exchanged for an API token."""

    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    name: str = Field(default="API token", min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenIssued(BaseModel):
    token: str = Field(description="The token's value: shown this once, store it now.")
    id: uuid.UUID
    prefix: str
    expires_at: datetime | None


class ApiTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_at: ApiAwareDatetime | None = Field(
        default=None, description="When it stops working (with a timezone); never when empty."
    )


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's visible start, to recognise it.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="The token's value: shown this once, store it now.")


class MembershipRead(BaseModel):
    workspace_id: uuid.UUID
    workspace_name: str
    role: Role


class MeRead(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    memberships: list[MembershipRead]
