"""Cron schedules for the CronJob controller: parse the standard 5 fields and find the next run time.

The language is the one Kubernetes' parser (robfig/cron ``ParseStandard``) accepts: minute, hour,
day of month, month and day of week, each a comma list of ``*``/``?``, ``N``, ``N-M``, with an
optional ``/step`` (``N/step`` means ``N-max/step``); month and weekday names (``jan``, ``mon``);
the descriptors ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight`` and
``@hourly``. ``@every <duration>`` is not supported here. A ``TZ=<zone>`` or ``CRON_TZ=<zone>``
prefix is honoured (the API server refuses it on new CronJobs since 1.27; ``spec.timeZone`` is the
supported way, and the controller warns about old objects still carrying it).

As in that parser, when both day of month and day of week are restricted (neither is ``*``/``?``),
a day matches when either matches; otherwise both must. Times are matched on the wall clock of
the schedule's zone: a wall time skipped by a DST jump never fires, a repeated one fires twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (min, max, names) for minute, hour, day of month, month, day of week
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
# the parser gives up looking for a next time after this many years (robfig: 5)
SEARCH_YEARS = 5
_MAX_SHIFT_HOURS = 3


class CronError(ValueError):
    """A schedule the parser rejects."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field and the zone it runs in."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool
    weekdays_star: bool
    zone: ZoneInfo | None = None  # None: the zone given to next() (UTC by default)

    def day_matches(self, day: date) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime, zone: ZoneInfo | None = None) -> datetime | None:
        """The first run time strictly after ``after`` (aware), in UTC; None within SEARCH_YEARS."""
        tz = self.zone or zone or ZoneInfo("UTC")
        after_utc = after.astimezone(UTC)
        after_local = after_utc.astimezone(tz)
        start = after_local.date() - timedelta(days=1)
        for offset in range(366 * SEARCH_YEARS + 2):
            day = start + timedelta(days=offset)
            if day.month not in self.months or not self.day_matches(day):
                continue
            # wall times well before ``after`` cannot be after it (DST moves clocks by at most 2 hours)
            if day < after_local.date():
                from_hour = 21
            elif day == after_local.date():
                from_hour = max(0, after_local.hour - _MAX_SHIFT_HOURS)
            else:
                from_hour = 0
            found = [t for t in (self._first_after(day, tz, fold, from_hour, after_utc) for fold in (0, 1))
                     if t is not None]
            if found:
                return min(found)
        return None

    def _first_after(self, day: date, tz: ZoneInfo, fold: int, from_hour: int, after: datetime) -> datetime | None:
        """The first instant after ``after`` whose wall clock in ``tz`` is a matching time of ``day``, reading
        repeated wall times as their ``fold`` occurrence (for one fold, wall order is instant order); times
        a DST jump skips do not exist and are passed over."""
        for hour in sorted(h for h in self.hours if h >= from_hour):
            for minute in sorted(self.minutes):
                local = datetime(day.year, day.month, day.day, hour, minute, fold=fold, tzinfo=tz)
                instant = local.astimezone(UTC)
                if instant <= after:
                    continue
                back = instant.astimezone(tz)
                if (back.date(), back.hour, back.minute) == (day, hour, minute):
                    return instant
        return None

    def times_between(self, after: datetime, until: datetime, limit: int = 1000) -> list[datetime]:
        """Run times in (after, until], at most ``limit`` of them (the earliest)."""
        out: list[datetime] = []
        t = self.next(after)
        while t is not None and t <= until and len(out) < limit:
            out.append(t)
            t = self.next(t)
        return out


def _int(text: str, what: str) -> int:
    if not text.isdigit():
        raise CronError(f"failed to parse int from {what}: {text!r} is not a number")
    return int(text)


def _value(text: str, names: dict[str, int] | None, expr: str) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    return _int(text, expr)


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    """The values of one field and whether it was a bare ``*``/``?`` (a star, for the day rule)."""
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        range_and_step = expr.split("/")
        if len(range_and_step) > 2:
            raise CronError(f"too many slashes: {expr}")
        low_high = range_and_step[0].split("-")
        if len(low_high) > 2:
            raise CronError(f"too many hyphens: {expr}")
        is_star = low_high[0] in ("*", "?") and len(low_high) == 1
        if is_star:
            start, end = lo, hi
        elif low_high[0] in ("*", "?"):
            raise CronError(f"failed to parse int from {expr}")
        else:
            start = _value(low_high[0], names, expr)
            end = _value(low_high[1], names, expr) if len(low_high) == 2 else start
        step = 1
        if len(range_and_step) == 2:
            step = _int(range_and_step[1], expr)
            if len(low_high) == 1 and not is_star:
                end = hi
        if start < lo:
            raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
        if end > hi:
            raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
        if step == 0:
            raise CronError(f"step of range should be a positive number: {expr}")
        values.update(range(start, end + 1, step))
        star = star or (is_star and step == 1)
    return frozenset(values), star


def split_zone(spec: str) -> tuple[str | None, str]:
    """``"CRON_TZ=Europe/Berlin 0 * * * *"`` -> ("Europe/Berlin", "0 * * * *"); no prefix -> (None, spec)."""
    spec = spec.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, rest = spec.partition(" ")
        return head.split("=", 1)[1], rest.strip()
    return None, spec


def load_zone(name: str) -> ZoneInfo:
    """A zone by IANA name (``""``/``UTC``/``Local`` are UTC here: the controller runs in UTC)."""
    if name in ("", "UTC", "Local"):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"unknown time zone {name}") from None


def parse(spec: str) -> Schedule:
    """Parse a schedule (see the module docstring); raise :class:`CronError` when it is not valid."""
    zone_name, body = split_zone(spec)
    zone = load_zone(zone_name) if zone_name is not None else None
    if not body:
        raise CronError("empty spec string")
    if body.startswith("@"):
        if body not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {body}")
        body = _DESCRIPTORS[body]
    fields = body.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(text, lo, hi, names) for text, (lo, hi, names) in zip(fields, _BOUNDS, strict=True)]
    return Schedule(minutes=parsed[0][0], hours=parsed[1][0], days=parsed[2][0], months=parsed[3][0],
                    weekdays=parsed[4][0], days_star=parsed[2][1], weekdays_star=parsed[4][1], zone=zone)
