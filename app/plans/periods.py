"""Plan periods and ISO weeks, as pure functions.

A period is written ``2026-12`` (a month) or ``2027-Q1`` (a quarter); its first
and last days follow from it, so two plans of one kind overlap exactly when they
name the same period. Weekly themes and cadence targets are per ISO week
(``2026-W49``, Monday to Sunday); a week *touches* a period when at least one of
its days lies inside it, so a month has four to six of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from app.models import PlanKind

MIN_YEAR = 2000
MAX_YEAR = 2999

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q(\d)$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class PeriodError(ValueError):
    """A period or week that cannot be read; the message is a sentence for a person."""


@dataclass(frozen=True, slots=True)
class Period:
    kind: PlanKind
    key: str  # "2026-12" or "2027-Q1", normalised
    starts_on: date
    ends_on: date

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    def contains(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def dates(self) -> list[date]:
        return [self.starts_on + timedelta(days=n) for n in range(self.days)]


def _check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(
            f"{text!r} is out of range: plans are for the years {MIN_YEAR} to {MAX_YEAR}."
        )


def _month_end(year: int, month: int) -> date:
    following = date(year + (month == 12), month % 12 + 1, 1)
    return following - timedelta(days=1)


def parse_period(text: str, kind: PlanKind | str | None = None) -> Period:
    """``"2026-12"`` → the month of December 2026; ``"2027-Q1"`` → January to March 2027.
    With ``kind``, a period of the other kind is refused."""
    value = text.strip() if isinstance(text, str) else ""
    if (match := _MONTH.match(value)) is not None:
        year, month = int(match[1]), int(match[2])
        _check_year(year, value)
        if not 1 <= month <= 12:
            raise PeriodError(f"{value!r} is not a month: months run from 01 to 12.")
        period = Period(PlanKind.month, value, date(year, month, 1), _month_end(year, month))
    elif (match := _QUARTER.match(value.upper())) is not None:
        year, quarter = int(match[1]), int(match[2])
        _check_year(year, value)
        if not 1 <= quarter <= 4:
            raise PeriodError(f"{value!r} is not a quarter: quarters are Q1 to Q4.")
        first = 3 * (quarter - 1) + 1
        period = Period(
            PlanKind.quarter,
            f"{year:04d}-Q{quarter}",
            date(year, first, 1),
            _month_end(year, first + 2),
        )
    else:
        raise PeriodError(
            f"{text!r} is not a period: write a month as YYYY-MM (for example 2026-12) "
            "or a quarter as YYYY-Qn (for example 2027-Q1)."
        )
    if kind is not None and period.kind != PlanKind(kind):
        example = "2026-12" if PlanKind(kind) is PlanKind.month else "2027-Q1"
        raise PeriodError(
            f"{period.key!r} is a {period.kind.value}, but this plan is a "
            f"{PlanKind(kind).value} plan (for example {example})."
        )
    return period


# -- ISO weeks -----------------------------------------------------------------------


def week_of(day: date) -> str:
    """The ISO week a day belongs to: ``date(2026, 12, 1)`` → ``"2026-W49"``."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_monday(text: str) -> date:
    """The Monday of an ISO week written ``YYYY-Www``; a week that does not exist
    (``2026-W54``, or W53 of a year that has 52) is refused."""
    match = _WEEK.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise PeriodError(f"{text!r} is not an ISO week: write it YYYY-Www (for example 2026-W49).")
    year, week = int(match[1]), int(match[2])
    _check_year(year, text)
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:
        weeks = date(year, 12, 28).isocalendar()[1]
        raise PeriodError(f"{text!r} does not exist: {year} has {weeks} ISO weeks.") from None


def normalize_week(text: str) -> str:
    return week_of(week_monday(text))


def weeks_touching(period: Period) -> list[str]:
    """Every ISO week with at least one day inside the period, in order."""
    monday = period.starts_on - timedelta(days=period.starts_on.weekday())
    weeks = []
    while monday <= period.ends_on:
        weeks.append(week_of(monday))
        monday += timedelta(weeks=1)
    return weeks


def week_days_in(week: str, period: Period) -> int:
    """How many of the week's seven days lie inside the period."""
    monday = week_monday(week)
    return sum(period.contains(monday + timedelta(days=n)) for n in range(7))


def shift_week(week: str, weeks: int) -> str:
    return week_of(week_monday(week) + timedelta(weeks=weeks))


def weeks_between(source: Period, target: Period) -> int:
    """The whole number of weeks that moves ``source``'s start closest to ``target``'s:
    the shift of a duplicated plan, so that every weekday stays the same weekday."""
    days = (target.starts_on - source.starts_on).days
    # Nearest whole week (a remainder of 4 to 6 days rounds up), symmetric in sign.
    return (days + 3) // 7 if days >= 0 else -((-days + 3) // 7)
