"""Cron schedule checking with the error texts of the parser Kubernetes uses (standard 5 fields).

Only validation is needed here (the CronJob controller does the scheduling), so this answers
"what would ``cron.ParseStandard`` say about this string" and nothing more.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {
    m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (min, max, names) for minute, hour, day of month, month, day of week
_FIELDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_DURATION = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_INT64_MAX = 2**63 - 1


class CronError(ValueError):
    """A schedule the parser rejects; the message is the parser's."""


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi`` with its error text."""
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


def _check_range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
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


def check_schedule(spec: str) -> None:
    """Raise :class:`CronError` when ``cron.ParseStandard(spec)`` would fail."""
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        eq = spec.find("=")
        location = spec[eq + 1 : space] if space >= 0 else spec[eq + 1 :]
        try:
            if location != "Local" and location != "UTC":
                ZoneInfo(location)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise CronError(f"provided bad location {location}: unknown time zone {location}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return
        if spec.startswith("@every "):
            duration = spec[len("@every ") :]
            if not (duration == "0" or _DURATION.match(duration)):
                raise CronError(f'failed to parse duration {spec}: time: invalid duration "{duration}"')
            return
        raise CronError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, (lo, hi, names) in zip(fields, _FIELDS, strict=True):
        for expr in text.split(","):
            _check_range(expr, lo, hi, names)


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
