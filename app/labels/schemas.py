"""What the label routes accept and return. A colour is ``#rrggbb``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

DEFAULT_COLOR = "#6b7280"

LabelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Color = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=7),
    Field(description="A colour written #rrggbb.", examples=["#0ea5e9"]),
]


def _check_color(value: str | None) -> str | None:
    if value is None:
        return None
    if (
        len(value) != 7
        or value[0] != "#"
        or any(c not in "0123456789abcdefABCDEF" for c in value[1:])
    ):
        raise PydanticCustomError(
            "color",
            "'{color}' is not a colour: write it #rrggbb (for example #0ea5e9)",
            {"color": value},
        )
    return value.lower()


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelCreate(_Input):
    name: LabelName
    color: Color = DEFAULT_COLOR

    _color = field_validator("color")(_check_color)


class LabelUpdate(_Input):
    """A partial update: only the fields sent change."""

    name: LabelName | None = None
    color: Color | None = None

    _color = field_validator("color")(_check_color)


class LabelRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    color: str
    # How many posts carry it.
    posts: int
    created_at: datetime
    updated_at: datetime
