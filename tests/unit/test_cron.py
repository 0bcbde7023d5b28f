"""The CronJob controller's schedule parser and next-time search (kubeprov/api/cron.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprov.api.cron import CronError, Schedule, check_schedule, parse, split_zone

NEW_YORK = ZoneInfo("America/New_York")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_fields_ranges_lists_and_steps():
    s = parse("0,30 9-17/4 */10 jan-mar,dec mon-fri")
    assert s.minutes == {0, 30}
    assert s.hours == {9, 13, 17}
    assert s.days == {1, 11, 21, 31}
    assert s.months == {1, 2, 3, 12}
    assert s.weekdays == {1, 2, 3, 4, 5}


def test_single_value_with_step_runs_to_the_field_maximum():
    assert parse("50/5 * * * *").minutes == {50, 55}


def test_question_mark_is_a_star():
    s = parse("0 0 ? * ?")
    assert s.days_star and s.weekdays_star and s.days == frozenset(range(1, 32))


def test_names_are_case_insensitive():
    assert parse("0 0 * JAN SUN").months == {1} and parse("0 0 * JAN SUN").weekdays == {0}


@pytest.mark.parametrize(("descriptor", "fields"), [
    ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *")])
def test_descriptors(descriptor: str, fields: str):
    assert parse(descriptor) == parse(fields)


@pytest.mark.parametrize("spec", [
    "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 7",
    "5-1 * * * *", "*/0 * * * *", "1/2/3 * * * *", "1-2-3 * * * *", "x * * * *", "-1 * * * *", "@every 5m",
    "@often", "TZ=Nowhere/Atlantis 0 * * * *"])
def test_rejected(spec: str):
    with pytest.raises(CronError):
        parse(spec)


def test_zone_prefix_is_honoured():
    assert split_zone("CRON_TZ=Europe/Berlin 0 * * * *") == ("Europe/Berlin", "0 * * * *")
    s = parse("TZ=Asia/Tokyo 0 9 * * *")
    assert s.next(at(2023, 12, 31, 12)) == at(2024, 1, 1, 0)  # 09:00 in Tokyo is 00:00 UTC


def test_next_is_strictly_after():
    s = parse("*/15 * * * *")
    assert s.next(at(2024, 1, 1, 10, 15)) == at(2024, 1, 1, 10, 30)
    assert s.next(at(2024, 1, 1, 10, 14, 59)) == at(2024, 1, 1, 10, 15)


def test_day_of_month_or_day_of_week_when_both_restricted():
    # the 13th or any Friday
    s = parse("0 0 13 * 5")
    assert s.next(at(2024, 9, 1)) == at(2024, 9, 6)  # a Friday
    assert s.next(at(2024, 9, 10)) == at(2024, 9, 13)  # the 13th, a Friday too
    assert s.next(at(2024, 10, 11)) == at(2024, 10, 13)  # the 13th, a Sunday


def test_day_of_month_and_star_weekday():
    assert parse("0 0 31 * *").next(at(2024, 4, 1)) == at(2024, 5, 31)


def test_impossible_date_has_no_next_time():
    assert parse("0 0 30 2 *").next(at(2024, 1, 1)) is None


def test_leap_day():
    assert parse("0 0 29 2 *").next(at(2024, 3, 1)) == at(2028, 2, 29)


def test_spring_forward_skips_the_missing_wall_time():
    s = parse("30 2 * * *")  # 2024-03-10 02:30 does not exist in New York
    first = s.next(at(2024, 3, 9, 12), NEW_YORK)
    assert first.astimezone(NEW_YORK).date().isoformat() == "2024-03-11"


def test_fall_back_fires_in_both_occurrences_of_the_repeated_hour():
    s = parse("30 1 * * *")
    first = s.next(at(2024, 11, 2, 12), NEW_YORK)
    second = s.next(first, NEW_YORK)
    assert second - first == timedelta(hours=1)
    assert first.astimezone(NEW_YORK).hour == second.astimezone(NEW_YORK).hour == 1


def test_times_between():
    s = parse("0 * * * *")
    assert s.times_between(at(2024, 1, 1, 0, 30), at(2024, 1, 1, 3)) == [at(2024, 1, 1, h) for h in (1, 2, 3)]
    assert len(s.times_between(at(2024, 1, 1), at(2025, 1, 1), limit=5)) == 5


# ---- properties ----------------------------------------------------------------------------

def _matches(s: Schedule, t: datetime, tz: ZoneInfo) -> bool:
    local = t.astimezone(tz)
    return (local.minute in s.minutes and local.hour in s.hours and local.month in s.months
            and s.day_matches(local.date()))


def _brute_next(s: Schedule, after: datetime, tz: ZoneInfo, horizon: timedelta) -> datetime | None:
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = after + horizon
    while t <= end:
        if _matches(s, t, tz):
            return t
        t += timedelta(minutes=1)
    return None


def _field(lo: int, hi: int) -> st.SearchStrategy[str]:
    single = st.integers(lo, hi).map(str)
    rng = st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(lambda p: f"{min(p)}-{max(p)}")
    step = st.tuples(st.sampled_from(["*", str(lo)]), st.integers(1, hi - lo + 1)).map(lambda p: f"{p[0]}/{p[1]}")
    return st.one_of(st.just("*"), single, rng, step, st.lists(single, min_size=1, max_size=3).map(",".join))


frequent = st.tuples(_field(0, 59), _field(0, 23), st.just("*"), st.just("*"), st.just("*")).map(" ".join)
instants = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC))
zones = st.sampled_from([ZoneInfo("UTC"), NEW_YORK, ZoneInfo("Europe/Berlin"), ZoneInfo("Australia/Lord_Howe")])


@settings(max_examples=60, deadline=None)
@given(frequent, instants, zones)
def test_next_equals_minute_by_minute_search(spec: str, after: datetime, tz: ZoneInfo):
    s = parse(spec)
    assert s.next(after, tz) == _brute_next(s, after, tz, timedelta(hours=50))


@settings(max_examples=60, deadline=None)
@given(st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)).map(" ".join), instants,
       zones)
def test_next_is_a_later_matching_minute(spec: str, after: datetime, tz: ZoneInfo):
    s = parse(spec)
    t = s.next(after, tz)
    if t is not None:
        assert t > after and t.second == 0 and _matches(s, t, tz)
        # nothing matches in between (checked over the first two days)
        assert _brute_next(s, after, tz, min(t - after, timedelta(days=2))) in (t, None)


def test_the_controller_and_validation_read_the_same_language() -> None:
    # the parser ignores what follows "*-", and words its integer errors like Go's strconv
    assert parse("*-5 * * * *").minutes == frozenset(range(60))
    with pytest.raises(CronError, match=r'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'):
        parse("x * * * *")
    check_schedule("@every 5m")  # validation accepts it; the controller does not run it
    with pytest.raises(CronError, match="unrecognized descriptor"):
        parse("@every 5m")
