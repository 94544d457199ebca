"""Local wall time + IANA zone → UTC: gaps refused, overlaps need a choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.timeutil import (
    AmbiguousLocalTime,
    LocalTimeError,
    NonexistentLocalTime,
    is_valid_zone,
    to_local,
    to_utc,
)


@pytest.mark.parametrize(
    ("local", "zone_name", "expected"),
    [
        (datetime(2026, 12, 1, 9, 0), "UTC", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        (datetime(2026, 12, 1, 9, 0), "Europe/Paris", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        (datetime(2026, 7, 1, 9, 0), "Europe/Paris", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        (
            datetime(2026, 7, 1, 9, 0),
            "America/New_York",
            datetime(2026, 7, 1, 13, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 1, 15, 23, 30),
            "America/Los_Angeles",
            datetime(2026, 1, 16, 7, 30, tzinfo=UTC),
        ),
        (datetime(2026, 1, 1, 0, 0), "Asia/Tokyo", datetime(2025, 12, 31, 15, 0, tzinfo=UTC)),
        (
            datetime(2026, 6, 1, 12, 0, 0, 250),
            "Australia/Sydney",
            datetime(2026, 6, 1, 2, 0, 0, 250, tzinfo=UTC),
        ),
        # Half-hour and quarter-hour zones.
        (datetime(2026, 3, 1, 9, 0), "Asia/Kolkata", datetime(2026, 3, 1, 3, 30, tzinfo=UTC)),
        (datetime(2026, 3, 1, 9, 0), "Asia/Kathmandu", datetime(2026, 3, 1, 3, 15, tzinfo=UTC)),
    ],
)
def test_to_utc_normal_times(local: datetime, zone_name: str, expected: datetime) -> None:
    result = to_utc(local, zone_name)
    assert result == expected
    assert result.tzinfo is UTC
    # A normal time needs no choice: fold makes no difference.
    assert to_utc(local, zone_name, fold=0) == to_utc(local, zone_name, fold=1) == expected


@pytest.mark.parametrize(
    ("local", "zone_name"),
    [
        (datetime(2026, 3, 29, 2, 30), "Europe/Paris"),
        (datetime(2026, 3, 8, 2, 30), "America/New_York"),
    ],
)
def test_spring_forward_gap_is_refused_naming_the_gap(local: datetime, zone_name: str) -> None:
    for fold in (None, 0, 1):
        with pytest.raises(NonexistentLocalTime) as caught:
            to_utc(local, zone_name, fold=fold)
        message = str(caught.value)
        assert "02:00 to 03:00" in message
        assert zone_name in message
        assert f"{local:%Y-%m-%d %H:%M}" in message
    assert isinstance(caught.value, LocalTimeError)


@pytest.mark.parametrize("minute", [0, 1, 59])
def test_every_minute_of_the_gap_is_refused(minute: int) -> None:
    with pytest.raises(NonexistentLocalTime, match="02:00 to 03:00"):
        to_utc(datetime(2026, 3, 29, 2, minute), "Europe/Paris")


def test_edges_of_the_gap_exist() -> None:
    assert to_utc(datetime(2026, 3, 29, 1, 59), "Europe/Paris") == datetime(
        2026, 3, 29, 0, 59, tzinfo=UTC
    )
    assert to_utc(datetime(2026, 3, 29, 3, 0), "Europe/Paris") == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_fall_back_overlap_needs_a_choice() -> None:
    local = datetime(2026, 10, 25, 2, 30)
    with pytest.raises(AmbiguousLocalTime) as caught:
        to_utc(local, "Europe/Paris")
    message = str(caught.value)
    assert "Europe/Paris" in message and "2026-10-25 02:30" in message
    assert "UTC+02:00" in message and "UTC+01:00" in message
    assert isinstance(caught.value, LocalTimeError)

    assert to_utc(local, "Europe/Paris", fold=0) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert to_utc(local, "Europe/Paris", fold=1) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_fall_back_overlap_in_new_york() -> None:
    local = datetime(2026, 11, 1, 1, 30)
    with pytest.raises(AmbiguousLocalTime):
        to_utc(local, "America/New_York")
    assert to_utc(local, "America/New_York", fold=0) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert to_utc(local, "America/New_York", fold=1) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Europe/Pariss", "", "../etc/passwd"])
def test_unknown_zone_is_refused(name: str) -> None:
    with pytest.raises(LocalTimeError, match="not an IANA time zone"):
        to_utc(datetime(2026, 12, 1, 9, 0), name)
    assert not is_valid_zone(name)


@pytest.mark.parametrize("tzinfo", [UTC, ZoneInfo("Europe/Paris"), timezone(timedelta(hours=2))])
def test_aware_input_is_refused(tzinfo: object) -> None:
    with pytest.raises(LocalTimeError, match="without an offset"):
        to_utc(datetime(2026, 12, 1, 9, 0, tzinfo=tzinfo), "Europe/Paris")  # type: ignore[arg-type]


def test_lord_howe_half_hour_dst() -> None:
    """Lord Howe moves its clocks by 30 minutes: a 30-minute gap and overlap."""
    zone_name = "Australia/Lord_Howe"
    # Summer (UTC+11) and winter (UTC+10:30).
    assert to_utc(datetime(2026, 1, 15, 12, 0), zone_name) == datetime(
        2026, 1, 15, 1, 0, tzinfo=UTC
    )
    assert to_utc(datetime(2026, 7, 15, 12, 0), zone_name) == datetime(
        2026, 7, 15, 1, 30, tzinfo=UTC
    )
    # Spring forward, first Sunday of October 2026 (Oct 4): 02:00 → 02:30.
    with pytest.raises(NonexistentLocalTime, match="02:00 to 02:30"):
        to_utc(datetime(2026, 10, 4, 2, 15), zone_name)
    assert to_utc(datetime(2026, 10, 4, 2, 30), zone_name) == datetime(
        2026, 10, 3, 15, 30, tzinfo=UTC
    )
    # Fall back, first Sunday of April 2026 (Apr 5): 02:00 → 01:30.
    local = datetime(2026, 4, 5, 1, 45)
    with pytest.raises(AmbiguousLocalTime):
        to_utc(local, zone_name)
    first, second = to_utc(local, zone_name, fold=0), to_utc(local, zone_name, fold=1)
    assert second - first == timedelta(minutes=30)
    assert first == datetime(2026, 4, 4, 14, 45, tzinfo=UTC)


def test_to_local_is_the_inverse_for_display() -> None:
    instant = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    local = to_local(instant, "Europe/Paris")
    assert (local.hour, local.minute, local.fold) == (2, 30, 1)
    assert local.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("zone_name", "gaps", "overlaps"),
    [
        ("Europe/Paris", 1, 1),
        ("America/New_York", 1, 1),
        ("Asia/Kolkata", 0, 0),
        ("Australia/Lord_Howe", 1, 1),
    ],
)
def test_every_half_hour_of_a_year_round_trips(zone_name: str, gaps: int, overlaps: int) -> None:
    """Whenever to_utc answers, the instant shows the same wall time in the zone; it
    refuses only the gap and asks only in the overlap."""
    zone = ZoneInfo(zone_name)
    refused: set[tuple[int, int]] = set()
    asked: set[tuple[int, int]] = set()
    start = datetime(2026, 1, 1)
    previous: datetime | None = None
    for step in range(365 * 48):
        local = start + timedelta(minutes=30 * step)
        try:
            instant = to_utc(local, zone_name)
        except NonexistentLocalTime:
            refused.add((local.month, local.day))
            continue
        except AmbiguousLocalTime:
            asked.add((local.month, local.day))
            first = to_utc(local, zone_name, fold=0)
            second = to_utc(local, zone_name, fold=1)
            assert first < second
            for instant, fold in ((first, 0), (second, 1)):
                back = instant.astimezone(zone)
                assert back.replace(tzinfo=None) == local
                assert back.fold == fold
            continue
        assert instant.tzinfo is UTC
        assert instant.astimezone(zone).replace(tzinfo=None) == local
        if previous is not None:
            assert instant > previous  # wall-clock order is time order outside transitions
        previous = instant
    assert len(refused) == gaps
    assert len(asked) == overlaps
