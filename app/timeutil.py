"""Local wall time + IANA zone → UTC, refusing times that do not exist.

The truth of a post's time is what the user chose: a wall time and a zone. The UTC
instant is derived here. A time inside a spring-forward gap does not exist and is
refused with a message naming the gap; a time in a fall-back overlap happens twice
and needs ``fold`` (0 = the first, 1 = the second) chosen explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, AwareDatetime


class LocalTimeError(ValueError):
    """A local time that cannot be turned into one instant."""


class NonexistentLocalTime(LocalTimeError):
    pass


class AmbiguousLocalTime(LocalTimeError):
    pass


# The dates and times the API accepts: any calendar's, and far enough from the ends of
# Python's datetime range (years 1 and 9999) that a zone's offset (±14 h) or some weeks
# of arithmetic never leave it (which would be an OverflowError, a 500).
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(9000, 1, 1)


def in_range(value: datetime) -> datetime:
    if not EARLIEST <= value.replace(tzinfo=None) < LATEST:
        raise ValueError(f"dates must lie between the years {EARLIEST.year} and {LATEST.year - 1}")
    return value


# For request schemas and query parameters, in place of ``datetime`` / ``AwareDatetime``.
ApiDatetime = Annotated[datetime, AfterValidator(in_range)]
ApiAwareDatetime = Annotated[AwareDatetime, AfterValidator(in_range)]


def zone(name: str) -> ZoneInfo:
    if name not in _zone_names():
        raise LocalTimeError(f"{name!r} is not an IANA time zone (for example Europe/Paris)")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise LocalTimeError(
            f"{name!r} is not an IANA time zone (for example Europe/Paris)"
        ) from None


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def is_valid_zone(name: str) -> bool:
    return name in _zone_names()


def to_utc(local: datetime, zone_name: str, fold: int | None = None) -> datetime:
    """The UTC instant of a naive wall time in a zone.

    ``fold=None`` means "no choice made": an ambiguous time is then refused.
    """
    if local.tzinfo is not None:
        raise LocalTimeError("expected a wall time without an offset")
    tz = zone(zone_name)
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    first_offset, second_offset = first.utcoffset(), second.utcoffset()
    if first_offset != second_offset:
        # Either a gap (the wall time does not round-trip) or an overlap.
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
            start, end = _gap_bounds(local, tz)
            raise NonexistentLocalTime(
                f"{local:%Y-%m-%d %H:%M} does not exist in {zone_name}: clocks jump from "
                f"{start:%H:%M} to {end:%H:%M} that day; pick a time outside the gap"
            )
        if fold is None:
            raise AmbiguousLocalTime(
                f"{local:%Y-%m-%d %H:%M} happens twice in {zone_name} "
                f"(UTC{_fmt(first_offset)} then UTC{_fmt(second_offset)}); "
                "choose the first or the second occurrence"
            )
    chosen = second if fold == 1 else first
    return chosen.astimezone(UTC)


def to_local(instant: datetime, zone_name: str) -> datetime:
    """The aware local time of a UTC instant in a zone (for display)."""
    return instant.astimezone(zone(zone_name))


def _gap_bounds(local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Wall times at which the gap around ``local`` starts and ends."""
    before = local.replace(tzinfo=tz, fold=0)
    offset_before = before.utcoffset() or timedelta(0)
    offset_after = local.replace(tzinfo=tz, fold=1).utcoffset() or timedelta(0)
    jump = abs(offset_after - offset_before)
    # The transition instant, found by stepping back minute by minute (gaps are short).
    probe = local
    while (probe - timedelta(minutes=1)).replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(
        tzinfo=None
    ) != probe - timedelta(minutes=1):
        probe -= timedelta(minutes=1)
    return probe, probe + jump


def _fmt(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
