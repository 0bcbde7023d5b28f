"""The CronJob controller's pure parts: which scheduled time is due, Job names, the schedule text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubeprov.api import cron
from kubeprov.controllers.cronjob import job_name, most_recent, schedule_text

CREATED = datetime(2024, 1, 1, 10, 0, 30, tzinfo=UTC)


def cronjob(schedule: str = "*/5 * * * *", last: str | None = None, **spec: object) -> dict:
    status = {"lastScheduleTime": last} if last else {}
    return {"metadata": {"name": "c", "creationTimestamp": "2024-01-01T10:00:30Z"},
            "spec": {"schedule": schedule, **spec}, "status": status}


def test_nothing_due_before_the_first_time():
    assert most_recent(cronjob(), CREATED + timedelta(minutes=4), cron.parse("*/5 * * * *")) == (None, 0)


def test_the_due_time():
    t, missed = most_recent(cronjob(), CREATED + timedelta(minutes=5), cron.parse("*/5 * * * *"))
    assert t == datetime(2024, 1, 1, 10, 5, tzinfo=UTC) and missed == 1


def test_newest_of_several_missed_times():
    t, missed = most_recent(cronjob(), datetime(2024, 1, 1, 10, 31, tzinfo=UTC), cron.parse("*/5 * * * *"))
    assert t == datetime(2024, 1, 1, 10, 30, tzinfo=UTC) and missed == 6


def test_counts_from_the_last_schedule_time():
    cj = cronjob(last="2024-01-01T10:25:00Z")
    t, missed = most_recent(cj, datetime(2024, 1, 1, 10, 31, tzinfo=UTC), cron.parse("*/5 * * * *"))
    assert t == datetime(2024, 1, 1, 10, 30, tzinfo=UTC) and missed == 1


def test_many_missed_times_are_counted_without_listing_them():
    t, missed = most_recent(cronjob("* * * * *"), CREATED + timedelta(days=30), cron.parse("* * * * *"))
    assert missed > 100 and t == (CREATED + timedelta(days=30)).replace(second=0)


def test_starting_deadline_limits_how_far_back_to_look():
    cj = cronjob(startingDeadlineSeconds=60)
    now = datetime(2024, 1, 1, 10, 12, tzinfo=UTC)
    assert most_recent(cj, now, cron.parse("*/5 * * * *")) == (None, 0)
    t, _ = most_recent(cj, now, cron.parse("*/1 * * * *"))
    assert t == now


def test_job_name_is_minutes_since_the_epoch():
    assert job_name("backup", datetime(2024, 1, 1, tzinfo=UTC)) == f"backup-{1704067200 // 60}"


def test_time_zone_becomes_a_prefix_and_a_prefix_in_the_schedule_is_flagged():
    assert schedule_text(cronjob("0 9 * * *", timeZone="Europe/Berlin")) == ("TZ=Europe/Berlin 0 9 * * *", False)
    assert schedule_text(cronjob("CRON_TZ=UTC 0 9 * * *")) == ("CRON_TZ=UTC 0 9 * * *", True)
    assert schedule_text(cronjob("0 9 * * *")) == ("0 9 * * *", False)
