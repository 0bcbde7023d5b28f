"""Cron schedules: parse the standard 5 fields, find the next run time, and check a schedule with the
parser's own error texts (the API server's CronJob validation and the CronJob controller share this).

The language is the one Kubernetes' parser (robfig/cron ``ParseStandard``) accepts: minute, hour,
day of month, month and day of week, each a comma list of ``*``/``?``, ``N``, ``N-M``, with an
optional ``/step`` (``N/step`` means ``N-max/step``); month and weekday names (``jan``, ``mon``);
the descriptors ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight`` and
``@hourly``. ``@every <duration>`` passes :func:`check_schedule` (the API server accepts it) but
:func:`parse` does not run it. A ``TZ=<zone>`` or ``CRON_TZ=<zone>``
prefix is honoured (the API server refuses it on new CronJobs since 1.27; ``spec.timeZone`` is the
supported way, and the controller warns about old objects still carrying it).

As in that parser, when both day of month and day of week are restricted (neither is ``*``/``?``),
a day matches when either matches; otherwise both must. Times are matched on the wall clock of
the schedule's zone: a wall time skipped by a DST jump never fires, a repeated one fires twice.
"""

from __future__ import annotations

import re
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
_DURATION = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_INT64_MAX = 2**63 - 1
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


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi`` with its error text (the API server quotes the parser's errors verbatim)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CronError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise CronError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def _must_parse_int(expr: str) -> int:
    try:
        num = _atoi(expr)
    except CronError as err:
        raise CronError(f"failed to parse int from {expr}: {err}") from None
    if num < 0:
        raise CronError(f"negative number ({num}) not allowed: {expr}")
    return num


def _int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _must_parse_int(expr)


def _range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[range, bool]:
    """One comma-separated part of a field: its values, and whether it is a bare star (``*``/``?`` with
    step 1), which matters for the day-of-month/day-of-week rule."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    star = low_and_high[0] in ("*", "?")
    if star:  # as in the parser, anything after ``*-`` is ignored
        start, end = lo, hi
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        if single:
            end = hi
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return range(start, end + 1, step), star and step == 1


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    """The values of one field and whether it was a bare star."""
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        part, part_star = _range(expr, lo, hi, names)
        values.update(part)
        star = star or part_star
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


def check_schedule(spec: str) -> None:
    """Raise :class:`CronError` with the parser's words when ``spec`` is not a schedule it accepts.

    This is what the API server validates: it also accepts ``@every <duration>``, which
    :func:`parse` (the controller's side) does not run.
    """
    zone_name, body = split_zone(spec)
    if not spec:
        raise CronError("empty spec string")
    if zone_name is not None and zone_name not in ("Local", "UTC"):
        try:
            ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise CronError(f"provided bad location {zone_name}: unknown time zone {zone_name}") from None
    if body.startswith("@every "):
        duration = body[len("@every "):]
        if not (duration == "0" or _DURATION.match(duration)):
            raise CronError(f'failed to parse duration {body}: time: invalid duration "{duration}"')
        return
    if not body.startswith("@"):
        fields = body.split()
        if len(fields) != 5:
            raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parse(body)


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
