"""What the plan routes accept and return.

The shape is checked here (types, lengths, ranges); the rules that need the
period or the database (a theme's week must touch the period, a network must be
one Almanac knows, a label must be of this workspace, the mix adds up to at most
100 %) live in ``service.py``, which answers them all at once, one error per field.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models import PlanKind

MAX_THEMES = 30
MAX_TARGETS = 50

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Goals = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
PeriodText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=8),
    Field(
        description="A month as YYYY-MM (2026-12) or a quarter as YYYY-Qn (2027-Q1).",
        examples=["2026-12"],
    ),
]
PostsPerWeek = Annotated[int, Field(ge=0, le=100)]
Percent = Annotated[int, Field(ge=0, le=100)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Theme(_Input):
    week: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=8),
        Field(description="An ISO week touching the plan's period, e.g. 2026-W49."),
    ]
    theme: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


CadenceTargets = Annotated[
    dict[str, PostsPerWeek],
    Field(
        max_length=MAX_TARGETS,
        description='Posts per ISO week per network, e.g. {"mastodon": 3}.',
    ),
]
MixTargets = Annotated[
    dict[str, Percent],
    Field(
        max_length=MAX_TARGETS,
        description="Percent of the plan's posts per label id; at most 100 in all.",
    ),
]


class PlanCreate(_Input):
    kind: PlanKind
    period: PeriodText
    title: Title
    goals: Goals = ""
    themes: Annotated[list[Theme], Field(max_length=MAX_THEMES)] = Field(default_factory=list)
    cadence_targets: CadenceTargets = Field(default_factory=dict)
    mix_targets: MixTargets = Field(default_factory=dict)


class PlanUpdate(_Input):
    """A partial update: only the fields sent change. The kind of a plan does not
    change; its period may, to another of the same kind, when none of its posts
    would be left outside."""

    period: PeriodText | None = None
    title: Title | None = None
    goals: Goals | None = None
    themes: Annotated[list[Theme], Field(max_length=MAX_THEMES)] | None = None
    cadence_targets: CadenceTargets | None = None
    mix_targets: MixTargets | None = None


class PlanDuplicate(_Input):
    period: PeriodText
    title: Title | None = Field(default=None, description="Defaults to the original's title.")


class PlanRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    kind: PlanKind
    period: str
    starts_on: date
    ends_on: date
    title: str
    goals: str
    themes: list[Theme]
    cadence_targets: dict[str, int]
    mix_targets: dict[str, int]
    # Non-idea posts of the plan (dated), and undated ideas attached to it.
    posts: int
    ideas: int
    created_at: datetime
    updated_at: datetime


# -- report ------------------------------------------------------------------------------


class CadenceCell(BaseModel):
    network: str
    planned: int
    target: int | None


class ReportWeek(BaseModel):
    week: str
    # How many of the week's days lie inside the period (a week at either end may be short).
    days_in_period: int
    theme: str | None
    networks: list[CadenceCell]
    planned: int
    target: int | None


class LabelMix(BaseModel):
    label_id: uuid.UUID
    name: str | None
    color: str | None
    posts: int
    actual_percent: float
    target_percent: int | None


class ReportTotals(BaseModel):
    posts: int
    ideas: int
    variants: int
    target: int | None
    by_network: list[CadenceCell]
    days: int
    empty_days: int
    # Posts attached to the plan whose local date lies outside its period.
    outside_period: int


class PlanReport(BaseModel):
    plan_id: uuid.UUID
    period: str
    starts_on: date
    ends_on: date
    timezone: str
    weeks: list[ReportWeek]
    label_mix: list[LabelMix]
    empty_days: list[date]
    totals: ReportTotals


# -- duplicate ---------------------------------------------------------------------------


class DuplicateNote(BaseModel):
    # The post it is about (none for a theme).
    post_id: uuid.UUID | None
    title: str | None
    message: str


class DuplicateResult(BaseModel):
    plan: PlanRead
    weeks_shifted: int
    posts_copied: int
    skipped: list[DuplicateNote]
    warnings: list[DuplicateNote]
