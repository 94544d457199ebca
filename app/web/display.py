"""How the review, post, overdue, notification and settings pages write times,
durations, statuses and diffs (view-model helpers: no database work here)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from app.timeutil import to_local

DELIVERY_STATUS_NAMES: dict[str, str] = {
    "pending": "Pending",
    "sending": "Sending",
    "published": "Published",
    "retrying": "Retrying",
    "failed": "Failed",
    "uncertain": "Uncertain: needs a decision",
    "missed": "Missed",
    "canceled": "Canceled",
    "removed": "Taken down",
}

# The pill colour of a delivery status (the word is always written next to it).
DELIVERY_PILLS: dict[str, str] = {
    "pending": "pill-muted",
    "sending": "pill-warning",
    "published": "pill-ok",
    "retrying": "pill-warning",
    "failed": "pill-danger",
    "uncertain": "pill-danger",
    "missed": "pill-danger",
    "canceled": "pill-muted",
    "removed": "pill-muted",
}


def when(instant: datetime | None, zone: str) -> str:
    """An instant as a wall time in ``zone`` ("Tue 9 Mar 2027, 09:30"), or ''."""
    if instant is None:
        return ""
    if instant.tzinfo is None:  # stored UTC, read back naive by some drivers
        instant = instant.replace(tzinfo=UTC)
    local = to_local(instant, zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def iso(instant: datetime | None) -> str:
    """For ``<time datetime>``: machine-readable, with its offset."""
    return instant.isoformat() if instant is not None else ""


def span(seconds: int) -> str:
    """A duration in words: "2 days 3 h", "3 h 5 min", "4 min", "less than a minute"."""
    seconds = abs(seconds)
    minutes = seconds // 60
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def due_in(seconds: int | None) -> str:
    """ "due in 3 h", "overdue by 5 min", or "no date"."""
    if seconds is None:
        return "no date"
    if seconds < 0:
        return f"overdue by {span(seconds)}"
    return f"due in {span(seconds)}"


DiffKind = Literal["added", "removed", "context", "note"]


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff, for people: ``sign`` and ``word`` say it without colour."""

    kind: DiffKind
    text: str

    @property
    def sign(self) -> str:
        return {"added": "+", "removed": "−", "context": " ", "note": "•"}[self.kind]

    @property
    def word(self) -> str:
        return {"added": "Added", "removed": "Removed", "context": "Unchanged", "note": "Note"}[
            self.kind
        ]


def diff_lines(unified: list[str]) -> list[DiffLine]:
    """A unified diff (as ``difflib.unified_diff(lineterm="")`` writes it, plus plain
    notes such as "media changed") as lines to show; file and hunk headers dropped."""
    lines: list[DiffLine] = []
    for raw in unified:
        if raw.startswith(("--- ", "+++ ", "@@")):
            continue
        if raw.startswith("+"):
            lines.append(DiffLine("added", raw[1:]))
        elif raw.startswith("-"):
            lines.append(DiffLine("removed", raw[1:]))
        elif raw.startswith(" "):
            lines.append(DiffLine("context", raw[1:]))
        else:
            lines.append(DiffLine("note", raw))
    return lines


def text_diff(before: str | None, after: str | None) -> list[DiffLine]:
    """The line diff between two texts (empty when they are equal)."""
    old, new = before or "", after or ""
    if old == new:
        return []
    return diff_lines(
        list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2))
    )
