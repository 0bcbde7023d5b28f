"""kubectl-style durations and ages, as Kubernetes' HumanDuration prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubeprov.apiserver.tables.age import between, human_duration, parse_timestamp, since

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=0), "0s"),
    (timedelta(seconds=5), "5s"),
    (timedelta(seconds=119), "119s"),
    (timedelta(seconds=120), "2m"),
    (timedelta(minutes=3, seconds=10), "3m10s"),
    (timedelta(minutes=9, seconds=59), "9m59s"),
    (timedelta(minutes=10, seconds=30), "10m"),
    (timedelta(minutes=179), "179m"),
    (timedelta(hours=3), "3h"),
    (timedelta(hours=7, minutes=59), "7h59m"),
    (timedelta(hours=8, minutes=30), "8h"),
    (timedelta(hours=47), "47h"),
    (timedelta(hours=48), "2d"),
    (timedelta(days=2, hours=3), "2d3h"),
    (timedelta(days=7, hours=23), "7d23h"),
    (timedelta(days=8), "8d"),
    (timedelta(days=45), "45d"),
    (timedelta(days=729), "729d"),
    (timedelta(days=730), "2y"),
    (timedelta(days=3 * 365 + 20), "3y20d"),
    (timedelta(days=8 * 365 + 100), "8y"),
])
def test_human_duration_matches_kubectl(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(milliseconds=-500), "0s"),
    (timedelta(seconds=-1, milliseconds=-900), "0s"),
    (timedelta(seconds=-2), "<invalid>"),
])
def test_small_clock_skew_reads_as_now(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


def test_fractions_of_a_second_are_truncated() -> None:
    assert human_duration(timedelta(seconds=59, milliseconds=999)) == "59s"


def test_since_reads_rfc3339_timestamps() -> None:
    assert since("2025-03-01T11:55:00Z", NOW) == "5m"
    assert since("2025-03-01T11:59:59.123456789Z", NOW) == "0s"


def test_since_without_a_timestamp_is_unknown() -> None:
    assert since(None, NOW) == "<unknown>"
    assert since("not a time", NOW) == "<unknown>"


def test_between_measures_two_timestamps() -> None:
    assert between("2025-03-01T10:00:00Z", "2025-03-01T10:03:10Z") == "3m10s"


def test_parse_timestamp_gives_aware_utc() -> None:
    assert parse_timestamp("2025-03-01T12:00:00Z") == NOW
