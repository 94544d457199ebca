"""Property tests over zones with DST: no post ever lands an hour off.

For any wall time in a zone with daylight saving, saving a post either refuses it
(a gap, or an ambiguous time without a choice) or stores a due time that converts
back to exactly that wall time (and, for an ambiguous one, to the occurrence chosen).
Pure functions (the service's ``wall_time`` and ``app.timeutil``): no database.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import Invalid
from app.posts.service import wall_time
from app.timeutil import to_utc

ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",
]

wall_times = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda value: value.replace(second=0, microsecond=0)
)
# Times near the transitions, where bugs live: the last Sunday of March/October
# and the first Sundays of April/October/November, around 00:00-04:00.
near_transitions = st.builds(
    lambda year, month, day, minutes: datetime(year, month, day) + timedelta(minutes=minutes),
    st.integers(2025, 2028),
    st.sampled_from([3, 4, 9, 10, 11]),
    st.integers(1, 31).filter(lambda d: d <= 28),
    st.integers(0, 4 * 60),
)


def check_round_trip(zone_name: str, local: datetime, fold: int | None) -> None:
    try:
        naive, chosen = wall_time(local, zone_name, fold, "local_at")
    except Invalid:
        # Refused only for a gap or an ambiguous time without a choice.
        tz = ZoneInfo(zone_name)
        first = local.replace(tzinfo=tz, fold=0).utcoffset()
        second = local.replace(tzinfo=tz, fold=1).utcoffset()
        assert first != second, f"{local} in {zone_name} refused though it is unambiguous"
        return
    due_at = to_utc(naive, zone_name, chosen)
    back = due_at.astimezone(ZoneInfo(zone_name))
    assert back.replace(tzinfo=None) == local, f"{local} {zone_name} landed at {back}"
    assert back.fold == chosen
    # The same instant sent with its UTC offset gives the same wall time and occurrence.
    with_offset = back.astimezone(timezone(back.utcoffset() or timedelta(0)))
    assert wall_time(with_offset, zone_name, None, "local_at") == (naive, chosen)


@settings(max_examples=150, deadline=None, database=None)
@given(st.sampled_from(ZONES), wall_times, st.sampled_from([None, 0, 1]))
def test_no_post_lands_an_hour_off(zone_name: str, local: datetime, fold: int | None) -> None:
    check_round_trip(zone_name, local, fold)


@settings(max_examples=150, deadline=None, database=None)
@given(st.sampled_from(ZONES), near_transitions, st.sampled_from([None, 0, 1]))
def test_no_post_lands_an_hour_off_near_transitions(
    zone_name: str, local: datetime, fold: int | None
) -> None:
    check_round_trip(zone_name, local, fold)
