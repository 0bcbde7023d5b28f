"""CronJob schedule and time zone checks for validation, in the words of Kubernetes' parser
(the parser itself is kubeprov.api.cron, shared with the CronJob controller)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubeprov.api.cron import CronError, check_schedule


def schedule_error(spec: str) -> str:
    """The parser's complaint about ``spec``, or ``""`` when it is a valid schedule."""
    try:
        check_schedule(spec)
    except CronError as err:
        return str(err)
    return ""


_TZ_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


def time_zone_error(zone: str) -> str:
    """Why ``zone`` is not an IANA time zone name the CronJob controller can load."""
    if not zone:
        return "timeZone must be nil or non-empty string"
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_PART.match(part):
            return f"unknown time zone {zone}"
    if zone.lower() == "local":
        return "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
    if zone == "UTC":
        return ""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {zone}"
    return ""
