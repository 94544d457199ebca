"""What the workspace, member and invitation routes accept and return.

Validation happens here, at the edge: an unknown field, a bad time zone or an
out-of-range policy value answers 422 with one error per field. The rules that
need the database (a slug already taken, the last owner) live in ``service.py``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.models import Role
from app.timeutil import is_valid_zone

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_LATENESS_MINUTES = 7 * 24 * 60

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ApprovalsNeeded = Annotated[int, Field(ge=1, le=3)]
LatenessLimit = Annotated[int, Field(ge=0, le=MAX_LATENESS_MINUTES)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


def _check_slug(value: str | None) -> str | None:
    if value is not None and not SLUG_PATTERN.match(value):
        raise PydanticCustomError(
            "slug",
            "use lower-case letters, digits and single dashes (for example 'acme-news')",
        )
    return value


def _check_zone(value: str | None) -> str | None:
    if value is not None and not is_valid_zone(value):
        raise PydanticCustomError(
            "timezone",
            "'{zone}' is not an IANA time zone (for example Europe/Paris)",
            {"zone": value},
        )
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- workspaces -------------------------------------------------------------------


class WorkspaceCreate(_Input):
    name: Name
    slug: Slug | None = Field(
        default=None, description="Made from the name when left out; must be unique."
    )
    timezone: str = Field(default="UTC", description="An IANA zone, e.g. Europe/Paris.")
    approval_required: bool = True
    approvals_needed: ApprovalsNeeded = 1
    authors_may_self_approve: bool = False
    reviewer_edit_keeps_approval: bool = False
    lateness_limit_minutes: LatenessLimit = 60

    _slug = field_validator("slug")(_check_slug)
    _zone = field_validator("timezone")(_check_zone)


class WorkspaceUpdate(_Input):
    """A partial update: only the fields sent change."""

    name: Name | None = None
    slug: Slug | None = None
    timezone: str | None = None
    approval_required: bool | None = None
    approvals_needed: ApprovalsNeeded | None = None
    authors_may_self_approve: bool | None = None
    reviewer_edit_keeps_approval: bool | None = None
    lateness_limit_minutes: LatenessLimit | None = None

    _slug = field_validator("slug")(_check_slug)
    _zone = field_validator("timezone")(_check_zone)

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Every field of a workspace has a value: null cannot mean "unset" here.
        # (Runs only for fields sent: defaults are not validated.)
        if value is None:
            raise PydanticCustomError("null", "cannot be null; leave the field out to keep it")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class WorkspaceRead(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    approval_required: bool
    approvals_needed: int
    authors_may_self_approve: bool
    reviewer_edit_keeps_approval: bool
    lateness_limit_minutes: int
    paused: bool
    paused_reason: str | None
    paused_at: datetime | None
    paused_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    role: Role = Field(description="The caller's role in this workspace.")


class PauseRequest(_Input):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = Field(description="Why publishing stops; shown to the team.")


# -- members ----------------------------------------------------------------------


class MemberRead(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    joined_at: datetime


class MemberUpdate(_Input):
    role: Role


# -- invitations ------------------------------------------------------------------


class InvitationCreate(_Input):
    email: Email
    role: Role = Role.editor


class InvitationRead(BaseModel):
    id: uuid.UUID
    email: str
    role: Role
    invited_by_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime


class InvitationCreated(InvitationRead):
    link: str = Field(
        description="The single-use invitation link. Shown only now: copy it to the person."
    )
