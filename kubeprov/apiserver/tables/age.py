"""kubectl-style durations (``5s``, ``3m10s``, ``2d3h``, ``45d``, ``3y20d``) and timestamp ages.

The rules follow Kubernetes' HumanDuration: about two significant figures, whole units truncated,
a small negative skew (under two seconds) reads as ``0s`` and a larger one as ``<invalid>``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NANOS_PER_SECOND = 1_000_000_000
UNKNOWN = "<unknown>"


def _nanoseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1_000


def human_duration(delta: timedelta) -> str:
    """A duration as kubectl prints it in AGE-like columns."""
    nanos = _nanoseconds(delta)
    seconds = int(nanos / NANOS_PER_SECOND)  # truncates toward zero, like Go's int(d.Seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00Z``, with or without fractions) -> aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def since(value: object, now: datetime) -> str:
    """Age of a timestamp field at ``now``; ``<unknown>`` when the field is missing or unreadable."""
    moment = parse_timestamp(value)
    if moment is None:
        return UNKNOWN
    return human_duration(now - moment)


def between(start: object, end: object) -> str:
    """Duration from ``start`` to ``end`` (both timestamps), or ``<unknown>``."""
    first, last = parse_timestamp(start), parse_timestamp(end)
    if first is None or last is None:
        return UNKNOWN
    return human_duration(last - first)
