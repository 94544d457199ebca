"""The shared adapter plumbing: reset headers a server controls are parsed without
crashing and never impose a wait longer than MAX_RESET_WAIT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.networks.http import MAX_RESET_WAIT, epoch_reset, iso_reset, retry_after

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_retry_after_in_seconds() -> None:
    assert retry_after({"retry-after": "120"}, now=NOW) == NOW + timedelta(seconds=120)
    assert retry_after({"retry-after": " 0 "}, now=NOW) == NOW


@pytest.mark.parametrize("value", ["99999999999999", "9" * 400, str(10**9)])
def test_a_huge_retry_after_is_clamped_not_an_overflow(value: str) -> None:
    assert retry_after({"retry-after": value}, now=NOW) == NOW + MAX_RESET_WAIT


def test_retry_after_as_an_http_date() -> None:
    header = {"retry-after": "Sun, 01 Mar 2026 12:05:00 GMT"}
    assert retry_after(header, now=NOW) == NOW + timedelta(minutes=5)
    far = {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}
    assert retry_after(far, now=NOW) == NOW + MAX_RESET_WAIT


@pytest.mark.parametrize(
    "value", ["soon", "-5", "Mon, 99 Foo 2026 00:00:00 GMT", "Fri, 31 Dec 99999999 23:59:59 GMT"]
)
def test_unreadable_retry_after_is_none(value: str) -> None:
    assert retry_after({"retry-after": value}, now=NOW) is None
    assert retry_after({}, now=NOW) is None


def test_epoch_reset_is_clamped_and_survives_absurd_values() -> None:
    soon = NOW + timedelta(minutes=15)
    assert epoch_reset(str(int(soon.timestamp())), now=NOW) == soon
    assert epoch_reset("253402300799", now=NOW) == NOW + MAX_RESET_WAIT  # year 9999
    for value in ("99999999999999999999", "1e400", "inf", "nan", "x", "", None):
        assert epoch_reset(value, now=NOW) is None, value


def test_iso_reset_is_clamped() -> None:
    assert iso_reset("2026-03-01T12:30:00Z", now=NOW) == NOW + timedelta(minutes=30)
    assert iso_reset("9999-12-31T23:59:59Z", now=NOW) == NOW + MAX_RESET_WAIT
    assert iso_reset("tomorrow", now=NOW) is None
